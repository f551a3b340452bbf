"""Health flags: constructed telemetry for each rule's edges, and real short runs that provoke them."""
import math

import pandas as pd
import pytest
import torch

from playground import Experiment, Run
from playground.health import (DEAD_FRACTION, EXPLODING_GRAD_NORM, UPDATE_RATIO_HIGH, UPDATE_RATIO_LOW,
                               health_flags, loss_change, snapshot_flags)
from playground.telemetry import telemetry_frame

LAYERS = ("dense_0", "dense_1", "output")


def frame(n_steps: int = 10, every: int = 10, **columns) -> pd.DataFrame:
    """Telemetry rows for LAYERS; a column's value is a per-layer tuple, or a function (layer index, sample)."""
    base = {"grad_norm": (0.2, 0.3, 0.4), "update_ratio": (2e-3, 2e-3, 3e-3), "weight_norm": (1.5, 1.7, 0.6),
            "dead_fraction": (math.nan,) * 3, "saturated_fraction": (0.05, 0.05, math.nan)}
    base.update(columns)
    rows = []
    for k in range(n_steps):
        for i, layer in enumerate(LAYERS):
            row = {"step": k * every, "epoch": k // 5, "layer": layer}
            for name, value in base.items():
                row[name] = value(i, k) if callable(value) else value[i]
            rows.append(row)
    return pd.DataFrame(rows)


FALLING = [1.0 - 0.002 * i for i in range(200)]   # a loss that is still going down
FLAT = [0.7] * 200


def titles(flags) -> list[str]:
    return [f.title for f in flags]


def test_healthy_telemetry_raises_nothing():
    assert health_flags(frame(), FALLING, "running") == []


def test_empty_or_early_telemetry_judges_only_the_loss():
    assert health_flags(pd.DataFrame(), FALLING) == []
    assert health_flags(frame(n_steps=2, grad_norm=(1e-9, 1e-9, 1.0)), FALLING) == []
    rising = [0.5 + 0.01 * i for i in range(100)]
    assert titles(health_flags(pd.DataFrame(), rising)) == ["Learning rate looks too high"]


def test_vanishing_gradients_names_the_layers_and_the_gap():
    flags = health_flags(frame(grad_norm=(1e-7, 1e-4, 0.1)), FALLING)
    assert titles(flags) == ["Vanishing gradients"]
    assert "dense_0 is 1e-07" in flags[0].detail and "output 0.1" in flags[0].detail and "1e+06x" in flags[0].detail
    assert health_flags(frame(grad_norm=(1e-3, 1e-2, 0.1)), FALLING) == []  # 100x is not flagged


def test_exploding_gradients_by_size_and_by_growth():
    big = health_flags(frame(grad_norm=(1.0, 10.0, 2 * EXPLODING_GRAD_NORM)), FALLING)
    assert titles(big) == ["Exploding gradients"] and big[0].severity == "error" and "2e+03" in big[0].detail
    growing = frame(grad_norm=lambda i, k: 0.5 * 4.0 ** k)  # 0.5 -> ~1e5 over 10 samples
    flag = health_flags(growing, FALLING)[0]
    assert flag.title == "Exploding gradients" and "its size at the start" in flag.detail


def test_dead_relus_warn_and_fully_dead_is_an_error():
    warn = health_flags(frame(dead_fraction=(DEAD_FRACTION + 0.2, 0.1, math.nan)), FALLING)
    assert titles(warn) == ["Dead ReLUs"] and warn[0].severity == "warning" and "dense_0: 70%" in warn[0].detail
    dead = health_flags(frame(dead_fraction=(1.0, 1.0, math.nan), grad_norm=(0.0, 0.0, 0.0),
                              update_ratio=(0.0, 0.0, 0.0)), FLAT)
    assert titles(dead) == ["Dead ReLUs"] and dead[0].severity == "error"  # not also "vanishing" or "lr too low"


def test_saturation():
    flags = health_flags(frame(saturated_fraction=(0.9, 0.3, math.nan)), FALLING)
    assert titles(flags) == ["Saturated tanh/sigmoid units"] and "dense_0: 90%" in flags[0].detail


def test_lr_too_high_by_update_ratio_or_rising_loss():
    flags = health_flags(frame(update_ratio=(1e-3, 1e-3, 5 * UPDATE_RATIO_HIGH)), FALLING)
    assert titles(flags) == ["Learning rate looks too high"] and "output: update/weight ratio 0.5" in flags[0].detail
    rising = [0.5 + 0.01 * i for i in range(200)]
    assert "the mean loss rose" in health_flags(frame(), rising)[0].detail


def test_lr_too_low_needs_tiny_updates_normal_gradients_and_a_flat_loss():
    tiny = dict(update_ratio=(UPDATE_RATIO_LOW / 10,) * 3)
    assert titles(health_flags(frame(**tiny), FLAT)) == ["Learning rate looks too low"]
    assert health_flags(frame(**tiny), FALLING) == []                           # still learning
    assert health_flags(frame(grad_norm=(1e-5, 1e-5, 1e-5), **tiny), FLAT) == []  # converged: gradients are tiny


def test_divergence_from_state_or_a_non_finite_loss_comes_first():
    saturated = frame(saturated_fraction=(0.9, 0.9, math.nan))
    flags = health_flags(saturated, [0.5, math.inf], "diverged", "the loss became inf")
    assert titles(flags) == ["Training diverged"] and flags[0].detail == "the loss became inf"
    assert titles(health_flags(pd.DataFrame(), [0.5, math.nan])) == ["Training diverged"]


def test_errors_are_listed_before_warnings():
    flags = health_flags(frame(grad_norm=(1.0, 1.0, 5e3), update_ratio=(1e-3, 1e-3, 0.5)), FALLING)
    assert [f.severity for f in flags] == ["error", "warning"]


def test_loss_change_compares_the_two_halves_of_the_window():
    assert loss_change([1.0] * 10) is None  # too few points
    assert loss_change([1.0] * 50 + [2.0] * 50) == pytest.approx(1.0)
    assert loss_change([1.0] * 40 + [math.nan] * 5 + [1.0] * 40) == 0.0


# --- real short runs -------------------------------------------------------------------------------------

def train(d: dict, epochs: int, before=None) -> Experiment:
    exp = Experiment.from_dict(d)
    if before is not None:
        before(exp)
    exp.fit(epochs)
    return exp


def flags_of(exp: Experiment):
    return health_flags(exp.telemetry.frame(), exp.step_losses, exp.status, exp.message)


@pytest.mark.parametrize("name", ["xor", "spiral", "circle"])
def test_default_runs_are_healthy(name):
    assert flags_of(train({"data": {"name": name}}, 20)) == []


def _negative_bias(exp: Experiment) -> None:
    with torch.no_grad():
        for name, p in exp.model.named_parameters():
            if name.endswith("0.bias") and not name.startswith("output"):
                p.fill_(-10.0)


RELU = [{"type": "dense", "units": 8, "activation": "relu"}] * 2
SIGMOID8 = [{"type": "dense", "units": 8, "activation": "sigmoid"}] * 8
TANH = [{"type": "dense", "units": 8, "activation": "tanh"}] * 2


@pytest.mark.parametrize("d, epochs, before, title", [
    ({"data": {"name": "xor"}, "model": {"layers": RELU}}, 3, _negative_bias, "Dead ReLUs"),
    ({"data": {"name": "spiral"}, "model": {"layers": SIGMOID8}}, 5, None, "Vanishing gradients"),
    ({"data": {"name": "xor"}, "train": {"lr": 1e-5}}, 5, None, "Learning rate looks too low"),
    ({"data": {"name": "spiral"}, "train": {"lr": 3.0}}, 5, None, "Learning rate looks too high"),
    ({"data": {"name": "linear"}, "model": {"layers": []},
      "train": {"loss": "mse", "lr": 1.5, "batch_size": 50, "telemetry_every": 1}}, 5, None, "Exploding gradients"),
    ({"data": {"name": "linear"}, "model": {"layers": TANH},
      "train": {"loss": "mse", "lr": 0.5, "momentum": 0.9}}, 5, None, "Training diverged"),
    ({"data": {"name": "circle"}, "model": {"layers": TANH, "init": "zeros"}}, 5, None, "Weights that never change"),
])
def test_real_runs_provoke_their_flag(d, epochs, before, title):
    assert title in titles(flags_of(train(d, epochs, before)))


def test_zero_weights_name_every_layer_the_symmetry_freezes_and_dead_relus_say_why():
    tanh = flags_of(train({"data": {"name": "circle"}, "model": {"layers": TANH, "init": "zeros"}}, 5))
    assert titles(tanh) == ["Weights that never change"] and "dense_0, dense_1, output" in tanh[0].detail
    relu = flags_of(train({"data": {"name": "circle"}, "model": {"layers": RELU, "init": "zeros"}}, 5))
    assert titles(relu) == ["Dead ReLUs"] and "Initialization: zeros" in relu[0].fix


def test_snapshot_flags_reads_a_runs_snapshot():
    run = Run(Experiment.from_dict({"data": {"name": "xor"}, "model": {"layers": RELU}}))
    _negative_bias(run.exp)
    run.step(60)
    flags = snapshot_flags(run.snapshot(), run.read(telemetry_frame))
    run.stop()
    assert titles(flags) == ["Dead ReLUs"] and "dense_0: 100%" in flags[0].detail
