"""Per-browser-session state: the experiment specs being edited, the live Runs, and finished runs.

Everything lives in `st.session_state` (never in module globals or cache_resource), so thirty students
on one server each have their own. A Run's worker polls `_session_alive` and ends when the tab closes.
Uploaded CSVs go to the session's own temporary folder, deleted with the session; a spec from outside
(a link, an uploaded file) may name only those or the operator's shared tables (`check_outside_spec`).

Two slots keep two experiments apart: MAIN is what the Build and Train pages edit and train, PLAYGROUND
is the classroom view's toy experiment. Each slot has a spec and at most one Run. Widgets that edit a
slot's spec use keys starting with the slot's name and a colon (`"main:train.lr"`), so `load_spec` can
make them show a new spec.
"""
from __future__ import annotations

import shutil
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st
from streamlit.runtime import get_instance
from streamlit.runtime.scriptrunner import get_script_run_ctx

from playground import DataError, Experiment, ExperimentSpec, Run, SpecError
from playground.data.tabular import shared_csv_dir
from playground.lesson import Lesson

if TYPE_CHECKING:   # a type only: the class store (SQLAlchemy, Alembic) loads when a page first uses it
    from playground.classroom import Ticket
from playground.play_settings import PlaySettings
from playground.workers import PooledRun, WorkerGone, open_run

MAX_FINISHED_RUNS = 20
# Streamlit 1.67 now and then runs a button's callback twice for one click while a live fragment reruns: in
# Chromium the Playground's Play/Pause logged two calls in the same 10 ms for one click in ~20, so Pause
# paused and played again and the click looked lost. A second call within this long, with no page run
# finished in between, is that echo: no hand clicks twice in 80 ms.
CLICK_ECHO_SECONDS = 0.08
PAGE_RUNS_KEY, CLICKS_KEY = "_page_runs_done", "_clicked_at"   # finished page runs; when each button last acted
MAIN, PLAYGROUND = "main", "playground"

DEFAULT_SPECS: dict[str, ExperimentSpec] = {
    MAIN: ExperimentSpec(),
    # TF Playground's opening view: circle, x1 and x2, two tanh layers of 4 and 2, lr 0.03, batch 10
    PLAYGROUND: PlaySettings().to_spec(ExperimentSpec()),
}
_SPEC_KEYS = {MAIN: "spec", PLAYGROUND: "playground_spec"}
_RUN_KEYS = {MAIN: "run", PLAYGROUND: "playground_run"}


@dataclass(frozen=True)
class FinishedRun:
    """A run kept for comparison after it ended or was replaced."""
    name: str
    spec: ExperimentSpec
    history: pd.DataFrame
    state: str


def get_spec(slot: str = MAIN) -> ExperimentSpec:
    key = _SPEC_KEYS[slot]
    if key not in st.session_state:
        st.session_state[key] = DEFAULT_SPECS[slot]
    return st.session_state[key]


def set_spec(spec: ExperimentSpec, slot: str = MAIN) -> None:
    st.session_state[_SPEC_KEYS[slot]] = spec


def load_spec(spec: ExperimentSpec, slot: str = MAIN) -> None:
    """Replace a slot's spec from outside its editors (an upload, a share link): its widgets show it next run.
    Raises SpecError, changing nothing, if it names a file on the server (`check_outside_spec`)."""
    check_outside_spec(spec)
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(f"{slot}:")]:
        del st.session_state[key]
    set_spec(spec, slot)


class _UploadDir:
    """A temporary folder for this session's uploads, deleted when the session's state is dropped."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="playground-upload-"))
        weakref.finalize(self, shutil.rmtree, self.path, True)


def upload_dir() -> Path:
    """This session's own upload folder (made on first use)."""
    if "upload_dir" not in st.session_state:
        st.session_state.upload_dir = _UploadDir()
    return st.session_state.upload_dir.path


def csv_folders() -> list[Path]:
    """Where a CSV named by a spec may be read from in the app: this session's uploads and the operator's
    shared folder. A spec from a link, an upload or a checkpoint naming any other file is refused unopened."""
    folders = [shared_csv_dir()]
    if "upload_dir" in st.session_state:
        folders.append(st.session_state.upload_dir.path)
    return folders


def check_outside_spec(spec: ExperimentSpec) -> None:
    """Refuse (SpecError) a spec from outside this session that would read a file on the server."""
    spec.data.check_path_under(csv_folders())


def change_live(candidate: ExperimentSpec, slot: str = MAIN) -> bool:
    """If the slot's run has begun and can go on, and `candidate` differs from it only in live settings
    (registry.LIVE_SETTINGS), change the run instead of replacing it and keep its spec (with the change
    recorded) as the slot's; True if it did."""
    run = current_run(slot)
    if run is None or run.state not in ("running", "paused"):
        return False
    live = run.spec.live_difference(candidate)
    if live is None:
        return False
    run.change(**live)
    set_spec(run.spec, slot)
    return True


def once_a_click(name: str, callback: Callable[..., None]) -> Callable[..., None]:
    """`callback` as a button's on_click that ignores the echo of a click (CLICK_ECHO_SECONDS): the same call
    (the same arguments) again. A call with other arguments is a click of its own however soon it comes: Pause
    then Play is one button whose label, and so its action, changed in between, and a client may click the new
    label the moment it shows, before the page run that drew it has ended."""
    def on_click(*args, **kwargs) -> None:
        clicks = st.session_state.setdefault(CLICKS_KEY, {})
        now, runs, call = time.monotonic(), st.session_state.get(PAGE_RUNS_KEY, 0), (args, kwargs)
        at, runs_then, call_then = clicks.get(name, (-CLICK_ECHO_SECONDS, -1, None))
        if now - at >= CLICK_ECHO_SECONDS or runs != runs_then or call != call_then:
            clicks[name] = (now, runs, call)
            callback(*args, **kwargs)
    return on_click


def page_run_done() -> None:
    """Count a page run that finished (app.py): a click's echo comes before its page run ends."""
    st.session_state[PAGE_RUNS_KEY] = st.session_state.get(PAGE_RUNS_KEY, 0) + 1


def current_run(slot: str | None = None) -> Run | None:
    """The slot's Run; with no slot, the Run created last in any slot (what the user looked at last)."""
    return st.session_state.get(_RUN_KEYS[slot or st.session_state.get("last_slot", MAIN)])


def finished_runs() -> list[FinishedRun]:
    return st.session_state.setdefault("finished_runs", [])


LESSON_KEY, TICKET_KEY = "lesson", "class_ticket"


def lesson() -> "Lesson | None":
    """The lesson this session is doing, if any (ui/lesson.py starts and leaves it)."""
    return st.session_state.get(LESSON_KEY)


def class_ticket() -> "Ticket | None":
    """This session's membership of a class, if it joined one (ui/classroom.py)."""
    return st.session_state.get(TICKET_KEY)


def restricted(control: str, how: str) -> bool:
    """Whether the current lesson hides (`how="hide"`) or locks (`"lock"`) the control `control` (a spec path,
    or one of the Playground's own control names: playground.lesson.control_names)."""
    current = lesson()
    return current is not None and current.restricts(control, how)


def _session_alive():
    """A callable telling whether this browser session is still connected (True outside a server)."""
    ctx = get_script_run_ctx()
    try:
        runtime = get_instance()
    except RuntimeError:  # no server, e.g. under AppTest: the test owns the run's lifetime
        return None
    if ctx is None:
        return None
    session_id = ctx.session_id
    return lambda: runtime.is_active_session(session_id)


def _archive(run: Run) -> None:
    snap = run.snapshot()
    if snap.step == 0:
        return
    runs = finished_runs()
    number = st.session_state["runs_archived"] = st.session_state.get("runs_archived", 0) + 1  # unique past the cap
    runs.append(FinishedRun(f"run {number}", run.spec, snap.history, snap.state))
    del runs[:-MAX_FINISHED_RUNS]


def new_run(spec: ExperimentSpec, slot: str = MAIN) -> Run | None:
    """Stop and archive the slot's current run, then build a Run for `spec` (not started).

    Bad specs or data show st.error with the message and return None; the previous spec is kept.
    """
    try:
        run = open_run(Experiment, spec, alive=_session_alive())
    except (SpecError, DataError, WorkerGone) as e:
        st.error(f"Cannot build this experiment — {e}")
        return None
    _make_current(run, slot)
    set_spec(spec, slot)
    return run


def adopt_run(exp: Experiment, slot: str = MAIN) -> Run:
    """Make an experiment built here (e.g. from a checkpoint) the slot's run, not started; it trains in a thread
    of this process."""
    return _make_current(Run(exp, alive=_session_alive()), slot)


def _make_current(run: Run | PooledRun, slot: str) -> Run | PooledRun:
    """The slot's run becomes `run`; the one it replaces is stopped and archived."""
    reset_run(slot)
    st.session_state[_RUN_KEYS[slot]] = run
    st.session_state.last_slot = slot
    return run


def reset_run(slot: str = MAIN) -> None:
    """Stop the slot's run thread and keep its results for comparison."""
    run = st.session_state.pop(_RUN_KEYS[slot], None)
    if run is not None:
        run.stop()
        _archive(run)
        run.close()
