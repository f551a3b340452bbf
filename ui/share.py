"""Sharing an experiment: JSON download/upload, a share link in the URL, exported code, checkpoints.

The address bar always holds the current experiment (`?exp=<base64url of compressed JSON>`), as in
TensorFlow Playground, so copying the URL shares it; a session opened from such a URL starts from it.
Uploads are size-bounded, never run code, and a bad one leaves the current experiment untouched. A spec
that arrives from outside (link, JSON upload, checkpoint) may not name a file on the server: it is checked
by `session.check_outside_spec` (in `load_spec`, and for a checkpoint before its data is loaded) before
anything it names is opened.
"""
from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import streamlit as st

from playground import DataError, ExperimentSpec, Run, SpecError
from playground.checkpoint import MAX_CHECKPOINT_BYTES, CheckpointError, checkpoint_bytes, load_checkpoint_bytes
from playground.data import Dataset
from playground.export import export_notebook, export_script
from playground.spec import MAX_SPEC_BYTES
from playground.workers import WorkerGone
from ui.session import MAIN, adopt_run, check_outside_spec, current_run, get_spec, load_spec

SHARE_PARAM = "exp"
MAX_LINK_CHARS = 16_000     # far above a real experiment's ~600, far below what a browser chokes on
BROKEN_LINK = "the share link is damaged (it may have been cut off when copied); copy the whole address again"


def encode_spec(spec: ExperimentSpec) -> str:
    """Spec -> URL-safe token: compact JSON, zlib-compressed, base64url without padding."""
    return encode_json(spec.to_dict())


def encode_json(d: dict) -> str:
    """A JSON document -> URL-safe token (an experiment's, a lesson's)."""
    compact = json.dumps(d, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(compact, 9)).decode().rstrip("=")


def decode_spec(token: str) -> ExperimentSpec:
    """URL token -> validated spec. Raises SpecError naming the field, or `experiment` for a broken token."""
    return ExperimentSpec.from_json(inflate(token))


def inflate(token: str, what: str = "experiment") -> str:
    """A token's JSON text, its size bounded before and after inflating. Raises SpecError naming `what`."""
    if len(token) > MAX_LINK_CHARS:
        raise SpecError(what, f"the link holds {len(token)} characters; at most {MAX_LINK_CHARS}")
    try:
        packed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, MAX_SPEC_BYTES + 1)  # bounded: a tiny token cannot inflate to GBs
        if len(raw) > MAX_SPEC_BYTES or not inflater.eof:
            raise ValueError("truncated or oversized")
        return raw.decode("utf-8")
    except (zlib.error, ValueError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise SpecError(what, BROKEN_LINK) from None


@contextmanager
def shared_experiment(slot: str | None) -> Iterator[None]:
    """Around a page run: load the link's experiment into `slot` before, the Share sidebar after (so it
    shares what the page has just set). No slot: a page that edits no experiment (Inspect, Compare)."""
    if slot:
        apply_share_link(slot)
    yield
    if slot:
        share_controls(slot)


def apply_share_link(slot: str = MAIN) -> None:
    """Load the experiment in `?exp=` into `slot` when the session opens; a bad link warns, changes nothing.

    Only the session's first page run reads the address bar: a later run may carry a token this session
    wrote itself a moment before (quick clicks race the address bar's update), and loading it would undo
    the user's newest settings. Opening or pasting a link starts a new session, so it is always read.
    Call in app.py before the page runs, so the page's widgets start from the loaded experiment.
    """
    if st.session_state.get("_share_link_read"):
        return
    st.session_state["_share_link_read"] = True
    token = st.query_params.get(SHARE_PARAM)
    if token is None:
        return
    try:
        load_spec(decode_spec(token), slot)
    except SpecError as e:
        st.warning(f"The experiment in this link could not be loaded — {e}. Showing your current experiment.")
    else:
        st.toast("Loaded the experiment from the link.")


def sync_share_link(slot: str = MAIN) -> str:
    """Write the slot's experiment into the URL (the address bar is the share link); returns the token."""
    token = encode_spec(get_spec(slot))
    if st.query_params.get(SHARE_PARAM) != token:
        st.query_params[SHARE_PARAM] = token
    return token


def _once_per_file(upload, key: str, load, slot: str) -> None:
    """Run `load(upload, slot)` once per uploaded file; show its outcome for as long as the file stays."""
    if upload is None:
        st.session_state.pop(key, None)
        return
    if st.session_state.get(key, (None,))[0] != upload.file_id:
        try:
            message = load(upload, slot)
        except (SpecError, DataError, CheckpointError) as e:
            st.session_state[key] = (upload.file_id, "error", f"{upload.name} was not loaded — {e}. Nothing changed.")
        else:
            st.session_state[key] = (upload.file_id, "success", message)
            st.rerun()  # the page was drawn before this upload: draw it again from the loaded experiment
    _, outcome, message = st.session_state[key]
    (st.success if outcome == "success" else st.error)(message)


def _load_spec_file(upload, slot: str) -> str:
    if upload.size > MAX_SPEC_BYTES:
        raise SpecError("experiment", f"the file is {upload.size:,} bytes; an experiment is at most "
                                      f"{MAX_SPEC_BYTES:,}")
    try:
        text = upload.getvalue().decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("experiment", "the file is not UTF-8 text; pick an experiment .json file") from None
    load_spec(ExperimentSpec.from_json(text), slot)
    return f"Loaded {upload.name}."


def _load_checkpoint_file(upload, slot: str) -> str:
    """The checkpoint's experiment with its weights becomes the slot's current run (not started)."""
    exp = load_checkpoint_bytes(upload.getvalue(), source=upload.name, check=check_outside_spec)
    adopt_run(exp, slot)
    load_spec(exp.spec, slot)
    return f"Loaded {upload.name} as the current run: its trained weights, ready to inspect or train on."


@st.cache_data(max_entries=100, show_spinner=False)
def _exported(spec_json: str, num_threads: int, notebook: bool,
              _data: Callable[[], Dataset | None] | None = None) -> str:
    """The script or notebook, cached per experiment (export is pure); `_data` (not hashed), called only when
    the export is not cached, gives the run's data to skip reloading it."""
    export = export_notebook if notebook else export_script
    return export(ExperimentSpec.from_json(spec_json), _data() if _data is not None else None, num_threads)


def _dataset_of(run: Run) -> Dataset | None:
    try:
        return run.dataset
    except WorkerGone:  # its worker ended: the export loads the data itself
        return None


def _export_code(spec: ExperimentSpec, run: Run | None) -> None:
    run_spec = run.spec if run is not None else None
    data = partial(_dataset_of, run) if run_spec is not None and run_spec.data == spec.data else None
    threads = run.num_threads if run_spec == spec else spec.train.num_threads
    try:
        script = _exported(spec.to_json(), threads, False, data)
    except (SpecError, DataError) as e:
        st.error(f"This experiment cannot be exported yet — {e}")
        return
    with st.container(horizontal=True):
        st.download_button("Download train_script.py", script, "train_script.py", "text/x-python",
                           key="share_download_script")
        st.download_button("Download notebook (.ipynb)", lambda: _exported(spec.to_json(), threads, True, data),
                           "train_notebook.ipynb", "application/x-ipynb+json", key="share_download_notebook",
                           help="The same code in Jupyter cells, with a note on each part and a chart of the losses")
    st.code(script, language="python")


def share_controls(slot: str = MAIN) -> None:
    """The sidebar's "Share and export" expander for `slot`'s experiment: JSON, link, code, checkpoint.

    Call it after the page has run, so that it shares what the page has just set.
    """
    spec, run = get_spec(slot), current_run(slot)
    sync_share_link(slot)
    with st.sidebar.expander("Share and export"):
        st.caption("The address bar holds this experiment: copy it to share the experiment.")
        st.download_button("Download experiment (JSON)", spec.to_json(), "experiment.json", "application/json",
                           key="share_download_json")
        _once_per_file(st.file_uploader("Load an experiment (JSON)", type=["json"], max_upload_size=1,
                                        key="share_upload_json"), "_share_json_outcome", _load_spec_file, slot)
        with st.popover("Export PyTorch code or notebook"):
            _export_code(spec, run)
        if run is not None:
            st.download_button("Download checkpoint (.safetensors)", lambda: run.read(checkpoint_bytes),
                               "model.safetensors", "application/octet-stream", key="share_download_ckpt")
        _once_per_file(st.file_uploader("Load a checkpoint (.safetensors)", type=["safetensors"],
                                        max_upload_size=MAX_CHECKPOINT_BYTES // 2**20, key="share_upload_ckpt"),
                       "_share_ckpt_outcome", _load_checkpoint_file, slot)
