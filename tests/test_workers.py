"""Runs in worker processes (playground.workers): the same API and the same training as a thread Run, errors
that say what a thread Run's say, and no process or run outliving what started it."""
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from test_pages_inspect_compare import charts
from test_run import wait_until

from playground import DataError, Experiment, ExperimentSpec, Run, SpecError, workers
from playground.plane import decision_grid
from playground.workers import Pool, PooledRun, WorkerGone

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # every test here starts worker processes (about 3 s each)
SPEC = {"seed": 3, "data": {"name": "spiral", "n_samples": 200},
        "model": {"layers": [{"type": "dense", "units": 8, "activation": "tanh"}] * 2},
        "train": {"epochs": 100_000, "batch_size": 10, "optimizer": "adam", "lr": 0.03}}


@pytest.fixture(scope="module")
def pool():
    made = Pool(1)
    yield made
    made.close()
    assert all(w.process.poll() is not None for w in made.workers)


def spec(**train) -> ExperimentSpec:
    return ExperimentSpec.from_dict({**SPEC, "train": {**SPEC["train"], **train}})


def test_a_pooled_run_trains_exactly_as_a_thread_run(pool):
    here, there = Run(Experiment(spec())), PooledRun(Experiment, spec(), pool=pool)
    for run in (here, there):
        run.step(25)
        run.change(lr=0.1)
        run.edit_weight(0, 1, 0, 0.5)
        run.step(15)
    a, b = here.snapshot(), there.snapshot()
    assert (b.step, b.epoch, b.state) == (a.step, a.epoch, a.state) and (a.step, a.state) == (40, "paused")
    timeless = ["seconds"]  # wall-clock time, the one column that may differ
    assert b.step_losses == a.step_losses and b.spec == a.spec
    assert b.history.drop(columns=timeless).equals(a.history.drop(columns=timeless))
    grid_here, grid_there = here.read(decision_grid, 20, 6.0), there.read(decision_grid, 20, 6.0)
    assert (grid_there["z"] == grid_here["z"]).all()
    assert torch.equal(there.dataset.x_train, here.dataset.x_train)
    there.close()


def test_the_snapshots_of_a_pooled_run_bring_its_new_epochs_and_add_up_to_its_history(pool):
    run = PooledRun(Experiment, spec(), pool=pool)
    run.start()

    def watch() -> None:  # three live views at once, as a class's teacher page and a student's two
        for _ in range(15):
            run.snapshot()
            time.sleep(0.02)

    views = [threading.Thread(target=watch) for _ in range(3)]
    for view in views:
        view.start()
    for view in views:
        view.join()
    run.pause()
    time.sleep(0.2)  # the slice under way ends
    history, whole = run.snapshot().history, run.read(Experiment.history_frame)
    run.close()
    assert len(whole) > 3 and history.equals(whole)


class _SlowSnapshots:
    """A worker whose snapshots take until `answer` is set, showing the run as it was when asked."""

    def __init__(self, snap):
        self.snap, self.hosted = snap, 0
        self.asked, self.answer = threading.Event(), threading.Event()

    def call(self, run_id, op, *args, wait=True):
        if op == "snapshot_since":
            shown = self.snap
            self.asked.set()
            self.answer.wait(10)
            return shown, []
        if op == "start":
            self.snap = replace(self.snap, state="running")


class _OneWorker:
    def __init__(self, worker):
        self.worker = worker

    def place(self):
        return self.worker

    def release(self, worker):
        pass

    def watch(self, run):
        pass


def test_a_snapshot_asked_for_before_a_play_is_not_the_one_the_page_after_the_play_draws():
    """Streamlit runs a click's page run in a new thread while the abandoned run's thread may still be waiting
    for a snapshot: the button after Play must say Pause (the load test's students lost such Plays)."""
    paused = replace(Run(Experiment(spec())).snapshot_since(0)[0], state="paused")
    worker = _SlowSnapshots(paused)
    run = PooledRun(Experiment, spec(), pool=_OneWorker(worker))
    abandoned = threading.Thread(target=run.snapshot)
    abandoned.start()
    assert worker.asked.wait(10)
    run.start()            # the click's callback, in the new page run's thread
    worker.answer.set()    # the abandoned run's snapshot comes back, showing the run paused
    abandoned.join()
    assert run.snapshot().state == "running"


def test_start_pause_stop_act_in_the_worker(pool):
    run = PooledRun(Experiment, spec(), pool=pool)
    assert run.state == "ready" and not run.thread_alive
    run.start()
    assert wait_until(lambda: run.snapshot().step > 50) and run.state == "running"
    run.pause()
    paused_at = run.snapshot().step
    time.sleep(0.3)
    assert run.snapshot().step == paused_at and run.state == "paused"
    run.step(run.steps_to_epoch_end())
    assert run.snapshot().step % run.snapshot().steps_per_epoch == 0
    run.stop()
    assert run.state == "stopped" and not run.thread_alive and run.wait(timeout=0)
    run.close()
    run.close()   # a second close frees nothing twice
    assert wait_until(lambda: pool.hosted() == 0, 5) and sum(w.hosted for w in pool.workers) == 0


def test_a_bad_experiment_fails_as_it_would_here(pool, tmp_path):
    missing = spec().replace(data=spec().data.__class__(name="csv", path=str(tmp_path / "gone.csv"), target="y"))
    with pytest.raises(DataError) as here:
        Experiment(missing)
    with pytest.raises(DataError) as there:
        PooledRun(Experiment, missing, pool=pool)
    assert str(there.value) == str(here.value)
    run, local = PooledRun(Experiment, spec(), pool=pool), Run(Experiment(spec()))
    with pytest.raises(SpecError) as bad_here:
        local.change(lr=-1)
    with pytest.raises(SpecError) as bad_there:
        run.change(lr=-1)
    assert (bad_there.value.field, str(bad_there.value)) == (bad_here.value.field, str(bad_here.value))
    run.close()
    assert pool.hosted() == 0


def test_a_run_whose_session_ended_is_dropped(pool):
    open_ = {"yes": True}
    run = PooledRun(Experiment, spec(), pool=pool, alive=lambda: open_["yes"]).start()
    assert wait_until(lambda: pool.hosted() == 1)
    open_["yes"] = False
    assert wait_until(lambda: pool.hosted() == 0, 10)
    with pytest.raises(KeyError):
        run.snapshot()


def test_a_killed_worker_is_said_in_words_and_replaced(pool):
    lonely = Pool(1)
    run = PooledRun(Experiment, spec(), pool=lonely).start()
    assert wait_until(lambda: run.snapshot().step > 0)
    lonely.workers[0].process.kill()
    assert wait_until(lambda: run.state == "error", 10)
    snap = run.snapshot()   # the last one it showed, saying what happened
    assert snap.state == "error" and "training process for this run has ended" in snap.message and snap.step > 0
    assert run.spec == snap.spec
    with pytest.raises(WorkerGone, match="Reset starts a new run"):
        run.read(decision_grid, 20, 6.0)
    again = PooledRun(Experiment, spec(), pool=lonely)   # a new worker takes the runs to come
    assert again.step(3).step == 3
    lonely.close()


SERVER = """
import time
from playground import Experiment, ExperimentSpec
from playground.workers import POOL, PooledRun
runs = [PooledRun(Experiment, ExperimentSpec.from_dict({"data": {"name": "xor"}, "train": {"epochs": 100000}})).start()
        for _ in range(3)]
print(" ".join(map(str, POOL.pids())), flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_no_worker_outlives_a_killed_server():
    server = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "PLAYGROUND_WORKERS": "2"})
    pids = [int(p) for p in server.stdout.readline().split()]
    assert len(pids) == 2 and all(Path(f"/proc/{p}").exists() for p in pids)
    server.send_signal(signal.SIGKILL)
    server.wait(10)
    assert wait_until(lambda: not any(_running(p) for p in pids), 15), "a worker outlived its server"


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_app_pools_its_runs_where_there_are_cores_to_add(monkeypatch):
    for auto, workers_, pooled in [(True, 2, True), (True, 1, False), (False, 1, True), (False, 0, False)]:
        monkeypatch.setattr(workers, "AUTO", auto)
        monkeypatch.setattr(workers, "WORKERS", workers_)
        assert workers.pooling() is pooled, (auto, workers_)


def test_the_playground_trains_in_the_pool_and_says_when_its_worker_ended(monkeypatch):
    from streamlit.testing.v1 import AppTest

    lonely = Pool(1)
    monkeypatch.setattr(workers, "WORKERS", 1)
    monkeypatch.setattr(workers, "AUTO", False)
    monkeypatch.setattr(workers, "POOL", lonely)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    run = at.session_state["playground_run"]
    assert isinstance(run, PooledRun) and not at.exception
    at.button(key="pg_play").click().run()
    assert wait_until(lambda: run.snapshot().epoch >= 2)
    at.run()
    assert not at.exception and at.button(key="pg_play").label == "Pause"
    assert int(at.metric[0].value.replace(",", "")) >= 2
    lonely.workers[0].process.kill()
    assert wait_until(lambda: run.state == "error", 10)
    at.run()
    assert not at.exception
    assert any("training process for this run has ended" in e.value for e in at.error), [e.value for e in at.error]
    at.button(key="pg_reset").click().run()   # Reset: a new run, in a new worker
    assert not at.exception and at.session_state["playground_run"].state == "ready"
    at.session_state["playground_run"].close()
    lonely.close()


@pytest.mark.parametrize("spec_dict, steps", [
    ({"data": {"name": "xor"}}, 40),
    ({"data": {"name": "digits"}, "model": {"layers": [{"type": "conv2d", "filters": 4}, {"type": "maxpool2d"}]},
      "train": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.01, "batch_size": 32}}, 30)])
def test_the_inspect_and_compare_pages_read_a_pooled_run(pool, spec_dict, steps):
    from streamlit.testing.v1 import AppTest

    run = PooledRun(Experiment, ExperimentSpec.from_dict(spec_dict), pool=pool)
    run.step(steps)
    for page in ("views/inspect.py", "views/compare.py"):
        at = AppTest.from_file(str(ROOT / page), default_timeout=60)
        at.session_state["run"] = run
        at.run()
        assert not at.exception, page
        assert len(charts(at)) >= 2, page   # its charts drew from the worker's answers
    run.close()
