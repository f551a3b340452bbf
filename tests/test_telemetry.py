"""Telemetry: what is sampled and when, histograms, dead/saturated units, update ratios, bounded memory."""
import math

import pytest
import torch

from playground import telemetry
from playground.telemetry import HIST_BINS, capture_activations, histogram

WEIGHTED = ["dense_0", "dense_1", "output"]


def test_rows_every_k_steps_per_weighted_layer(make_exp):
    exp = make_exp(layers=[(8, "tanh"), {"type": "dropout", "rate": 0.1}, (4, "relu")], telemetry_every=5)
    for _ in range(23):
        exp.step()
    frame = exp.telemetry.frame()
    assert sorted(set(frame["step"])) == [0, 5, 10, 15, 20]
    assert (frame.groupby("step")["layer"].apply(list) == [["dense_0", "dense_2", "output"]] * 5).all()
    assert frame.loc[frame["step"] == 15, "epoch"].eq(1).all()        # 10 steps per epoch
    assert {"weight_norm", "grad_norm", "update_ratio", "weight_mean", "weight_std", "act_mean", "act_std",
            "dead_fraction", "saturated_fraction"} <= set(frame.columns)
    by_layer = frame[frame["step"] == 20].set_index("layer")
    assert by_layer.loc["dense_0", "saturated_fraction"] >= 0 and by_layer.loc["dense_2", "dead_fraction"] >= 0
    assert by_layer.loc["output", ["act_mean", "dead_fraction"]].isna().all()  # the raw output is not hooked
    assert set(exp.telemetry.latest) == {"dense_0", "dense_2", "output"}
    assert exp.telemetry.latest["output"]["step"] == 20


def test_telemetry_every_zero_samples_nothing(make_exp):
    exp = make_exp(telemetry_every=0)
    exp.fit(1)
    assert exp.telemetry.frame().empty and exp.telemetry.histogram_frame("dense_0", "weight").empty
    assert not exp.telemetry.latest


def test_histograms_count_every_weight_and_gradient(make_exp):
    exp = make_exp(telemetry_every=4)
    every = 4 * telemetry.HIST_EVERY   # histograms come with every HIST_EVERY-th sample
    for _ in range(2 * every + 1):     # the last step is a histogram sample, so the weights are as sampled
        exp.step()
    for layer, param in (("dense_0", exp.model.dense_0[0].weight), ("output", exp.model.output[0].weight)):
        for kind in ("weight", "grad"):
            frame = exp.telemetry.histogram_frame(layer, kind)
            assert list(frame.columns) == ["step", "counts", "lo", "hi"]
            assert frame["step"].tolist() == [0, every, 2 * every]
            assert all(len(c) == HIST_BINS and sum(c) == param.numel() for c in frame["counts"])
        last = exp.telemetry.histogram_frame(layer, "weight").iloc[-1]
        assert (last["lo"], last["hi"]) == pytest.approx((param.min().item(), param.max().item()))


def test_histogram_matches_histc_and_scales_large_tensors():
    t = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    h = histogram(t)
    assert h["counts"] == torch.histc(t, HIST_BINS, t.min().item(), t.max().item()).tolist()
    big = torch.randn(300, 200, generator=torch.Generator().manual_seed(1))
    hb = histogram(big)
    assert sum(hb["counts"]) == pytest.approx(big.numel())
    assert (hb["lo"], hb["hi"]) == (big.min().item(), big.max().item())
    middle = sum(hb["counts"][HIST_BINS // 4: 3 * HIST_BINS // 4])   # the shape survives: most mass near 0
    assert middle > 0.8 * big.numel()
    constant = histogram(torch.full((5,), 2.0))                      # a zero-width range is widened to +-0.5
    assert (constant["lo"], constant["hi"]) == (1.5, 2.5)
    assert constant["counts"] == [0.0] * (HIST_BINS // 2) + [5.0] + [0.0] * (HIST_BINS // 2 - 1)


def test_histogram_leaves_out_non_finite_values():
    h = histogram(torch.tensor([float("nan"), 1.0, 2.0, float("inf"), -float("inf")]))
    assert sum(h["counts"]) == 2 and (h["lo"], h["hi"]) == (1.0, 2.0)
    assert histogram(torch.full((3,), float("nan")))["counts"] == [0.0] * HIST_BINS


@pytest.mark.parametrize("name, layers", [
    ("xor", [(8, "relu"), (8, "relu")]),
    ("digits", [{"type": "conv2d", "filters": 4}, (8, "relu")]),
])
def test_dead_fraction_detects_a_dead_relu_layer(make_exp, name, layers):
    exp = make_exp(name, layers=layers, telemetry_every=1, loss="cross_entropy" if name == "digits" else "bce")
    with torch.no_grad():
        next(iter(exp.model.children()))[0].bias.fill_(-100.0)      # every unit of the first layer is <= 0
    exp.step()
    rows = exp.telemetry.frame().set_index("layer")
    first, second = exp.model.blocks[0].name, exp.model.blocks[-2].name
    assert rows.loc[first, "dead_fraction"] == 1.0
    assert rows.loc[first, "act_mean"] == 0.0 and rows.loc[first, "act_std"] == 0.0
    assert rows.loc[second, "dead_fraction"] < 1.0                   # its bias keeps some units alive
    assert math.isnan(rows.loc[first, "saturated_fraction"])        # ReLU does not squash


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_saturated_fraction_detects_large_weights(make_exp, activation):
    fractions = {}
    for scale in (100.0, 0.001):
        exp = make_exp(layers=[(16, activation)], telemetry_every=1)
        with torch.no_grad():
            exp.model.dense_0[0].weight.mul_(scale)
            exp.model.dense_0[0].bias.zero_()
        exp.step()
        fractions[scale] = exp.telemetry.latest["dense_0"]["saturated_fraction"]
    assert fractions[100.0] > 0.9 and fractions[0.001] == 0.0


def test_update_ratio_and_norms_for_plain_sgd(make_exp):
    lr = 0.1
    exp = make_exp(optimizer="sgd", lr=lr, telemetry_every=1)
    before = {name: w.detach().clone() for name, w in exp.telemetry.weights.items()}
    exp.step()
    for name, w in exp.telemetry.weights.items():
        row = exp.telemetry.latest[name]
        grad_norm = ((before[name] - w.detach()) / lr).norm().item()  # plain SGD: the update is -lr * grad
        assert row["grad_norm"] == pytest.approx(grad_norm, rel=1e-4)
        assert row["weight_norm"] == pytest.approx(w.detach().norm().item(), rel=1e-6)
        assert row["update_ratio"] == pytest.approx(lr * row["grad_norm"] / before[name].norm().item(), rel=1e-4)
        assert row["weight_mean"] == pytest.approx(w.mean().item(), abs=1e-7)


def test_activation_stats_match_a_manual_forward_on_the_batch(make_exp):
    exp = make_exp(layers=[(6, "tanh")], batch_size=100, telemetry_every=1)   # the batch is the whole train split
    with torch.no_grad():
        a = exp.model.dense_0(exp.data.x_train)
    exp.step()
    row = exp.telemetry.latest["dense_0"]
    assert row["act_mean"] == pytest.approx(a.mean().item(), abs=1e-6)
    assert row["act_std"] == pytest.approx(a.std().item(), rel=1e-5)
    assert row["saturated_fraction"] == pytest.approx((a.abs() > telemetry.SATURATION).float().mean().item())


def test_memory_is_bounded(make_exp, monkeypatch):
    monkeypatch.setattr(telemetry, "MAX_SAMPLES", 4)
    monkeypatch.setattr(telemetry, "MAX_HISTOGRAMS", 3)
    exp = make_exp(telemetry_every=1)
    for _ in range(20):
        exp.step()
    frame = exp.telemetry.frame()
    steps = sorted(set(frame["step"]))
    assert len(frame) <= 3 * 5 and steps[0] == 0 and (frame.groupby("step").size() == 3).all()
    assert exp.telemetry.histogram_frame("dense_1", "grad")["step"].tolist() == list(range(0, 20, telemetry.HIST_EVERY))[-3:]


def test_capture_activations_is_eval_mode_and_restores_training(make_exp):
    exp = make_exp(layers=[(8, "relu"), {"type": "dropout", "rate": 0.9}])
    x = exp.data.x_test[:20]
    exp.model.train()
    first = capture_activations(exp.model, x)
    assert exp.model.training
    assert torch.equal(first["dropout_1"], first["dense_0"])          # eval mode: dropout passes through
    assert list(first) == ["dense_0", "dropout_1", "output"] and first["output"].shape == (20, 1)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_gradients_read_after_the_update_are_the_ones_it_used(make_exp, optimizer):
    """Telemetry reads .grad after optimizer.step(): each optimizer (momentum, weight decay on) must leave it as is."""
    exp = make_exp(optimizer=optimizer, momentum=0.9, weight_decay=0.1, telemetry_every=1)
    seen, step = {}, exp.optimizer.step
    def step_and_keep(*args, **kwargs):
        seen.update({name: w.grad.norm().item() for name, w in exp.telemetry.weights.items()})
        return step(*args, **kwargs)
    exp.optimizer.step = step_and_keep
    exp.step()
    assert {name: row["grad_norm"] for name, row in exp.telemetry.latest.items()} == pytest.approx(seen, rel=1e-6)


def test_a_layer_over_the_histogram_sample_keeps_its_size_and_range(make_exp):
    exp = make_exp("digits", layers=[(128, "relu")], loss="cross_entropy", telemetry_every=1)
    weight = exp.model.dense_0[0].weight                            # 64 x 128: histogrammed on a subset
    assert weight.numel() > telemetry.HIST_SAMPLE
    exp.step()
    last = exp.telemetry.histogram_frame("dense_0", "weight").iloc[-1]
    assert sum(last["counts"]) == pytest.approx(weight.numel())
    assert (last["lo"], last["hi"]) == pytest.approx((weight.min().item(), weight.max().item()))
    assert exp.telemetry.latest["dense_0"]["weight_std"] == pytest.approx(weight.std().item(), rel=1e-4)
