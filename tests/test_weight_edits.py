"""Weights typed in by hand (train.weight_edits): set between two steps, exactly, recorded and replayed."""
import re

import pytest
import torch

from playground import Experiment, ExperimentSpec, Run, SpecError
from playground.charts import link_at, link_name
from test_export import assert_reproduces_in_process
from test_live_changes import BASE, metrics

EDITS = [(0, 0, 2, 1, 1.5), (7, 1, 0, 4, -2.0), (7, 0, 5, 0, 0.25)]   # (step, layer, unit, source, value)


def edited_by_hand() -> Experiment:
    exp = Experiment(ExperimentSpec.from_dict(BASE))
    for step, *edit in EDITS:
        while exp.step_count < step:
            exp.step()
        exp.edit_weight(*edit)
        layer, unit, source, value = edit
        assert exp.model.dense_layers()[layer].weight[unit, source].item() == value   # set at once, exactly
    exp.fit()
    return exp


def test_editing_by_hand_equals_replaying_the_recorded_edits():
    by_hand = edited_by_hand()
    assert [tuple(e.to_dict().values()) for e in by_hand.spec.train.weight_edits] == EDITS
    replayed = Experiment(ExperimentSpec.from_json(by_hand.spec.to_json()))
    replayed.fit()
    assert metrics(replayed) == metrics(by_hand)
    assert all(torch.equal(a, b) for a, b in zip(replayed.model.parameters(), by_hand.model.parameters()))
    plain = Experiment(ExperimentSpec.from_dict(BASE))
    plain.fit()
    assert metrics(plain) != metrics(by_hand)                     # the edits did change the run


def test_the_exported_script_replays_the_edits():
    assert_reproduces_in_process(edited_by_hand().spec)


def test_a_new_run_from_an_edited_one_starts_without_its_edits():
    assert edited_by_hand().spec.latest().train.weight_edits == ()


@pytest.mark.parametrize("edit,field,words", [
    ({"layer": 2}, "train.weight_edits[0].layer", "the network has 2 dense layers (0 to 1), got 2"),
    ({"unit": 6}, "train.weight_edits[0].unit", "dense layer 0 has 6 units (0 to 5), got 6"),
    ({"layer": 1, "source": 6}, "train.weight_edits[0].source", "dense layer 1 has 6 inputs (0 to 5), got 6"),
    ({"value": 101}, "train.weight_edits[0].value", "must be a number from -100 to 100"),
    ({"step": -1}, "train.weight_edits[0].step", "must be a non-negative integer"),
])
def test_bad_edits_are_named(edit, field, words):
    entry = {"step": 0, "layer": 0, "unit": 0, "source": 0, "value": 0.5, **edit}
    with pytest.raises(SpecError, match=f"^{re.escape(field)}: {re.escape(words)}"):
        Experiment.from_dict({**BASE, "train": {**BASE["train"], "weight_edits": [entry]}})


def test_a_running_run_takes_an_edit_without_stopping(make_exp):
    run = Run(make_exp(epochs=10_000))
    run.start()
    try:
        run.edit_weight(0, 1, 0, 3.0)
        assert run.state == "running" and run.spec.train.weight_edits[0].value == 3.0
    finally:
        run.stop()


def test_a_click_picks_the_nearest_link_and_none_on_a_node_or_away():
    weights = [torch.zeros(3, 2).numpy(), torch.zeros(1, 3).numpy()]    # 2 inputs, 3 units, 1 output
    # inputs at x = 0 (y 0.5, -0.5), units at x = 1 (y 1, 0, -1), the output at x = 2 (y 0)
    assert link_at(weights, 0.25, 0.375) == (0, 1, 0)                    # a quarter of the way from x1 to unit 2
    assert link_at(weights, 1.5, -0.5) == (1, 0, 2)                      # unit 3 to the output
    assert link_at(weights, 1.0, 0.0) is None                            # on unit 2's map
    assert link_at(weights, 0.5, 1.2) is None                            # above every link
    assert link_name(weights, ("x1", "x2"), 0, 1, 0) == "x1 → layer 1 unit 2"
