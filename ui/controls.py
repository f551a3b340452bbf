"""Widgets generated from the engine's registries and spec fields: one table row per setting.

A widget's key is its slot and its spec path (`"main:train.lr"`), its first value comes from the spec,
and a page turns the values back into a spec. Values live in `st.session_state` under those keys, so
they survive reruns; a page switch drops them and they come back from the stored spec.

Number boxes take any number: the spec's validation (its ranges are registry.RANGES) says what is wrong,
in a message under the box (`show_problem`), instead of the box silently refusing what was typed.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import streamlit as st

from playground import SpecError, TrainSpec, registry
from playground.spec import check_seed

from . import session


@dataclass(frozen=True)
class Field:
    """How one setting is edited: label, widget kind and its range or options."""
    label: str
    kind: str       # "select", "radio", "multi", "steps" (select_slider), "slider", "int", "float", "check"
    options: Sequence[Any] = ()      # select, steps
    lo: float | None = None          # slider; int: only where the page offers less than the spec allows
    hi: float | None = None
    step: float | None = None
    help: str = ""


INIT_FIELD = Field("Weight initialization", "select", tuple(registry.INITS),
                   help="How the weights start: PyTorch's default per layer, zeros (nothing breaks the symmetry "
                        "between units: watch Inspect), Xavier/Glorot, He (for ReLU), or a small normal")

TRAIN_FIELDS: dict[str, Field] = {
    "loss": Field("Loss", "select", registry.LOSSES),
    "optimizer": Field("Optimizer", "select", tuple(registry.OPTIMIZERS)),
    "lr": Field("Learning rate", "float", step=0.001),
    "momentum": Field("Momentum", "float", step=0.05),
    "nesterov": Field("Nesterov momentum", "check", help="needs momentum > 0"),
    "schedule": Field("LR schedule", "select", tuple(registry.SCHEDULES), help="stepped once per epoch"),
    "lr_step_size": Field("Epochs between decays", "int"),
    "lr_gamma": Field("Decay factor", "float", step=0.05),
    "regularization": Field("Regularization", "select", registry.REGULARIZATIONS, help="penalty added to the loss"),
    "reg_rate": Field("Regularization rate", "float", step=0.001),
    "weight_decay": Field("Weight decay", "float", step=0.0001),
    "batch_size": Field("Batch size", "int"),
    "epochs": Field("Epochs", "int"),
    "early_stopping_patience": Field("Early stopping patience", "int",
                                     help="stop after this many epochs without a better test loss; 0 = off"),
    "device": Field("Device", "select", registry.DEVICES, help="auto picks cuda, then mps, then cpu"),
    "telemetry_every": Field("Telemetry every N steps", "int",
                             help="weight/gradient/activation samples for Inspect; 0 = off"),
    "num_threads": Field("CPU threads", "int", help="torch threads for this run; the exported script uses the same"),
}
SEED_FIELD = Field("Seed", "int", help="data split, initial weights and batch order")

LAYER_FIELDS: dict[str, Field] = {
    "units": Field("Units", "int"),
    "activation": Field("Activation", "select", tuple(registry.ACTIVATIONS)),
    "filters": Field("Filters", "int"),
    "kernel_size": Field("Kernel", "int"),
    "stride": Field("Stride", "int"),
    "padding": Field("Padding", "int"),
    "rate": Field("Rate", "float", step=0.05),
}


def nearest(options: Sequence[float], value: float) -> float:
    """The option closest to `value` (a spec loaded from a file may hold a value no slider offers)."""
    return min(options, key=lambda o: abs(o - value))


def _seed_value(field: Field, value: Any) -> Any:
    if field.kind in ("int", "slider", "float"):
        if field.lo is not None:  # a loaded spec may hold a value outside the widget's range
            value = min(max(value, field.lo), field.hi)
        return float(value) if field.kind == "float" else int(value)
    if field.kind == "steps":
        return nearest(field.options, value)
    if field.kind in ("select", "radio") and value not in field.options:
        return field.options[0]
    if field.kind == "multi":
        return [v for v in value if v in field.options]
    return value


def field_input(key: str, field: Field, value: Any, **kwargs) -> Any:
    """Draw the widget for `field` under `key`, starting at `value` the first time; return its value. A lesson
    may hide the setting (`value` is returned, nothing drawn) or lock it (drawn, disabled): the setting's name
    is the key's part after the slot."""
    setting = key.split(":", 1)[-1]
    if session.restricted(setting, "hide"):
        return value
    if session.restricted(setting, "lock"):
        kwargs["disabled"] = True
    if field.kind in ("select", "radio") and st.session_state.get(key, field.options[0]) not in field.options:
        del st.session_state[key]  # the options changed under it (another CSV's columns): start from `value`
    if key not in st.session_state:
        st.session_state[key] = _seed_value(field, value)
    common = dict(key=key, help=field.help or None, **kwargs)
    if field.kind == "select":
        return st.selectbox(field.label, field.options, **common)
    if field.kind == "radio":
        return st.radio(field.label, field.options, **common)
    if field.kind == "multi":
        return st.multiselect(field.label, field.options, **common)
    if field.kind == "steps":
        return st.select_slider(field.label, field.options, format_func=lambda v: f"{v:g}", **common)
    if field.kind == "check":
        return st.checkbox(field.label, **common)
    if field.kind == "slider":
        return st.slider(field.label, min_value=int(field.lo), max_value=int(field.hi), step=int(field.step or 1),
                         **common)
    if field.kind == "int":
        bounds = {} if field.lo is None else {"min_value": int(field.lo), "max_value": int(field.hi)}
        return st.number_input(field.label, step=1, **bounds, **common)
    return st.number_input(field.label, step=field.step, format="%g", **common)


def show_problem(e: SpecError, fields: dict[str, Field], name: str, where: str = "") -> None:
    """A validation error in the user's words, under the control it is about: "**Units** must be ...". The
    control is `fields[name]` (its label), or the error's field path where the table has no such control."""
    label = fields[name].label if name in fields else e.field
    st.error(f"**{where + ' · ' if where else ''}{label}** {e.reason}.")


TRAIN_GROUPS = (("Objective", ("loss", "optimizer", "lr", "momentum", "nesterov", "schedule", "lr_step_size",
                               "lr_gamma")),
                ("Regularization", ("regularization", "reg_rate", "weight_decay", "early_stopping_patience")),
                ("Run", ("batch_size", "epochs", "device", "telemetry_every", "num_threads")))


def train_controls(defaults: TrainSpec, seed: int, slot: str) -> tuple[TrainSpec, int, bool]:
    """All training settings by group, two to a row, generated from TRAIN_FIELDS.

    Returns (train spec, seed, valid); when not valid, the problem is shown under its control.
    """
    values = {f.name: getattr(defaults, f.name) for f in fields(TrainSpec)}
    if values["early_stopping_patience"] is None:
        values["early_stopping_patience"] = 0
    notes = {}
    for title, names in TRAIN_GROUPS:
        st.markdown(f"**{title}**")
        shown = [name for name in names if registry.applies(name, TrainSpec(**values))]  # the rest keep their value
        columns = st.columns(2)
        for i, name in enumerate(shown):
            with columns[i % 2]:
                values[name] = field_input(f"{slot}:train.{name}", TRAIN_FIELDS[name], values[name])
                notes[name] = st.empty()
        if title == "Run":
            with columns[len(shown) % 2]:
                seed = field_input(f"{slot}:seed", SEED_FIELD, seed)
                notes["seed"] = st.empty()
    values["early_stopping_patience"] = values["early_stopping_patience"] or None
    values["nesterov"] = values["nesterov"] and registry.applies("nesterov", TrainSpec(**values))
    train = replace(defaults, **values)
    try:
        train.validate()
        check_seed(seed)
    except SpecError as e:
        name = e.field.removeprefix("train.")
        with notes.get(name) or st.container():
            show_problem(e, {**TRAIN_FIELDS, "seed": SEED_FIELD}, name)
        return train, seed, False
    return train, seed, True
