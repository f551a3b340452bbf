"""Live views of a Run: a fragment that redraws from snapshots while it trains, and its status line.

The page never trains: the Run's thread does. The fragment reruns every `live_seconds()` while the run
is running and not at all otherwise; when the run stops on its own, or the server's load has changed its
pace (twofold slower, fourfold faster), it reruns the whole page once, so the buttons and the refresh rate
follow the new state.
"""
from __future__ import annotations

import functools
import gc
import os
import threading
import time
from collections.abc import Callable

import streamlit as st

from playground import Run, Snapshot
from playground.workers import WorkerGone, seconds_waited

LIVE_SECONDS = 0.2          # redraw interval of a live view while few views are live
# The share of one core that live redraws may take, all sessions together. Streamlit runs every session's
# script in one Python process, whose code runs one thread at a time (the GIL): clicks, redraws and training
# share about one core. Redraws are paced by what they are measured to cost on this machine, so a slower
# server redraws less often instead of answering clicks late (bench/loadtest.py; docs/classroom.md).
LIVE_SHARE = float(os.environ.get("PLAYGROUND_LIVE_SHARE", "0.25"))
WINDOW_SECONDS = 10.0       # a view that redrew this recently (or within two intervals) counts as live
REPACE_SECONDS = 1.0        # at most one page rerun for a new pace this often, server-wide: the whole class
                            # sees a new pace at once, and 30 page reruns together held clicks up for seconds


class RedrawLoad:
    """What live redraws cost this process: the mean time one takes, and which views redrew lately.

    Wall time, not CPU time: it counts the waits for the interpreter lock, so a busy server sees costlier
    redraws and spaces them further (CPU time of the drawing alone was half of what a redraw cost the
    server under load: streamlit's own work around it does not show in it)."""

    def __init__(self, mean_seconds: float = 0.05):
        self._lock = threading.Lock()
        self.mean_seconds = mean_seconds
        self._last: dict[tuple, float] = {}   # view -> when it last redrew (monotonic seconds)
        self._repaced: dict[int, float] = {}  # run -> when its page was last rerun for a new pace
        self._next_repace = 0.0
        self._interval = LIVE_SECONDS

    def add(self, view: tuple, seconds: float) -> None:
        with self._lock:
            self.mean_seconds += 0.05 * (seconds - self.mean_seconds)  # slow: a burst must not swing the pace
            self._last[view] = time.monotonic()

    def interval(self) -> float:
        """Seconds between two redraws of each view so that all of them take LIVE_SHARE of a core."""
        with self._lock:
            since = time.monotonic() - max(WINDOW_SECONDS, 2 * self._interval)
            self._last = {view: at for view, at in self._last.items() if at >= since}
            self._interval = max(LIVE_SECONDS, len(self._last) * self.mean_seconds / LIVE_SHARE)
            return self._interval

    def may_repace(self, run: Run) -> bool:
        """Whether `run`'s page may be rerun for a new pace now: once in WINDOW_SECONDS per run, not once
        per view (the Playground has three), and one run in REPACE_SECONDS server-wide."""
        now = time.monotonic()
        with self._lock:
            if now < self._next_repace or now - self._repaced.get(id(run), -WINDOW_SECONDS) < WINDOW_SECONDS:
                return False
            self._repaced = {key: at for key, at in self._repaced.items() if now - at < WINDOW_SECONDS}
            self._repaced[id(run)], self._next_repace = now, now + REPACE_SECONDS
            return True


REDRAWS = RedrawLoad()


@functools.cache
def freeze_loaded_objects() -> None:
    """Once per server: exclude the objects alive now (torch, plotly, pandas, streamlit: millions, nearly all
    kept for the server's life; what the first page run leaves is kept too) from Python's cyclic garbage
    collection. Its periodic full passes walked them all, 0.3-0.4 s each on a 2-core VM, holding the
    interpreter lock while every click waited."""
    gc.freeze()


def live_seconds() -> float:
    """Seconds between two redraws of a live view: LIVE_SECONDS, longer when the live views together
    would take more than LIVE_SHARE of the server's core."""
    return REDRAWS.interval()


def live_view(run: Run, draw: Callable[[Run, Snapshot], None]) -> None:
    """Call `draw(run, snapshot)` now and, while the run trains, every `live_seconds()`."""
    interval = live_seconds() if run.state == "running" else None
    view = (id(run), getattr(draw, "func", draw).__qualname__)   # the same view across page runs

    @st.fragment(run_every=interval)
    def show() -> None:
        started, waited = time.perf_counter(), seconds_waited()
        snap = run.snapshot()
        try:
            draw(run, snap)
        except WorkerGone:  # its training process ended (the snapshot, the last one shown, says so)
            status_message(snap)
            return
        if interval is not None:  # this process's own time: not the waits for a worker process's answers
            REDRAWS.add(view, time.perf_counter() - started - (seconds_waited() - waited))
            if snap.state != "running":
                st.rerun()  # the run ended: the page shows its buttons and final state
            if not 0.25 <= live_seconds() / interval <= 2 and REDRAWS.may_repace(run):
                st.rerun()  # the server's load changed: redraw the page at the new pace (slower at once,
                            # faster only when far off: each page rerun costs what several redraws do)

    show()


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
