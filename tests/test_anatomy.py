"""Inside one training step (playground.anatomy): what the preview reads is what the step then does."""
import numpy as np
import pytest
import torch

from playground import Experiment, ExperimentSpec
from playground.anatomy import preview_step, update_of

SPEC = {"data": {"name": "xor", "n_samples": 100},
        "model": {"layers": [{"type": "dense", "units": 4, "activation": "tanh"},
                             {"type": "dense", "units": 2, "activation": "relu"}]},
        "train": {"regularization": "l2", "reg_rate": 0.01, "epochs": 3, "device": "cpu"}}


def experiment(**train) -> Experiment:
    return Experiment(ExperimentSpec.from_dict({**SPEC, "train": {**SPEC["train"], **train}}))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_preview_is_the_next_steps_batch_loss_and_gradients(optimizer):
    exp = experiment(optimizer=optimizer)
    for _ in range(7):   # mid-epoch; 5 steps an epoch
        exp.step()
    seen = preview_step(exp)
    metrics = exp.step()
    assert seen.step == exp.step_count == 8 and seen.loss == metrics.loss and seen.objective > seen.loss
    for layer, grad in zip(exp.model.dense_layers(), seen.weight_grads):
        assert torch.equal(layer.weight.grad, torch.from_numpy(grad))    # what the optimizer received, exactly
    assert [v.shape for v in seen.values] == [(10, 2), (10, 4), (10, 2), (10, 1)]
    assert np.allclose(seen.values[-1][:, 0], seen.outputs) and ((0 <= seen.outputs) & (seen.outputs <= 1)).all()


def test_a_preview_changes_nothing_the_run_does():
    plain, looked = experiment(), experiment()
    plain.fit()
    while not looked.done:
        preview_step(looked)   # at every step, epoch starts included
        looked.step()
    assert plain.history_frame().drop(columns="seconds").equals(looked.history_frame().drop(columns="seconds"))


def test_the_update_of_plain_sgd_is_minus_the_rate_times_the_gradient():
    exp = experiment(lr=0.1)
    seen = preview_step(exp)
    exp.step()
    weight_changes, bias_changes = update_of(exp, seen)
    for change, grad in zip(weight_changes + bias_changes, seen.weight_grads + seen.bias_grads):
        assert np.allclose(change, -0.1 * grad, atol=1e-7)
