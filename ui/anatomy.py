"""The Playground's step-by-step mode: one batch's training step, one phase a click, on the network diagram.

1 the forward pass (each unit's value for one sample of the batch, written on the diagram), 2 the loss (the
batch's outputs against their targets), 3 every weight's gradient (the links drawn by it), 4 the update (the
step is taken: the links drawn by how far each weight moved). The numbers come from playground.anatomy,
read from the run between steps; the step itself is the run's own, so the history is the same as Step's.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import streamlit as st

from playground import Run, Snapshot
from playground.anatomy import StepAnatomy, preview_step, update_of
from playground.charts import link_name, network_diagram
from playground.plane import ToyPoints

from . import session

MODE_KEY, VIEW_KEY, SAMPLE_KEY = "pg_anatomy", "pg_anatomy_view", "pg_anatomy_sample"
PHASES = ("the forward pass", "the loss", "the gradients", "the update")


@dataclass(frozen=True)
class AnatomyView:
    run_id: int
    phase: int                          # index into PHASES
    record: StepAnatomy
    update: tuple[list[np.ndarray], list[np.ndarray]] | None = None   # weight and bias changes, once taken


def mode_toggle(slot: str) -> None:
    st.toggle("Step by step", key=MODE_KEY, on_change=_pause, args=(slot,),
              help="look inside one training step: the forward pass, the loss, the gradients, the update")


def _pause(slot: str) -> None:
    run = session.current_run(slot)
    if run is not None:
        run.pause()
    st.session_state.pop(VIEW_KEY, None)


def active(snap: Snapshot) -> bool:
    return bool(st.session_state.get(MODE_KEY)) and snap.state != "running" and not snap.done


def current_view(run: Run) -> AnatomyView | None:
    """The phase shown for `run`, None before the first click (or once the run was replaced)."""
    if st.session_state.pop("pg_anatomy_rerun", False):
        st.rerun(scope="app")   # the step was taken: the epoch, the map and the curve show it
    view = st.session_state.get(VIEW_KEY)
    return view if view is not None and view.run_id == id(run) else None


def figure(view: AnatomyView, data: ToyPoints, maps: dict, height: int):
    """The diagram of the phase: the unit values of the sample chosen, or links by gradient, or by change."""
    r = view.record
    kwargs = dict(maps=maps, input_names=data.feature_names, output_range=data.output_range, height=height)
    if view.phase in (0, 1):
        sample = min(st.session_state.get(SAMPLE_KEY, 1), len(r.targets)) - 1
        return network_diagram(r.weights, node_values=[v[sample] for v in r.values], biases=r.biases, **kwargs)
    if view.phase == 2:
        return network_diagram(r.weights, links=("gradient", r.weight_grads), biases=r.biases, **kwargs)
    weights_change, biases_change = view.update
    return network_diagram([w + d for w, d in zip(r.weights, weights_change)], links=("change", weights_change),
                           biases=[b + d for b, d in zip(r.biases, biases_change)], **kwargs)


def controls(view: AnatomyView | None, run: Run, data: ToyPoints, slot: str) -> None:
    """What the phase computed, in numbers, and the button to the next phase."""
    if view is None:
        st.caption("Step by step: each click shows one phase of the next training step on the diagram.")
    else:
        _explain(view, run, data)
    if view is not None and view.phase == 0:
        st.slider("Sample of the batch", 1, len(view.record.targets), key=SAMPLE_KEY)
    following = PHASES[0] if view is None or view.phase == len(PHASES) - 1 else PHASES[view.phase + 1]
    st.button(f"Next: {following}", key="pg_anatomy_next", on_click=_next, args=(slot,), type="primary",
              icon=":material/arrow_forward:")


def _explain(view: AnatomyView, run: Run, data: ToyPoints) -> None:
    r, train = view.record, run.spec.train
    n = len(r.targets)
    if view.phase == 0:
        sample = min(st.session_state.get(SAMPLE_KEY, 1), n) - 1
        inputs = ", ".join(f"{name} = {v:.3g}" for name, v in zip(data.feature_names, r.inputs[sample]))
        st.markdown(f"**1 · Forward pass** of step {r.step:,}: sample {sample + 1} of the batch of {n}: "
                    f"{inputs} → output **{r.outputs[sample]:.3g}** (target {_target(r.targets[sample])}). "
                    "Each unit's value is written under it.")
    elif view.phase == 1:
        penalty = (f" + the {train.regularization.upper()} penalty = **{r.objective:.4g}**, what the step "
                   "minimises" if r.objective != r.loss else "")
        st.markdown(f"**2 · Loss**: {train.loss} of the {n} outputs against their targets, averaged: "
                    f"**{r.loss:.4g}**{penalty}.")
        st.dataframe(pd.DataFrame({**{name: r.inputs[:, i] for i, name in enumerate(data.feature_names)},
                                   "output": r.outputs, "target": r.targets}), height=180, hide_index=True)
    elif view.phase == 2:
        where, value = _largest(r.weight_grads)
        st.markdown(f"**3 · Gradients**: how the {'objective' if r.objective != r.loss else 'loss'} changes with "
                    "each weight (a link's colour is the sign, its width the size). Largest: "
                    f"{link_name(r.weights, data.feature_names, *where)}, **{value:.4g}**.")
    else:
        where, value = _largest(view.update[0])
        layer, unit, source = where
        rule = (f"w ← w − {train.lr:g} × gradient" if train.optimizer == "sgd" and not train.momentum
                else f"{train.optimizer} with learning rate {train.lr:g}")
        st.markdown(f"**4 · Update** ({rule}): the step is taken. Largest change: "
                    f"{link_name(r.weights, data.feature_names, *where)}, {r.weights[layer][unit, source]:.4g} → "
                    f"**{r.weights[layer][unit, source] + value:.4g}**.")


def _target(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def _largest(matrices: list[np.ndarray]) -> tuple[tuple[int, int, int], float]:
    """(layer, unit, source) and value of the entry largest in size across the layers' matrices."""
    layer = max(range(len(matrices)), key=lambda k: np.abs(matrices[k]).max())
    unit, source = np.unravel_index(np.abs(matrices[layer]).argmax(), matrices[layer].shape)
    return (layer, int(unit), int(source)), float(matrices[layer][unit, source])


def _next(slot: str) -> None:
    run = session.current_run(slot)
    if run is None:
        return
    view = st.session_state.get(VIEW_KEY)
    if view is None or view.run_id != id(run) or view.phase == len(PHASES) - 1:
        run.pause()
        st.session_state[VIEW_KEY] = AnatomyView(id(run), 0, run.read(preview_step))
    elif view.phase == len(PHASES) - 2:
        run.step(1)
        st.session_state[VIEW_KEY] = replace(view, phase=view.phase + 1, update=run.read(update_of, view.record))
        st.session_state["pg_anatomy_rerun"] = True
    else:
        st.session_state[VIEW_KEY] = replace(view, phase=view.phase + 1)
