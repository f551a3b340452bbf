"""Live views of a Run: a fragment that redraws from snapshots while it trains, and its status line.

The page never trains: the Run's thread does. The fragment reruns every `live_seconds()` while the run
is running and not at all otherwise; when the run stops on its own, or the server's load has changed its
pace twofold, it reruns the whole page once, so the buttons and the refresh rate follow the new state.
"""
from __future__ import annotations

import os
from collections.abc import Callable

import streamlit as st

from playground import Run, Snapshot
from playground.run import running_runs

LIVE_SECONDS = 0.5          # redraw interval of a live view while few runs train
# Live redraws per second the whole server affords: each one costs ~0.1 s of the process's single Python
# thread (the GIL), which clicks and training share, so with many runs training at once each view redraws
# less often and clicks stay quick (measured in bench/loadtest.py; docs/classroom.md).
LIVE_REDRAWS_PER_SECOND = float(os.environ.get("PLAYGROUND_LIVE_REDRAWS", "6"))


def live_seconds() -> float:
    """Seconds between two redraws of a live view: LIVE_SECONDS, longer when many runs train at once."""
    return max(LIVE_SECONDS, running_runs() / LIVE_REDRAWS_PER_SECOND)


def live_view(run: Run, draw: Callable[[Run, Snapshot], None]) -> None:
    """Call `draw(run, snapshot)` now and, while the run trains, every `live_seconds()`."""
    interval = live_seconds() if run.state == "running" else None

    @st.fragment(run_every=interval)
    def view() -> None:
        snap = run.snapshot()
        draw(run, snap)
        if interval is not None and (snap.state != "running" or not 0.5 <= live_seconds() / interval <= 2):
            st.rerun()  # the run ended, or the server's load changed: redraw the page at the new pace

    view()


def status_message(snap: Snapshot) -> None:
    """One line saying where the run is: a coloured box once it has ended, a caption before."""
    if snap.state == "finished":
        st.success(f"Done: {snap.message}.")
    elif snap.state == "early_stopped":
        st.info(f"Early stopped: {snap.message}.")
    elif snap.state == "diverged":
        st.error(f"Diverged: {snap.message}.")
    elif snap.state == "error":
        st.error(f"The run failed — {snap.message}. Change the settings and start again.")
    elif snap.state == "stopped":
        st.warning(f"Stopped at epoch {snap.epoch}. Its results are kept for Compare; Start begins a new run.")
    elif snap.state == "paused":
        st.caption(f"Paused at epoch {snap.epoch}, step {snap.step}.")
    elif snap.state == "running":
        st.caption("Training…")
    else:
        st.caption("Ready.")


def steps_to_epoch_end(run: Run) -> int:
    """Steps left in the current epoch (a whole epoch at an epoch boundary): TF Playground's Step."""
    per_epoch = run.exp.steps_per_epoch
    return per_epoch - run.read(lambda e: e.step_count) % per_epoch
