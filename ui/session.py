"""Per-browser-session state: the experiment spec being edited, the live Run, and finished runs.

Everything lives in `st.session_state` (never in module globals or cache_resource), so thirty students
on one server each have their own. A Run's worker polls `_session_alive` and ends when the tab closes.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st
from streamlit.runtime import get_instance
from streamlit.runtime.scriptrunner import get_script_run_ctx

from playground import DataError, Experiment, ExperimentSpec, Run, SpecError

MAX_FINISHED_RUNS = 20


@dataclass(frozen=True)
class FinishedRun:
    """A run kept for comparison after it ended or was replaced."""
    name: str
    spec: ExperimentSpec
    history: pd.DataFrame
    state: str


def get_spec() -> ExperimentSpec:
    if "spec" not in st.session_state:
        st.session_state.spec = ExperimentSpec()
    return st.session_state.spec


def set_spec(spec: ExperimentSpec) -> None:
    st.session_state.spec = spec


def current_run() -> Run | None:
    return st.session_state.get("run")


def finished_runs() -> list[FinishedRun]:
    return st.session_state.setdefault("finished_runs", [])


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
    runs.append(FinishedRun(f"run {len(runs) + 1}", run.exp.spec, snap.history, snap.state))
    del runs[:-MAX_FINISHED_RUNS]


def new_run(spec: ExperimentSpec) -> Run | None:
    """Stop and archive the current run, then build a Run for `spec` (not started).

    Bad specs or data show st.error with the message and return None; the previous spec is kept.
    """
    try:
        exp = Experiment(spec)
    except (SpecError, DataError) as e:
        st.error(f"Cannot build this experiment — {e}")
        return None
    reset_run()
    run = Run(exp, alive=_session_alive())
    st.session_state.run = run
    set_spec(spec)
    return run


def reset_run() -> None:
    """Stop the current run's thread and keep its results for comparison."""
    run = st.session_state.pop("run", None)
    if run is not None:
        run.stop()
        _archive(run)
