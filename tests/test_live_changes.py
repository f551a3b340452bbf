"""Settings changed while a run trains (train.changes): applied between two steps, recorded, replayed."""
import pytest
import torch

from playground import Experiment, ExperimentSpec, Run, SpecError
from test_export import assert_reproduces

BASE = {"seed": 2, "data": {"name": "spiral", "n_samples": 120, "noise": 0.1},
        "model": {"layers": [{"type": "dense", "units": 6, "activation": "tanh"}]},
        "train": {"optimizer": "sgd", "lr": 0.03, "momentum": 0.5, "regularization": "l2", "reg_rate": 0.0,
                  "batch_size": 10, "epochs": 6, "device": "cpu"}}
# mid-epoch (an epoch is 6 steps at batch 10, then 4 at batch 16), several at once, and reg_rate from 0
CHANGES = [{"step": 4, "lr": 0.3}, {"step": 9, "batch_size": 16, "reg_rate": 0.001},
           {"step": 15, "momentum": 0.9, "weight_decay": 0.01}, {"step": 22, "lr": 0.05}]


def metrics(exp: Experiment) -> list[dict]:
    """The history without its wall-clock column."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in exp.history]


def with_changes(changes, **train) -> ExperimentSpec:
    return ExperimentSpec.from_dict({**BASE, "train": {**BASE["train"], **train, "changes": changes}})


def test_changing_by_hand_equals_replaying_the_recorded_changes():
    by_hand = Experiment(with_changes([]))
    for change in CHANGES:
        while by_hand.step_count < change["step"]:
            by_hand.step()
        by_hand.change(**{k: v for k, v in change.items() if k != "step"})
    by_hand.fit()
    assert [c.to_dict() for c in by_hand.spec.train.changes] == CHANGES   # recorded, in the experiment file
    replayed = Experiment(ExperimentSpec.from_json(by_hand.spec.to_json()))
    replayed.fit()
    assert metrics(replayed) == metrics(by_hand)
    assert all(torch.equal(a, b) for a, b in zip(replayed.model.parameters(), by_hand.model.parameters()))


def test_a_change_takes_effect_at_the_next_step():
    exp = Experiment(with_changes([]))
    for _ in range(3):
        exp.step()
    exp.change(lr=0.2, batch_size=7)
    assert exp.lr == 0.2 and exp.batch_size == 7
    # 60 training points: the rest of this epoch in batches of 7 from sample 30 (30, 37, 44, 51, 58: the last
    # has 2), then whole epochs of 9 batches
    assert exp.steps_to_epoch_end() == 5
    exp.fit(2)
    assert [row["step"] for row in exp.history] == [3 + 5, 3 + 5 + 9] and exp.steps_per_epoch == 9


def test_changes_do_not_change_the_history_before_them():
    early = Experiment(with_changes([{"step": 30, "lr": 1.0}]))
    plain = Experiment(with_changes([]))
    early.fit(5)
    plain.fit(5)
    assert metrics(early) == metrics(plain)  # 5 epochs of 6 steps: the change is still ahead


@pytest.mark.slow
@pytest.mark.parametrize("schedule", ["none", "step"])
def test_the_exported_script_replays_the_changes(tmp_path, schedule):
    spec = with_changes(CHANGES, schedule=schedule, lr_step_size=2)
    assert_reproduces(spec, tmp_path)


@pytest.mark.parametrize("changes, field, words", [
    ([{"step": 3, "units": 4}], "train.changes[0].units", "cannot change while training"),
    ([{"step": -1, "lr": 0.1}], "train.changes[0].step", "non-negative integer"),
    ([{"step": 3}], "train.changes[0]", "changes nothing"),
    ([{"step": 3, "lr": 0}], "train.changes[0].lr", "more than 0"),
    ([{"step": 3, "batch_size": 10**9}], "train.changes[0].batch_size", "at most 100,000"),
    ([{"step": 9, "lr": 0.1}, {"step": 3, "lr": 0.2}], "train.changes[1].step", "step order"),
    ("lr", "train.changes", "must be a list"),
])
def test_bad_changes_are_named(changes, field, words):
    with pytest.raises(SpecError) as info:
        with_changes(changes)
    assert info.value.field == field and words in str(info.value)


def test_momentum_cannot_change_on_an_optimizer_without_it():
    with pytest.raises(SpecError, match=r"^train.changes\[0\].momentum: adam has no momentum"):
        with_changes([{"step": 1, "momentum": 0.9}], optimizer="adam")
    exp = Experiment(with_changes([], optimizer="adam"))
    with pytest.raises(SpecError, match="adam has no momentum"):
        exp.change(momentum=0.9)
    assert exp.spec.train.changes == ()  # a refused change is not recorded


def test_a_running_run_takes_a_change_without_stopping(make_exp):
    run = Run(Experiment(with_changes([], epochs=10_000))).start()
    try:
        while run.snapshot().step < 20:
            pass
        run.change(lr=0.1)
        at = run.snapshot().step
        assert run.state == "running" and run.exp.lr == 0.1
        (change,) = run.exp.spec.train.changes
        assert change.step >= 20 and change.step <= at
    finally:
        run.stop()


# --- in the app ---------------------------------------------------------------------------------------------

from pathlib import Path  # noqa: E402

from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def page(path: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).switch_page(path).run()


def test_the_playground_keeps_training_through_a_learning_rate_change():
    at = page("views/play.py")
    try:
        at.button(key="pg_step").click().run()
        run = at.session_state["playground_run"]
        steps = run.snapshot().step
        at.select_slider(key="playground:train.lr").set_value(0.3).run()
        assert not at.exception and at.session_state["playground_run"] is run   # not reset
        assert run.snapshot().step == steps and run.exp.lr == 0.3
        assert [c.to_dict() for c in run.exp.spec.train.changes] == [{"step": steps, "lr": 0.3}]
        assert at.session_state["playground_spec"] == run.exp.spec             # what is shared and exported
        at.slider(key="playground:train.batch_size").set_value(20).run()
        assert at.session_state["playground_run"] is run and run.exp.batch_size == 20
        at.button(key="pg_units_0_minus").click().run()                     # architecture: a new run
        new = at.session_state["playground_run"]
        assert new is not run and new.exp.spec.train.changes == () and new.exp.lr == 0.3
    finally:
        at.session_state["playground_run"].stop()


def test_the_train_page_changes_momentum_and_weight_decay_on_the_running_run():
    at = page("views/train.py")
    try:
        at.button(key="train_step").click().run()
        run = at.session_state["run"]
        at.number_input(key="main:train.momentum").set_value(0.9).run()
        at.number_input(key="main:train.weight_decay").set_value(0.001).run()
        assert not at.exception and at.session_state["run"] is run
        assert [c.to_dict() for c in run.exp.spec.train.changes] == [
            {"step": 1, "momentum": 0.9}, {"step": 1, "weight_decay": 0.001}]
        assert run.exp.optimizer.param_groups[0]["momentum"] == 0.9
        assert not at.info  # the run has the settings shown: no "settings have changed" note
    finally:
        at.session_state["run"].stop()
