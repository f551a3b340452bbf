"""Run: a background thread that drives an Experiment, with pause/resume/step/stop and snapshots.

The worker trains in short slices (about SLICE_SECONDS of steps) holding the run's lock, so that
`snapshot()` and `read()` see a consistent experiment and act between two steps. Across runs in one
process, a slot semaphore bounds how many train at the same instant (a class on one server shares
the CPU fairly instead of thrashing), and each worker sets its own torch thread count: torch in a plain
background thread was reported 2-26x slower here until the thread itself called set_num_threads (we
measured 1.2-3.3x on small nets), and the count matters: slots x threads stay within the cores (on 2
cores, a worker with 2 threads was 3-6x slower than with 1, which matched the main thread).
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pandas as pd
import torch

from .data import Dataset
from .spec import ExperimentSpec
from .train import DONE_STATES, METRIC_COLUMNS, Experiment, StepMetrics

SLICE_SECONDS = 0.02
MAX_LIVE_POINTS = 5000      # step losses handed to a snapshot; longer runs are thinned evenly
ALIVE_CHECK_SECONDS = 1.0
RUN_THREAD_NAME = "playground-run"  # also the OS thread's name: top -H, /proc/<pid>/task/*/comm
_SLOTS = int(os.environ.get("PLAYGROUND_MAX_ACTIVE_RUNS", os.cpu_count() or 1))
ACTIVE_SLOTS = threading.BoundedSemaphore(_SLOTS)
# The most torch threads one run may use (its spec's train.num_threads, default 1, is capped at this).
MAX_THREADS = int(os.environ.get("PLAYGROUND_THREADS_PER_RUN", "0")) or max(1, (os.cpu_count() or 1) // _SLOTS)


TRAINING_NICENESS = 0       # the OS priority of training threads (Linux: per thread), see configure_slots


def configure_slots(slots: int, threads: int, niceness: int = 0) -> None:
    """Set how many runs of this process train at once, the torch threads each may use, and the niceness of
    their threads (a worker process of playground.workers trains one slice at a time on its own core, at a
    lower priority than the threads that answer the web server)."""
    global ACTIVE_SLOTS, MAX_THREADS, TRAINING_NICENESS
    ACTIVE_SLOTS, MAX_THREADS, TRAINING_NICENESS = threading.BoundedSemaphore(slots), threads, niceness


def _lower_priority(niceness: int) -> None:
    """Lower the calling thread's OS priority (Linux sets niceness per thread; elsewhere this does nothing)."""
    if niceness and sys.platform.startswith("linux"):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


PACE_CATCH_UP_SECONDS = 0.05  # a paced run that fell behind (a held slice) makes up at most this much at full speed
HOLD_MAX_SECONDS = 0.25     # a held worker still trains one slice this often: holds slow training, never stop it

_holds = 0                  # callers inside hold_training() now
_holds_lock = threading.Lock()
_unheld = threading.Event()
_unheld.set()


@contextmanager
def hold_training() -> Iterator[None]:
    """While any caller is inside, Run workers end their slice at the next step and wait (at most
    HOLD_MAX_SECONDS a slice) before the next. An interactive caller, such as the app's page runs, then
    has the interpreter lock to itself instead of taking turns with every training thread: Python runs
    one thread at a time, and a small net's training is mostly Python."""
    global _holds
    with _holds_lock:
        _holds += 1
        _unheld.clear()
    try:
        yield
    finally:
        with _holds_lock:
            _holds -= 1
            if _holds == 0:
                _unheld.set()


def _name_os_thread(name: str) -> None:
    """Name the calling OS thread (Linux; Python < 3.14 leaves it unnamed), so ops tools can count runs."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # 15: PR_SET_NAME
        except (OSError, AttributeError):
            pass


@dataclass(frozen=True)
class Snapshot:
    """A thread-safe copy of what a page shows: state, per-epoch history, step losses, telemetry."""
    state: str                  # ready, running, paused, stopped, finished, early_stopped, diverged, error
    message: str
    epoch: int
    epochs: int                 # the target
    step: int
    seconds: float              # time spent training (pauses excluded)
    steps_per_second: float
    history: pd.DataFrame       # per epoch, columns as metrics.csv
    step_losses: list[float]    # batch losses, thinned to at most MAX_LIVE_POINTS
    loss_stride: int            # step_losses[i] is the loss of step i * loss_stride + 1
    latest: dict[str, dict]     # newest telemetry row per layer (every sample: the telemetry_frame query)
    spec: ExperimentSpec        # the run's experiment, with the settings changed while it trained (train.changes)
    steps_per_epoch: int        # at the batch size now in force

    @property
    def changes(self) -> list[dict]:
        """The settings changed while it trained, as in the experiment file: {"step": 40, "lr": 0.1}."""
        return [c.to_dict() for c in self.spec.train.changes]

    @property
    def done(self) -> bool:
        """The run will train no more: the experiment is done (train.DONE_STATES), or the run was stopped or failed."""
        return self.state in DONE_STATES + ("stopped", "error")


class HistoryFrame:
    """A run's per-epoch history as a DataFrame, grown by the rows added since the last snapshot (a history only
    ever gains rows): a snapshot costs its new epochs, not the whole history again, however long the run."""

    def __init__(self):
        self._frame = pd.DataFrame(columns=METRIC_COLUMNS)

    @property
    def rows(self) -> int:
        return len(self._frame)

    def extend(self, rows: list[dict]) -> pd.DataFrame:
        """The history with `rows` appended, as a copy of its own (what a snapshot may change is its own)."""
        if rows:
            new = pd.DataFrame(rows, columns=METRIC_COLUMNS)
            self._frame = new if self._frame.empty else pd.concat([self._frame, new], ignore_index=True)
        return self._frame.copy()


class Run:
    def __init__(self, exp: Experiment, num_threads: int | None = None,
                 alive: Callable[[], bool] | None = None):
        """`num_threads` defaults to the spec's, at most MAX_THREADS (the experiment's metadata records
        what it got). `alive`, if given, is polled about once a second; when it returns False the worker
        ends (the app passes "is this browser session still open")."""
        self.exp = exp
        self.num_threads = num_threads or min(exp.spec.train.num_threads, MAX_THREADS)
        exp.num_threads = self.num_threads
        self.alive = alive
        self._lock = threading.Lock()
        self._go = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state, self._error = "ready", ""
        self.pace: float | None = None   # at most this many epochs a second (set_pace); None: as fast as it can
        self._due = 0.0                  # perf_counter time the next step is due, while paced
        self._history = HistoryFrame()
        self.key = uuid.uuid4().hex   # names this run where it is reported (a class's store), unique across servers

    @property
    def state(self) -> str:
        if self._error:
            return "error"
        if self.exp.done:
            return self.exp.status
        return self._state

    def start(self) -> "Run":
        """Start (or resume) training in the background until the spec's epochs are done."""
        if self.exp.done or self._error:
            return self
        self._state = "running"
        self._go.set()
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._work, name=RUN_THREAD_NAME, daemon=True)
            self._thread.start()
        return self

    resume = start

    def pause(self) -> None:
        if self._state == "running":
            self._state = "paused"
        self._go.clear()

    def step(self, n: int = 1) -> StepMetrics | None:
        """Pause, then take `n` steps right now in the caller's thread; returns the last step's metrics."""
        self.pause()
        metrics = None
        with self._lock:
            for _ in range(n):
                if self.exp.done:
                    break
                metrics = self.exp.step()
        if self._state == "ready":
            self._state = "paused"
        return metrics

    def stop(self, timeout: float | None = 5.0) -> None:
        """End the worker thread (the experiment keeps its history)."""
        if not self.exp.done and self._state != "ready":
            self._state = "stopped"
        self._stop.set()
        self._go.set()
        self.wait(timeout)

    def close(self) -> None:
        """Stop for good and free what the run holds (a PooledRun's place in its worker process)."""
        self.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker ends (done, stopped or failed); True if it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def thread_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _work(self) -> None:
        _name_os_thread(RUN_THREAD_NAME)
        _lower_priority(TRAINING_NICENESS)
        torch.set_num_threads(self.num_threads)
        last_check = time.monotonic()
        try:
            while not self._stop.is_set() and not self.exp.done:
                if self._go.wait(timeout=ALIVE_CHECK_SECONDS):
                    if (early := self._due - time.perf_counter()) > 0 and self.pace is not None:
                        self._stop.wait(min(early, ALIVE_CHECK_SECONDS))  # paced: the next step is not due yet
                        continue
                    still_held = not _unheld.wait(HOLD_MAX_SECONDS)
                    self._train_slice(yield_to_holds=not still_held)
                    time.sleep(0)  # let the server's threads in between slices
                if self.alive is not None and time.monotonic() - last_check > ALIVE_CHECK_SECONDS:
                    last_check = time.monotonic()
                    if not self.alive():
                        self._state = "stopped"
                        break
        except Exception as e:  # noqa: BLE001 - a failed run must say why, not die silently
            self._error = f"training failed: {type(e).__name__}: {e}"

    def _train_slice(self, yield_to_holds: bool = True) -> None:
        with ACTIVE_SLOTS, self._lock:
            deadline = time.perf_counter() + SLICE_SECONDS
            while self._go.is_set() and not self._stop.is_set() and not self.exp.done:
                self.exp.step()
                now = time.perf_counter()
                if self.pace is not None:  # the next step is due a step's share of a second later
                    step_seconds = 1 / (self.pace * self.exp.steps_per_epoch)
                    self._due = max(self._due, now - PACE_CATCH_UP_SECONDS) + step_seconds
                    if self._due > now:
                        break
                if now > deadline or (_holds and yield_to_holds):
                    break

    def set_pace(self, epochs_per_second: float | None) -> None:
        """Train at most this many epochs a second (TF Playground shows every epoch; at the Playground's redraw
        rate a pace keeps each redraw a few epochs from the last), or as fast as it can (None). The results are
        the same either way: only the wall time changes."""
        if epochs_per_second is not None and not epochs_per_second > 0:
            raise ValueError(f"a pace is a positive number of epochs a second, got {epochs_per_second}")
        self.pace = epochs_per_second

    def change(self, **values: float) -> None:
        """Change live settings (lr, reg_rate, batch_size, momentum, weight_decay) between two steps,
        without stopping; recorded in the experiment (Experiment.change). Raises SpecError."""
        with self._lock:
            self.exp.change(**values)

    def edit_weight(self, layer: int, unit: int, source: int, value: float) -> None:
        """Set one weight between two steps, without stopping; recorded in the experiment
        (Experiment.edit_weight). Raises SpecError."""
        with self._lock:
            self.exp.edit_weight(layer, unit, source, value)

    def steps_to_epoch_end(self) -> int:
        """Steps left in the current epoch (a whole epoch at an epoch's boundary)."""
        with self._lock:
            return self.exp.steps_to_epoch_end()

    def read(self, query: Callable[..., Any], *args: Any) -> Any:
        """`query(experiment, *args)` between two steps: a named query, e.g. `run.read(plane.decision_grid,
        60, 6.0)` or one of playground.inspection's."""
        with self._lock:
            return query(self.exp, *args)

    @property
    def spec(self) -> ExperimentSpec:
        """The run's experiment as it stands, with the settings changed while it trained."""
        return self.exp.spec

    @property
    def dataset(self) -> Dataset:
        """The run's data (it never changes while the run trains)."""
        return self.exp.data

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot(self._history.extend(self.exp.history[self._history.rows:]))

    def snapshot_since(self, rows: int) -> tuple[Snapshot, list[dict]]:
        """A snapshot without its history (None), and the history rows after the first `rows`: what crosses to
        the server for a run in a worker process (playground.workers), which has the rows before."""
        with self._lock:
            return self._snapshot(None), self.exp.history[rows:]

    def _snapshot(self, history: pd.DataFrame | None) -> Snapshot:
        exp = self.exp
        losses = exp.step_losses
        stride = max(1, -(-len(losses) // MAX_LIVE_POINTS))
        return Snapshot(
            state=self.state, message=self._error or exp.message, epoch=exp.epoch,
            epochs=exp.spec.train.epochs, step=exp.step_count, seconds=exp.seconds,
            steps_per_second=exp.step_count / exp.seconds if exp.seconds > 0 else 0.0,
            history=history, step_losses=losses[::stride], loss_stride=stride,
            latest={k: dict(v) for k, v in exp.telemetry.latest.items()},
            spec=exp.spec, steps_per_epoch=exp.steps_per_epoch)
