"""Training out of the web server's interpreter: a small pool of worker processes, each hosting many runs.

Streamlit runs every session's page and every in-process `Run` thread in one Python process, so a class's
clicks, redraws and training take turns on one interpreter lock. A `PooledRun` has `Run`'s API, but its
experiment lives in a worker process: a plain `Run` there, built from the spec in the worker (so the model and
data never cross), driven by calls over a socket. Only what a page asks for comes back (a snapshot, a named
query's result), at the page's redraw rate, never per step.

The pool has one process per core (PLAYGROUND_WORKERS=N sets N), each training one run's slice at a time on
one torch thread; a run goes to the process hosting the fewest. Workers are fresh interpreters, not forks (the
server has threads). They end when the server process does, however it ends: the kernel closes their socket.
(Linux's parent-death signal would not do: it fires when the *thread* that started them ends, as a page run
does.) A worker drops a run as soon as its session ends, polled like a thread Run's `alive`.

`open_run` picks where an app's run trains: see its docstring, and bench/README.md for the measured line.
"""
from __future__ import annotations

import itertools
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
import uuid
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import cached_property
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

from . import run as run_module
from .run import ALIVE_CHECK_SECONDS, HistoryFrame, Run, Snapshot
from .spec import ExperimentSpec
from .train import Experiment, StepMetrics

CALL_TIMEOUT_SECONDS = 120.0        # a worker that answers nothing for this long is taken as gone
SNAPSHOT_REUSE_SECONDS = 0.05       # a page run reads a run's snapshot, state and spec several times: one call
WORKER_PROCESS_NAME = "playground-worker"
# Training takes the cores the web server leaves: clicks and redraws come first (the OS scheduler weighs a
# niceness of 10 about a tenth of 0), so a class's training cannot make its pages late. Only the training
# threads: a worker's threads that answer the server's calls keep the normal priority, or every call (and so
# every click) would wait behind the browser and the server for a turn on a core.
TRAINING_NICENESS = 10
# How long a training thread in a worker keeps the interpreter before a call's thread may take it (Python's
# default is 5 ms; a redraw makes a few calls, each waiting for a turn).
CALL_SWITCH_SECONDS = 0.001
# what a PooledRun may ask of the Run in the worker (method names); anything else is refused there
RUN_CALLS = frozenset({"start", "pause", "step", "stop", "wait", "change", "edit_weight", "steps_to_epoch_end",
                       "read", "snapshot_since", "dataset", "thread_alive", "num_threads", "set_pace"})
RUN_CHANGES = frozenset({"start", "pause", "step", "stop", "change", "edit_weight"})   # what a snapshot shows


_waits = threading.local()   # per server thread: seconds spent waiting for workers' answers


def seconds_waited() -> float:
    """Seconds the calling thread has spent waiting for worker processes so far: time that cost this process
    nothing (a live view's pace counts only its own work: ui/live.py)."""
    return getattr(_waits, "seconds", 0.0)


GONE = ("the server's training process for this run has ended (it may have run out of memory); "
        "Reset starts a new run")


class WorkerGone(RuntimeError):
    """The worker process hosting a run ended (killed, or out of memory): the run cannot go on."""


def _answer(call_id: int, value: Any) -> bytes:
    """The pickled answer: (id, True, value), or (id, False, error) for an exception; an error (or a value) that
    cannot cross says so in words."""
    try:
        answer = pickle.dumps((call_id, not isinstance(value, BaseException), value))
        if isinstance(value, BaseException):
            pickle.loads(answer)  # an exception may pickle and still fail to rebuild
        return answer
    except Exception:  # noqa: BLE001 - the caller still gets an answer, as text
        return pickle.dumps((call_id, False, RuntimeError(f"{type(value).__name__}: {value}")))


def serve(fd: int, threads: int) -> None:
    """A worker process: host Runs by id and carry out the server's calls (on socket `fd`), several at once."""
    conn = Connection(fd)
    sys.setswitchinterval(CALL_SWITCH_SECONDS)
    run_module.configure_slots(slots=1, threads=threads, niceness=TRAINING_NICENESS)
    runs: dict[str, Run] = {}
    send_lock = threading.Lock()

    def carry_out(call_id: int, run_id: str, op: str, args: tuple) -> None:
        try:
            if op == "open":
                build, build_args, num_threads = args
                runs[run_id] = Run(build(*build_args), num_threads=num_threads)
                value = None
            elif op == "drop":
                gone = runs.pop(run_id, None)
                value = gone.stop(timeout=None) if gone is not None else None
            elif op == "hosted":
                value = len(runs)
            elif op == "change":  # keyword arguments: Run.change(**values)
                value = runs[run_id].change(**args[0])
            elif op not in RUN_CALLS:
                value = ValueError(f"a pooled run cannot {op!r}")
            else:
                run = runs[run_id]
                member = getattr(run, op)
                value = member(*args) if callable(member) else member
                value = None if value is run else value  # start() returns the run itself
        except BaseException as e:  # noqa: BLE001 - every failure goes back to the caller, the worker goes on
            value = e
        reply = _answer(call_id, value)
        with send_lock:
            conn.send_bytes(reply)

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="playground-call") as calls:
        while True:
            try:
                call = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):  # the server is gone: so is every run here
                break
            calls.submit(carry_out, *call)
        for r in list(runs.values()):
            r.stop(timeout=1.0)


class Worker:
    """The server's end of one worker process: calls go out under a lock, answers come back on a reader thread.

    The process is a fresh interpreter (`python -c`), not multiprocessing's spawn, which would run the server's
    main script again in it; calls and answers cross a socket pair as plain pickles."""

    def __init__(self, threads: int, number: int):
        ours, theirs = socket.socketpair()
        self.name = f"{WORKER_PROCESS_NAME}-{number}"
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from playground.workers import serve; serve({theirs.fileno()}, {threads})"],
            pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        self.conn = Connection(ours.detach())
        self.hosted = 0
        self._send_lock = threading.Lock()
        self._waiting: dict[int, Future] = {}
        self._ids = itertools.count()
        threading.Thread(target=self._read_answers, name=f"{WORKER_PROCESS_NAME}-reader", daemon=True).start()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def call(self, run_id: str, op: str, *args: Any, wait: bool = True) -> Any:
        started = time.perf_counter()
        try:
            return self._call(run_id, op, *args, wait=wait)
        finally:
            _waits.seconds = getattr(_waits, "seconds", 0.0) + time.perf_counter() - started

    def _call(self, run_id: str, op: str, *args: Any, wait: bool) -> Any:
        answer: Future = Future()
        with self._send_lock:
            if not self.alive:
                raise WorkerGone(GONE)
            call_id = next(self._ids)
            self._waiting[call_id] = answer
            self.conn.send_bytes(pickle.dumps((call_id, run_id, op, args)))
        if not wait:
            return None
        ok, value = answer.result(CALL_TIMEOUT_SECONDS)
        if not ok:
            raise value
        return value

    def _read_answers(self) -> None:
        while True:
            try:
                call_id, ok, value = pickle.loads(self.conn.recv_bytes())
            except (EOFError, OSError, TypeError):  # the worker ended, or Pool.close closed this end (TypeError)
                break
            self._waiting.pop(call_id).set_result((ok, value))
        gone = WorkerGone(GONE)
        for answer in list(self._waiting.values()):
            answer.set_result((False, gone))
        self._waiting.clear()


class Pool:
    """The worker processes of this server (started on first use) and the runs' `alive` checks."""

    def __init__(self, size: int):
        self.size = size
        self.workers: list[Worker] = []
        self._lock = threading.Lock()
        self._watched: "weakref.WeakSet[PooledRun]" = weakref.WeakSet()

    def start(self) -> None:
        """Start the worker processes, if not yet started; each is ready once it has imported torch (~3 s)."""
        with self._lock:
            if not self.workers:
                self.workers = [Worker(threads=1, number=i) for i in range(self.size)]
                threading.Thread(target=self._watch, name="playground-pool-watch", daemon=True).start()

    def place(self) -> Worker:
        """The worker for a new run: the one hosting fewest (counted here at once, so a class opening its pages
        together is spread out); `release` it when the run ends."""
        self.start()
        with self._lock:  # a worker that ended (killed, out of memory) is replaced for the runs to come
            self.workers = [w if w.alive else Worker(threads=1, number=i) for i, w in enumerate(self.workers)]
            worker = min(self.workers, key=lambda w: w.hosted)
            worker.hosted += 1
            return worker

    def release(self, worker: Worker) -> None:
        with self._lock:
            worker.hosted -= 1

    def watch(self, run: "PooledRun") -> None:
        self._watched.add(run)

    def _watch(self) -> None:
        while self.workers:  # until the pool is closed
            time.sleep(ALIVE_CHECK_SECONDS)
            for run in list(self._watched):
                if run.alive is not None and not run.alive():
                    self._watched.discard(run)
                    run.close()

    def close(self, timeout: float = 10.0) -> None:
        """End the worker processes (their runs with them): each sees its socket close and exits."""
        with self._lock:
            workers, self.workers = self.workers, []
        for w in workers:
            w.conn.close()
        for w in workers:
            try:
                w.process.wait(timeout)
            except subprocess.TimeoutExpired:
                w.process.kill()

    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers]

    def hosted(self) -> int:
        """Runs alive in the workers now (asked of each: what a test of leftovers needs)."""
        return sum(w.call("", "hosted") for w in self.workers if w.alive)


def _workers_setting() -> tuple[bool, int]:
    """PLAYGROUND_WORKERS: "auto" (the default), a number of processes, or 0 (every run in a thread):
    (auto, processes)."""
    setting = os.environ.get("PLAYGROUND_WORKERS", "auto").strip().lower()
    if setting in ("auto", ""):
        return True, os.cpu_count() or 1
    return False, int(setting)


AUTO, WORKERS = _workers_setting()
POOL = Pool(max(1, WORKERS))


def _close(pool: Pool, worker: Worker, run_id: str) -> None:
    """Free a run in its worker (once: PooledRun.close, or its collection) and its place in the pool's count."""
    pool.release(worker)
    try:
        worker.call(run_id, "drop", wait=False)
    except (WorkerGone, OSError, ValueError):
        pass


class PooledRun:
    """A Run whose experiment trains in one of the pool's worker processes; the same API as `Run`, minus `exp`."""

    def __init__(self, build: Callable[..., Experiment], *args: Any, num_threads: int | None = None,
                 alive: Callable[[], bool] | None = None, pool: Pool | None = None):
        """`build(*args)` makes the experiment in the worker (it must be importable there, e.g. `Experiment`
        and a spec); its SpecError or DataError is raised here, as building it here would."""
        self.key = uuid.uuid4().hex
        self.alive = alive
        self._last: Snapshot | None = None   # what the run showed last: still shown if its worker ends
        self._last_at = -SNAPSHOT_REUSE_SECONDS
        self._changes = itertools.count(1)   # numbers the calls that change the run (RUN_CHANGES)
        self._told = 0                       # the number of the latest of them
        self._last_told = -1                 # ... when the snapshot in _last was asked for
        self._history = HistoryFrame()       # the epochs that have crossed: a snapshot brings only newer ones
        self._snapshot_lock = threading.Lock()
        pool = pool or POOL
        self._worker = pool.place()
        try:
            self._worker.call(self.key, "open", build, args, num_threads)
        except BaseException:
            pool.release(self._worker)
            raise
        self._closer = weakref.finalize(self, _close, pool, self._worker, self.key)
        pool.watch(self)

    def _call(self, op: str, *args: Any) -> Any:
        if op in RUN_CHANGES:
            self._told = next(self._changes)   # the next snapshot must show what this call did
        return self._worker.call(self.key, op, *args)

    def close(self) -> None:
        """Stop the run and free it in its worker (also done when this object is collected; a second call
        does nothing)."""
        self._closer()

    @property
    def state(self) -> str:
        return self.snapshot().state

    @property
    def spec(self) -> ExperimentSpec:
        return self.snapshot().spec

    @cached_property
    def num_threads(self) -> int:
        return self._call("num_threads")

    @property
    def thread_alive(self) -> bool:
        return self._call("thread_alive")

    def start(self) -> "PooledRun":
        self._call("start")
        return self

    resume = start

    def pause(self) -> None:
        self._settle("pause")

    def step(self, n: int = 1) -> StepMetrics | None:
        return self._call("step", n)

    def stop(self, timeout: float | None = 5.0) -> None:
        self._settle("stop", timeout)

    def wait(self, timeout: float | None = None) -> bool:
        return self._settle("wait", timeout)

    def _settle(self, op: str, *args: Any) -> Any:
        """A call that only ever stops the run: done already if its worker has ended (the run ended with it)."""
        try:
            return self._call(op, *args)
        except WorkerGone:
            return True

    def change(self, **values: float) -> None:
        self._call("change", values)

    def edit_weight(self, layer: int, unit: int, source: int, value: float) -> None:
        self._call("edit_weight", layer, unit, source, value)

    def set_pace(self, epochs_per_second: float | None) -> None:
        self._call("set_pace", epochs_per_second)

    def steps_to_epoch_end(self) -> int:
        return self._call("steps_to_epoch_end")

    def read(self, query: Callable[..., Any], *args: Any) -> Any:
        """`query(experiment, *args)` in the worker: the query must be a module-level function (it crosses by name)."""
        return self._call("read", query, *args)

    @property
    def dataset(self):
        return self._call("dataset")

    def snapshot(self) -> Snapshot:
        """The run as it stands (a page run's reads within SNAPSHOT_REUSE_SECONDS share one call, unless the
        run was told something since); once its worker has ended, the last one it showed, in state "error".

        "Since" counts from when a snapshot was asked for, not from when it came back: Streamlit starts a click's
        page run in a new thread while the abandoned run's thread may still be waiting for a snapshot, and that
        snapshot, asked for before the click's Play, must not be the one the new page draws its button from."""
        with self._snapshot_lock:   # one at a time: each adds the rows after those it has
            if (self._last is not None and self._last_told == self._told
                    and time.monotonic() - self._last_at < SNAPSHOT_REUSE_SECONDS):
                return self._last
            told = self._told
            try:
                snap, rows = self._call("snapshot_since", self._history.rows)
                self._last, self._last_at = replace(snap, history=self._history.extend(rows)), time.monotonic()
                self._last_told = told
            except WorkerGone as gone:
                if self._last is None:
                    raise
                return replace(self._last, state="error", message=str(gone))
            return self._last


def start_pool() -> None:
    """Start the pool now if this server's runs will use it, so that the first run does not wait for its
    workers to import torch (they do while the first page run imports it here)."""
    if pooling():
        POOL.start()


def pooling() -> bool:
    """Whether the app's runs train in the pool: PLAYGROUND_WORKERS is a number above 0, or "auto" on a machine
    of more than one core (on one core a pool has no core to add, only the calls' cost)."""
    return WORKERS > 0 and not (AUTO and WORKERS < 2)


def open_run(build: Callable[..., Experiment], *args: Any,
             alive: Callable[[], bool] | None = None) -> "Run | PooledRun":
    """A run of `build(*args)` where the app trains it: in the pool (see `pooling`), or else in a thread of this
    process (as `Run(build(*args))`, what the Python API, the CLI and the tests use)."""
    return PooledRun(build, *args, alive=alive) if pooling() else Run(build(*args), alive=alive)
