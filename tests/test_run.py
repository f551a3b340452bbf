"""Run: the background worker starts, pauses, steps, stops and fails visibly; snapshots are copies."""
import threading
import time

import pytest
import torch

from playground import Run
from playground import run as run_module
from playground.telemetry import telemetry_frame
from playground.train import StepMetrics

ENDLESS = 100_000  # epochs: a run that only stops when told to


def wait_until(condition, timeout: float = 20.0) -> bool:
    """Poll `condition` until it holds or `timeout` passes (a bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def make_run(make_exp):
    """Runs made in a test are stopped after it, and no worker thread may outlive it."""
    made = []

    def make(exp=None, **kwargs) -> Run:
        made.append(Run(exp if exp is not None else make_exp(epochs=ENDLESS), **kwargs))
        return made[-1]

    yield make
    for run in made:
        run.stop(timeout=10)
    assert not [t for t in threading.enumerate() if t.name == run_module.RUN_THREAD_NAME and t.is_alive()]


def test_start_trains_to_the_end_in_the_background(make_run, make_exp):
    run = make_run(make_exp(epochs=3))
    assert run.state == "ready" and not run.thread_alive
    run.start()
    assert run.wait(timeout=30)
    snap = run.snapshot()
    assert snap.state == "finished" and snap.done and snap.message == "finished 3 epochs"
    assert (snap.epoch, snap.epochs, snap.step, len(snap.history)) == (3, 3, 30, 3)
    assert len(snap.step_losses) == 30 and snap.loss_stride == 1 and snap.steps_per_second > 0
    assert not run.thread_alive
    run.start()                                   # a finished run does not restart
    assert not run.thread_alive and run.snapshot().step == 30


def test_pause_step_resume_stop_act_at_once(make_run):
    run = make_run().start()
    assert wait_until(lambda: run.snapshot().step > 0)
    run.pause()
    paused_at = run.snapshot().step
    time.sleep(0.3)
    snap = run.snapshot()
    assert snap.step == paused_at and snap.state == "paused" and run.thread_alive
    metrics = run.step()
    assert isinstance(metrics, StepMetrics) and metrics.step == paused_at + 1
    assert run.snapshot().step == paused_at + 1
    assert run.step(5).step == paused_at + 6 and run.snapshot().step == paused_at + 6
    run.resume()
    assert run.state == "running"
    assert wait_until(lambda: run.snapshot().step > paused_at + 6)
    run.stop()
    assert not run.thread_alive and run.state == "stopped"
    stopped = run.snapshot()
    assert stopped.step > paused_at + 6 and stopped.step == len(run.exp.step_losses)
    time.sleep(0.1)
    assert run.snapshot().step == stopped.step


def test_step_without_start_runs_in_the_callers_thread(make_run):
    run = make_run()
    assert run.step(3).step == 3
    assert run.state == "paused" and not run.thread_alive and run.wait(timeout=0)


def test_stop_before_start_leaves_it_ready(make_run):
    run = make_run()
    run.stop()
    assert run.state == "ready" and not run.thread_alive


@pytest.mark.parametrize("paused", [False, True])
def test_alive_returning_false_ends_the_worker(make_run, paused):
    open_ = threading.Event()
    open_.set()
    run = make_run(alive=open_.is_set).start()
    assert wait_until(lambda: run.snapshot().step > 0)
    if paused:
        run.pause()
    open_.clear()                                 # the browser tab closed
    assert run.wait(timeout=2 * run_module.ALIVE_CHECK_SECONDS + 3)
    assert run.state == "stopped" and not run.thread_alive


def test_snapshot_is_a_copy(make_run, make_exp):
    run = make_run(make_exp(epochs=ENDLESS, telemetry_every=10))
    run.step(25)                                  # 2 epochs of 10 steps; telemetry at steps 0, 10, 20
    snap, telemetry = run.snapshot(), run.read(telemetry_frame)
    history, samples = snap.history.copy(), telemetry.copy()
    snap.history.iloc[0, 2] = 999.0
    snap.history["lr"] = 0.0
    telemetry["grad_norm"] = -1.0
    snap.step_losses.clear()
    snap.latest["output"]["grad_norm"] = -1.0
    snap.latest.clear()
    run.step(10)                                  # a third epoch: its row joins the copy the run keeps
    again = run.snapshot()
    assert again.history.iloc[:2].equals(history) and list(again.history["epoch"]) == [1, 2, 3]
    assert run.read(telemetry_frame).iloc[:9].equals(samples)
    assert len(again.step_losses) == 35 and again.latest["output"]["grad_norm"] > 0
    assert run.exp.history[0]["train_loss"] != 999.0 and run.exp.telemetry.latest["output"]["grad_norm"] > 0
    assert set(again.latest) == {"dense_0", "dense_1", "output"} and len(run.read(telemetry_frame)) == 4 * 3


def test_long_loss_curves_are_thinned_evenly(make_run, monkeypatch):
    monkeypatch.setattr(run_module, "MAX_LIVE_POINTS", 10)
    run = make_run()
    run.step(35)
    snap = run.snapshot()
    assert snap.loss_stride == 4 and snap.step_losses == run.exp.step_losses[::4] and len(snap.step_losses) == 9


def test_a_failing_step_gives_state_error_with_the_message(make_run, monkeypatch):
    run = make_run()

    def broken():
        raise RuntimeError("boom in step")

    monkeypatch.setattr(run.exp, "step", broken)
    run.start()
    assert run.wait(timeout=10)
    snap = run.snapshot()
    assert snap.state == "error" and snap.done and "RuntimeError: boom in step" in snap.message
    assert not run.thread_alive
    run.start()                                   # an errored run stays errored
    assert not run.thread_alive and run.state == "error"


def test_divergence_in_the_worker_ends_the_run(make_run, make_exp):
    run = make_run(make_exp("linear", layers=[], loss="mse", lr=10.0, epochs=30)).start()
    assert run.wait(timeout=20)
    snap = run.snapshot()
    assert snap.state == "diverged" and snap.done and "Lower the learning rate" in snap.message


def test_read_runs_between_steps(make_run):
    run = make_run().start()
    assert wait_until(lambda: run.snapshot().step > 0)
    count, losses = run.read(lambda e: (e.step_count, len(e.step_losses)))
    assert count == losses > 0


def test_the_worker_sets_its_own_thread_count(make_run, monkeypatch):
    assert run_module.MAX_THREADS >= 1
    main_threads = torch.get_num_threads()
    seen = []
    run = make_run(num_threads=2)
    step = run.exp.step

    def recording_step():
        seen.append(torch.get_num_threads())
        return step()

    monkeypatch.setattr(run.exp, "step", recording_step)
    try:
        run.start()
        assert wait_until(lambda: len(seen) > 0)
        run.stop()
    finally:
        torch.set_num_threads(main_threads)
    assert seen[0] == 2


def _steps_while(run: Run, seconds: float) -> int:
    before = run.exp.step_count
    time.sleep(seconds)
    return run.exp.step_count - before


def test_hold_training_pauses_workers_and_they_resume_after(make_run, monkeypatch):
    monkeypatch.setattr(run_module, "HOLD_MAX_SECONDS", 30.0)
    run = make_run().start()
    assert wait_until(lambda: run.snapshot().step > 0)
    with run_module.hold_training():
        time.sleep(0.1)                   # the worker ends its slice at its next step
        assert _steps_while(run, 0.3) == 0 and run.state == "running"
        assert run.snapshot().step == run.exp.step_count   # a held worker holds no lock: pages still read
    assert _steps_while(run, 0.3) > 0


def test_a_long_hold_slows_training_but_never_stops_it(make_run, monkeypatch):
    monkeypatch.setattr(run_module, "HOLD_MAX_SECONDS", 0.05)
    run = make_run().start()
    with run_module.hold_training(), run_module.hold_training():   # holds nest
        assert _steps_while(run, 0.5) > 0
    assert run_module._unheld.is_set()


def test_a_run_uses_the_specs_thread_count_capped_by_the_server(make_exp, monkeypatch):
    exp = make_exp(num_threads=3, epochs=1)
    monkeypatch.setattr(run_module, "MAX_THREADS", 2)
    run = Run(exp)
    assert run.num_threads == 2 and exp.metadata()["num_threads"] == 2  # the metadata says what it got
    assert Run(make_exp(epochs=1)).num_threads == 1                     # the spec's default


def test_a_paced_run_trains_no_faster_than_its_pace_and_learns_the_same(make_run, make_exp):
    paced, free = make_run(make_exp(epochs=ENDLESS)), make_run(make_exp(epochs=ENDLESS))
    paced.set_pace(5.0)                      # epochs a second; xor here has 10 steps an epoch
    started = time.perf_counter()
    paced.start()
    time.sleep(1.0)
    paced.pause()
    elapsed, epochs = time.perf_counter() - started, paced.snapshot().epoch
    assert 1 <= epochs <= 5.0 * elapsed + 1   # a bound the pace sets, whatever the machine's speed
    steps = paced.snapshot().step
    free.step(steps)
    assert paced.snapshot().step_losses == free.snapshot().step_losses
    with pytest.raises(ValueError, match="positive number of epochs a second"):
        paced.set_pace(0)
    paced.set_pace(None)
    assert paced.pace is None
