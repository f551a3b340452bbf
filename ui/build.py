"""The Build page's pieces: a picker over every dataset (CSV upload included) and a layer-stack editor.

The stack being edited lives in `st.session_state[LAYERS_KEY]` as layer dicts with a stable `id` (widget
keys use it, so moving or removing a layer moves its widgets' values with it). It is kept as typed, even
while invalid; only a valid stack becomes the main spec that the Train page trains.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

from playground import DataError, DataSpec, ExperimentSpec, SpecError, TrainSpec
from playground.data import DATASETS, TOY_FEATURES, load_dataset
from playground.data.images import image_cache_status
from playground.data.tabular import MAX_CSV_BYTES, read_csv_bytes, shared_csv_dir
from playground.layers import LAYERS
from playground.model import Network
from playground.registry import CLASSIFICATION_ONLY_LOSSES, DEFAULT_LOSS
from playground.spec import LayerSpec, ModelSpec

from . import session
from .controls import INIT_FIELD, LAYER_FIELDS, Field, field_input, show_problem

SLOT = session.MAIN
LAYERS_KEY = f"{SLOT}:layers"
DATA_FIELDS = {
    "name": Field("Dataset", "select", tuple(DATASETS)),
    "test_fraction": Field("Test fraction", "float", step=0.05, help="share held out for testing"),
    "features": Field("Input features", "multi", tuple(TOY_FEATURES)),
    "noise": Field("Noise", "float", step=0.05),
    "n_samples": Field("Points", "int"),
    "max_samples": Field("Training images (0 = all)", "int"),
    "target": Field("Target column", "select"),
}


def _data_field(name: str, value, **kwargs):
    return field_input(f"{SLOT}:data.{name}", DATA_FIELDS[name], value, **kwargs)


def data_controls(spec: DataSpec) -> DataSpec:
    """Dataset and its settings (toy: features, noise, points; images: how many; csv: file and target)."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        name = _data_field("name", spec.name, format_func=lambda n: f"{n} — {DATASETS[n].doc}", width=380)
        kind = DATASETS[name].kind
        values = {"name": name, "test_fraction": _data_field("test_fraction", spec.test_fraction, width=140)}
        if kind in ("toy", "drawn"):
            values["features"] = tuple(_data_field("features", list(spec.features), width=320))
        if kind == "toy":
            values["noise"] = _data_field("noise", spec.noise, width=120)
            values["n_samples"] = _data_field("n_samples", spec.n_samples, width=140)
        elif kind == "drawn":
            st.caption(f"{len(spec.points or ()):,} drawn points: draw them on the Playground's map, or load an "
                       "experiment that has them (Share)")
        elif kind == "image":
            values["max_samples"] = _data_field("max_samples", spec.max_samples or 0, width=200) or None
        else:
            values.update(csv_controls(spec))
    data = replace(spec, **values)
    try:
        data.validate()
    except SpecError as e:
        name = e.field.removeprefix("data.").split("[")[0]
        if name != "path":  # no file yet: the uploader says what to do
            show_problem(e, DATA_FIELDS, name)
    return data


def save_upload(data: bytes, folder: Path) -> Path:
    """Write uploaded CSV bytes to `folder` under a name from their hash; older uploads there are removed."""
    if len(data) > MAX_CSV_BYTES:
        raise DataError(f"the file is {len(data) / 2**20:.1f} MB; the limit is {MAX_CSV_BYTES / 2**20:.0f} MB")
    path = folder / f"{hashlib.sha256(data).hexdigest()[:16]}.csv"
    if not path.is_file():
        for old in folder.glob("*.csv"):
            old.unlink()
        path.write_bytes(data)
    return path


@st.cache_data(max_entries=16, show_spinner=False)
def csv_columns(path: str) -> list[str]:
    """Column names of a saved upload (its name is its content's hash, so the cache cannot go stale)."""
    return [str(c) for c in read_csv_bytes(Path(path).read_bytes(), source="the uploaded CSV").columns]


def _saved_path(upload) -> str | None:
    """Where this session saved `upload` (saved once per uploaded file), or None after showing why not."""
    saved = st.session_state.get("build_csv_saved")
    if saved is None or saved[0] != upload.file_id:
        try:
            saved = (upload.file_id, str(save_upload(upload.getvalue(), session.upload_dir())))
        except DataError as e:
            st.error(str(e))
            return None
        st.session_state.build_csv_saved = saved
    return saved[1]


def _shared_table(spec: DataSpec) -> str | None:
    """A pick among the tables the operator shares (shared_csv_dir), if there are any; None: none picked."""
    folder = shared_csv_dir()
    tables = sorted(p.name for p in folder.glob("*.csv")) if folder.is_dir() else []
    if not tables:
        return None
    current = Path(spec.path).name if spec.path and Path(spec.path).parent == folder else "—"
    name = field_input(f"{SLOT}:data.shared_table", Field("Or a table from the server", "select",
                                                          ("—", *tables)), current, width=240)
    return None if name == "—" else str(folder / name)


def csv_controls(spec: DataSpec) -> dict:
    """Upload a CSV (saved in the session's own folder) or pick a shared one, and the column to predict.

    Only files in session.csv_folders() are ever read: a path that came from elsewhere is not opened."""
    upload = st.file_uploader("CSV file: numeric feature columns and one target column", type=["csv"],
                              key="build_csv_upload", max_upload_size=MAX_CSV_BYTES // 2**20, width=420)
    path = _shared_table(spec) or spec.path
    if upload is not None:
        path = _saved_path(upload) or path
    try:
        replace(spec, path=path).check_path_under(session.csv_folders())
    except SpecError:
        path = None
    if not path or not Path(path).is_file():
        st.info("Upload a CSV file to train on your own table.")
        return {"path": None, "target": None}
    try:
        columns = csv_columns(path)
    except DataError as e:
        st.error(str(e))
        return {"path": path, "target": None}
    target = field_input(f"{SLOT}:data.target", Field("Target column (what to predict)", "select", tuple(columns)),
                         spec.target if spec.target in columns else columns[-1], width=240)
    return {"path": path, "target": target}


@st.cache_data(ttl=60, max_entries=64, show_spinner="Loading the data…")
def data_info(data: DataSpec, seed: int) -> dict:
    """Input shape, output units and task of a dataset, or the DataError's message (cached briefly)."""
    try:
        ds = load_dataset(data, seed)
    except DataError as e:
        return {"error": str(e)}
    return {"input_shape": ds.input_shape, "n_outputs": ds.n_outputs, "task": ds.task,
            "n_train": len(ds.x_train), "n_test": len(ds.x_test)}


def needs_download(name: str) -> str | None:
    """What a first load of an image set would download, or None if it is ready offline."""
    if DATASETS[name].kind != "image":
        return None
    status = image_cache_status().get(name, "")
    return status if status.startswith("needs download") else None


def _next_id(layers: list[dict]) -> int:
    return max((layer["id"] for layer in layers), default=-1) + 1


def layer_stack(spec: ModelSpec) -> list[dict]:
    """The stack being edited, started from `spec` on first use."""
    if LAYERS_KEY not in st.session_state:
        st.session_state[LAYERS_KEY] = [{"id": i, **layer.to_dict()} for i, layer in enumerate(spec.layers)]
    return st.session_state[LAYERS_KEY]


def _move(index: int, by: int) -> None:
    layers = st.session_state[LAYERS_KEY]
    layers[index], layers[index + by] = layers[index + by], layers[index]


def _remove(index: int) -> None:
    del st.session_state[LAYERS_KEY][index]


def _add() -> None:
    layers = st.session_state[LAYERS_KEY]
    kind = st.session_state["build_add_type"]
    layers.append({"id": _next_id(layers), "type": kind, **LAYERS[kind].params})


def init_control(spec: ModelSpec) -> str:
    """The weights' initialisation (registry.INITS)."""
    return field_input(f"{SLOT}:model.init", INIT_FIELD, spec.init, width=260)


def layer_editor(spec: ModelSpec) -> list[dict]:
    """One row per layer (its parameters, move up/down, remove) and an Add row; returns the layer dicts. A lesson
    may hide the stack (not drawn) or lock it (drawn, unchangeable)."""
    layers = layer_stack(spec)
    if session.restricted("model.layers", "hide"):
        return [{k: v for k, v in layer.items() if k != "id"} for layer in layers]
    locked = session.restricted("model.layers", "lock")
    for index, layer in enumerate(layers):
        kind, key = LAYERS[layer["type"]], f"build_{layer['id']}"
        with st.container(border=True, horizontal=True, vertical_alignment="bottom"):
            st.markdown(f"**{index}** · `{layer['type']}`", help=kind.doc, width=150)
            for param in kind.params:
                layer[param] = field_input(f"{SLOT}:layer{layer['id']}.{param}", LAYER_FIELDS[param], layer[param],
                                           width=120, disabled=locked)
            st.space("stretch")
            st.button("↑", key=f"{key}_up", on_click=_move, args=(index, -1), disabled=locked or index == 0,
                      help="move up")
            st.button("↓", key=f"{key}_down", on_click=_move, args=(index, 1),
                      disabled=locked or index == len(layers) - 1, help="move down")
            st.button("✕", key=f"{key}_remove", on_click=_remove, args=(index,), disabled=locked,
                      help="remove this layer")
        try:
            LayerSpec.from_dict({k: v for k, v in layer.items() if k != "id"}, f"layer {index}")
        except SpecError as e:
            show_problem(e, LAYER_FIELDS, e.field.rsplit(".", 1)[-1], where=f"Layer {index}")
    columns = st.columns([2, 1, 3], vertical_alignment="bottom")
    columns[0].selectbox("Layer type", tuple(LAYERS), key="build_add_type",
                         format_func=lambda k: f"{k} — {LAYERS[k].doc}")
    columns[1].button("Add layer", key="build_add", on_click=_add,
                      disabled=locked or len(layers) >= ModelSpec.MAX_LAYERS)
    return [{k: v for k, v in layer.items() if k != "id"} for layer in layers]


def fit_loss(train: TrainSpec, task: str) -> TrainSpec:
    """Keep the loss if it suits the task, else the task's usual one (a regression set cannot use bce)."""
    if (task == "regression" and train.loss in CLASSIFICATION_ONLY_LOSSES) or (task == "multiclass" and
                                                                                train.loss == "bce"):
        return replace(train, loss=DEFAULT_LOSS[task])
    return train


def summary_frame(spec: ExperimentSpec, info: dict) -> pd.DataFrame:
    """Network.summary() of the spec's model for the data described by `info` (raises SpecError)."""
    return Network(spec.model, info["input_shape"], info["n_outputs"]).summary()
