"""Experiment: a step against hand-computed and torch.func gradients, losses and penalties against their
formulas, and seeded real outcomes (accuracy, recovered coefficients, divergence, early stopping)."""
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from playground import Experiment, ExperimentSpec, SpecError, TrainingDiverged, registry
from playground.data import TASKS, Dataset
from playground.objectives import (
    compute_loss,
    count_correct,
    make_optimizer,
    make_scheduler,
    penalised_weights,
    penalty,
    resolve_device,
)
from playground.plane import decision_grid
from playground.spec import TrainSpec
from playground.train import METRIC_COLUMNS

# --- oracle: one step of a 2-2-1 tanh net -----------------------------------------------------------

W1, B1 = [[0.5, -0.3], [0.8, 0.2]], [0.1, -0.2]
W2, B2 = [[1.0, -1.5]], [0.05]
LR = 0.1


def tiny_experiment(regularization: str = "none", reg_rate: float = 0.0) -> Experiment:
    """A 2-2-1 tanh net with known weights on 6 points, one batch per epoch, plain SGD."""
    x = torch.tensor([[0.5, 1.0], [-1.0, 0.3], [0.2, -0.7], [1.5, 1.2], [-0.4, -0.9], [0.9, -1.1]])
    y = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    data = Dataset("hand", "binary", x, y, x[:2], y[:2], ("x1", "x2"), ("0", "1"))
    spec = ExperimentSpec.from_dict({
        "model": {"layers": [{"type": "dense", "units": 2, "activation": "tanh"}]},
        "train": {"optimizer": "sgd", "lr": LR, "batch_size": 6, "loss": "bce", "telemetry_every": 0,
                  "regularization": regularization, "reg_rate": reg_rate}})
    exp = Experiment(spec, dataset=data)
    with torch.no_grad():
        for p, v in zip(exp.model.parameters(), (W1, B1, W2, B2)):
            p.copy_(torch.tensor(v))
    return exp


def step_gradients(exp: Experiment) -> tuple[float, dict[str, torch.Tensor]]:
    """Take one SGD step; the update divided by -lr is the gradient the step used."""
    before = {k: p.detach().clone() for k, p in exp.model.named_parameters()}
    loss = exp.step().loss
    return loss, {k: (before[k] - p.detach()) / LR for k, p in exp.model.named_parameters()}


def test_a_step_matches_hand_computed_loss_and_gradients():
    exp = tiny_experiment()
    x, y = exp.data.x_train.double(), exp.data.y_train.double()
    w1, b1, w2, b2 = (torch.tensor(v, dtype=torch.float64) for v in (W1, B1, W2, B2))
    h = torch.tanh(x @ w1.T + b1)                    # (6, 2)
    p = 1 / (1 + torch.exp(-(h @ w2.T + b2)[:, 0]))  # (6,)
    expected_loss = -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
    dz = (p - y) / len(y)                            # d loss / d logit
    da = (dz[:, None] * w2) * (1 - h ** 2)           # back through tanh, (6, 2)
    expected = {"output.0.weight": dz @ h, "output.0.bias": dz.sum(0, keepdim=True),
                "dense_0.0.weight": da.T @ x, "dense_0.0.bias": da.sum(0)}
    loss, grads = step_gradients(exp)
    assert loss == pytest.approx(expected_loss.item(), abs=1e-6)
    for name, g in expected.items():
        assert torch.allclose(grads[name].double(), g.reshape(grads[name].shape), atol=1e-5), name


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_penalised_step_matches_torch_func_and_spares_biases(kind):
    rate = 0.3
    exp = tiny_experiment(kind, rate)
    x, y = exp.data.x_train, exp.data.y_train
    params = {k: p.detach().clone() for k, p in exp.model.named_parameters()}

    def data_loss(ps):
        return F.binary_cross_entropy_with_logits(torch.func.functional_call(exp.model, ps, (x,))[:, 0], y)

    def objective(ps):
        weights = (ps["dense_0.0.weight"], ps["output.0.weight"])
        extra = sum(w.abs().sum() for w in weights) if kind == "l1" else 0.5 * sum((w ** 2).sum() for w in weights)
        return data_loss(ps) + rate * extra

    expected = torch.func.grad(objective)(params)
    plain = torch.func.grad(data_loss)(params)
    loss, grads = step_gradients(exp)
    assert loss == pytest.approx(data_loss(params).item(), abs=1e-6)  # the reported loss has no penalty
    for name, g in expected.items():
        assert torch.allclose(grads[name], g, atol=1e-5), name
    assert torch.allclose(grads["output.0.bias"], plain["output.0.bias"], atol=1e-6)
    assert not torch.allclose(grads["output.0.weight"], plain["output.0.weight"], atol=1e-3)


# --- oracle: losses, penalties, counting -------------------------------------------------------------

def _hand(loss: str, pred: torch.Tensor, target: torch.Tensor) -> float:
    d = pred - target
    return {"mse": (d ** 2).mean(), "mae": d.abs().mean(),
            "huber": torch.where(d.abs() < 1, 0.5 * d ** 2, d.abs() - 0.5).mean()}[loss].item()


def _bce(logits: torch.Tensor, target: torch.Tensor) -> float:
    p = 1 / (1 + torch.exp(-logits))
    return (-(target * torch.log(p) + (1 - target) * torch.log(1 - p))).mean().item()


@pytest.mark.parametrize("task, loss", [(t, l) for t in TASKS for l in registry.LOSSES
                                        if not (t == "regression" and l in registry.CLASSIFICATION_ONLY_LOSSES)])
def test_compute_loss_matches_the_formula_per_task(task, loss):
    g = torch.Generator().manual_seed(1)
    out = torch.randn(8, 3 if task == "multiclass" else 1, generator=g, dtype=torch.float64) * 2
    if task == "multiclass":
        y = torch.tensor([0, 1, 2, 2, 1, 0, 0, 2])
        onehot = torch.eye(3, dtype=torch.float64)[y]
        expected = {"cross_entropy": -out.log_softmax(1)[torch.arange(8), y].mean().item(),
                    "bce": _bce(out, onehot)}.get(loss) or _hand(loss, out.softmax(1), onehot)
    elif task == "binary":
        y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1], dtype=torch.float64)
        expected = _bce(out[:, 0], y) if loss in registry.CLASSIFICATION_ONLY_LOSSES else _hand(
            loss, 1 / (1 + torch.exp(-out[:, 0])), y)
    else:
        y = torch.randn(8, generator=g, dtype=torch.float64) * 2
        expected = _hand(loss, out[:, 0], y)
    assert compute_loss(loss, task, out, y).item() == pytest.approx(expected, rel=1e-9)


def test_compute_loss_hand_values():
    assert compute_loss("bce", "binary", torch.zeros(4, 1), torch.tensor([0.0, 1, 1, 0])).item() == pytest.approx(
        math.log(2))
    assert compute_loss("mse", "regression", torch.tensor([[1.0], [2.0]]), torch.zeros(2)).item() == 2.5
    assert compute_loss("huber", "regression", torch.tensor([[0.5], [3.0]]), torch.zeros(2)).item() == 1.3125


def test_count_correct():
    assert count_correct("binary", torch.tensor([[2.0], [-1.0], [0.5]]), torch.tensor([1.0, 1.0, 0.0])).item() == 1
    assert count_correct("multiclass", torch.tensor([[0.1, 0.9], [3.0, 1.0]]), torch.tensor([1, 1])).item() == 1


def test_penalty_values_and_which_weights():
    exp = Experiment.from_dict({"data": {"name": "digits"}, "model": {"layers": [
        {"type": "conv2d", "filters": 2}, {"type": "batchnorm"}, {"type": "dense", "units": 3}]},
        "train": {"loss": "cross_entropy"}})
    weights = penalised_weights(exp.model)
    named = {id(p): n for n, p in exp.model.named_parameters()}
    assert [named[id(w)] for w in weights] == ["conv2d_0.0.weight", "dense_2.0.weight", "output.0.weight"]
    a, b = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.5], [-3.0]])
    assert penalty("l1", 0.1, [a, b]).item() == pytest.approx(0.1 * (1 + 2 + 0.5 + 3))
    assert penalty("l2", 0.1, [a, b]).item() == pytest.approx(0.1 * 0.5 * (1 + 4 + 0.25 + 9))
    assert penalty("none", 0.1, [a, b]) == 0.0 and penalty("l2", 0.0, [a, b]) == 0.0


@pytest.mark.parametrize("name", list(registry.OPTIMIZERS))
def test_make_optimizer_passes_the_settings(name):
    spec = TrainSpec(optimizer=name, lr=0.2, weight_decay=0.01,
                     momentum=0.9 if name in ("sgd", "rmsprop") else 0.0, nesterov=name == "sgd")
    opt = make_optimizer(spec, [torch.nn.Parameter(torch.zeros(2))])
    group = opt.param_groups[0]
    assert type(opt) is registry.OPTIMIZERS[name] and group["lr"] == 0.2 and group["weight_decay"] == 0.01
    if name in ("sgd", "rmsprop"):
        assert group["momentum"] == 0.9
    if name == "sgd":
        assert group["nesterov"] is True


def test_no_schedule_is_none():
    assert make_scheduler(TrainSpec(), torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)) is None


def test_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") == resolve_device("cpu")
    for name in ("cuda", "mps"):
        with pytest.raises(SpecError, match=f"^train.device: {name} was asked for but this machine has none"):
            Experiment.from_dict({"data": {"name": "xor", "n_samples": 20}, "train": {"device": name}})


# --- bad input that needs the data -------------------------------------------------------------------

@pytest.mark.parametrize("loss", registry.CLASSIFICATION_ONLY_LOSSES)
@pytest.mark.parametrize("name", ["linear", "plane", "multi_gauss"])
def test_classification_loss_on_a_regression_set(make_exp, name, loss):
    with pytest.raises(SpecError, match=f"^train.loss: {loss} is for classification but {name} is a regression set"):
        make_exp(name, loss=loss)


def test_a_training_split_of_one_sample_is_a_spec_error(make_exp):
    with pytest.raises(SpecError, match="^data: the training split has 1 sample"):
        make_exp("digits", layers=[{"type": "flatten"}], loss="cross_entropy", data={"max_samples": 1})


@pytest.mark.parametrize("n", [4, 10])
def test_a_toy_split_gives_training_two_points_and_testing_one_whatever_the_fraction(make_exp, n):
    exp = make_exp(data={"n_samples": n, "test_fraction": 0.9})
    assert len(exp.data.x_train) == 2 and len(exp.data.x_test) == n - 2


# --- real outcomes, seeded ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["xor", "circle"])
def test_small_tanh_net_learns_toy_sets(make_exp, name):
    history = make_exp(name, optimizer="adam", lr=0.03, batch_size=10, epochs=30).fit()
    assert len(history) == 30
    assert history["test_accuracy"].iloc[-1] > 0.95      # seed 0: xor 0.99, circle 1.00
    assert history["test_loss"].iloc[-1] < history["test_loss"].iloc[0]


def test_spiral_is_learnable_with_a_larger_net(make_exp):
    exp = make_exp("spiral", layers=[(32, "relu")] * 3, data={"n_samples": 400}, optimizer="adam", lr=0.01, epochs=100)
    assert exp.fit()["test_accuracy"].iloc[-1] > 0.9     # seed 0: 0.985


def test_linear_regression_recovers_slope_and_intercept(make_exp):
    exp = make_exp("linear", layers=[], data={"noise": 0.1}, loss="mse", lr=0.1, epochs=30)
    history = exp.fit()
    (slope, unused), intercept = exp.model.output[0].weight[0].tolist(), exp.model.output[0].bias.item()
    assert slope == pytest.approx(3, abs=0.05)           # seed 0: 2.971
    assert intercept == pytest.approx(2, abs=0.05)       # 1.991
    assert unused == pytest.approx(0, abs=0.05)          # x2 is irrelevant: -0.011
    assert history["test_loss"].iloc[-1] < 0.02          # the noise's variance is 0.01
    assert history["test_accuracy"].isna().all() and history["train_accuracy"].isna().all()


def test_small_conv_net_lowers_the_loss_on_digits(make_exp):
    exp = make_exp("digits", layers=[{"type": "conv2d", "filters": 4}, {"type": "maxpool2d"}], loss="cross_entropy",
                   optimizer="adam", lr=0.01, batch_size=32, epochs=2, data={"test_fraction": 0.5})
    initial, _ = exp.evaluate()
    history = exp.fit()
    assert history["test_loss"].iloc[-1] < 0.5 * initial  # seed 0: 2.33 -> 0.69
    assert history["test_accuracy"].iloc[-1] > 0.6       # 0.86
    assert history["train_loss"].iloc[1] < history["train_loss"].iloc[0]


@pytest.mark.parametrize("settings", [{"optimizer": name} for name in registry.OPTIMIZERS]
                         + [{"optimizer": "sgd", "momentum": 0.9, "nesterov": True}])
def test_every_optimizer_reduces_the_loss_on_xor(make_exp, settings):
    exp = make_exp(lr=0.05, epochs=20, **settings)
    initial, _ = exp.evaluate("train")
    exp.fit()
    assert exp.evaluate("train")[0] < 0.85 * initial     # seed 0: sgd 0.70 -> 0.48, the others lower


@pytest.mark.parametrize("schedule, lrs", [
    ("none", [0.03] * 10),
    ("step", [0.03] * 3 + [0.021] * 3 + [0.0147] * 3 + [0.01029]),
    ("exponential", [0.03 * 0.7 ** e for e in range(10)]),
    ("cosine", [0.03 * (1 + math.cos(math.pi * e / 10)) / 2 for e in range(10)]),
])
def test_every_schedule_sets_the_epoch_lr_and_reduces_the_loss(make_exp, schedule, lrs):
    assert set(registry.SCHEDULES) == {"none", "step", "exponential", "cosine"}
    exp = make_exp(optimizer="adam", lr=0.03, epochs=10, schedule=schedule, lr_step_size=3, lr_gamma=0.7)
    initial, _ = exp.evaluate("train")
    history = exp.fit()
    assert history["lr"].tolist() == pytest.approx(lrs)
    assert exp.evaluate("train")[0] < 0.6 * initial      # seed 0: exponential 0.70 -> 0.25, the others lower


DROPOUT_NET = [(16, "tanh"), {"type": "dropout", "rate": 0.3}, (8, "relu")]


def _history(exp: Experiment) -> pd.DataFrame:
    return exp.history_frame().drop(columns="seconds")


def test_same_seed_same_history_even_with_dropout_and_interleaved(make_exp):
    a, b = make_exp(layers=DROPOUT_NET, epochs=5), make_exp(layers=DROPOUT_NET, epochs=5)
    while not (a.done and b.done):  # two runs side by side share torch's global RNG: each keeps its own stream
        a.step()
        b.step()
    c = make_exp(layers=DROPOUT_NET, epochs=5)
    c.fit()
    pd.testing.assert_frame_equal(_history(a), _history(b))
    pd.testing.assert_frame_equal(_history(a), _history(c))
    assert a.step_losses == c.step_losses
    other = make_exp(layers=DROPOUT_NET, epochs=5, seed=1)
    other.fit()
    assert other.step_losses != a.step_losses
    assert not _history(other).equals(_history(a))


@pytest.mark.parametrize("name, layers, telemetry_every", [
    ("linear", [], 10),
    ("plane", [(8, "relu")], 1),   # NaN weights on a sampled step: telemetry must not turn this into a crash
])
def test_divergence_stops_keeps_history_and_says_what_to_do(make_exp, name, layers, telemetry_every):
    exp = make_exp(name, layers=layers, loss="mse", lr=10.0, epochs=30, telemetry_every=telemetry_every)
    history = exp.fit()
    assert exp.status == "diverged" and exp.done
    assert "Lower the learning rate (now 10)" in exp.message and f"at step {exp.step_count}" in exp.message
    assert len(history) == exp.epoch and exp.epoch < 30
    assert not math.isfinite(exp.step_losses[-1]) and len(exp.step_losses) == exp.step_count
    with pytest.raises(TrainingDiverged, match="Lower the learning rate"):
        exp.step()
    pd.testing.assert_frame_equal(exp.fit(), history)   # fit after divergence is a no-op, not an error


@pytest.mark.parametrize("patience", [1, 2])
def test_early_stopping_on_an_overfitting_setup(make_exp, patience):
    exp = make_exp(layers=[(64, "relu")] * 3, data={"n_samples": 60, "noise": 0.5}, optimizer="adam", lr=0.03,
                   epochs=300, early_stopping_patience=patience)
    history = exp.fit()
    assert exp.status == "early_stopped" and exp.done and len(history) < 300
    losses = history["test_loss"].tolist()
    best = losses.index(min(losses))
    assert best == len(losses) - 1 - patience                  # stopped exactly `patience` epochs after the best
    assert f"has not improved for {patience} epoch" in exp.message
    assert len(exp.fit()) == len(history)                      # stays stopped


def test_steps_per_epoch_skip_a_trailing_single_sample(make_exp):
    exp = make_exp(batch_size=33, epochs=2)                    # 100 training points: 33 + 33 + 33, the last 1 skipped
    assert exp.steps_per_epoch == 3
    metrics = [exp.step() for _ in range(3)]
    assert [m.epoch_end for m in metrics] == [False, False, True] and metrics[-1].epoch == 1
    assert [m.step for m in metrics] == [1, 2, 3] and all(m.lr == 0.03 for m in metrics)
    row = exp.history_frame().iloc[0]
    assert list(exp.history_frame().columns) == METRIC_COLUMNS and row["step"] == 3 and row["epoch"] == 1
    assert 0 <= row["train_accuracy"] <= 1 and row["seconds"] > 0


def test_fit_continues_and_training_mode_survives_evaluation(make_exp):
    exp = make_exp(layers=DROPOUT_NET, epochs=2)
    assert len(exp.fit()) == 2 and exp.status == "finished" and exp.message == "finished 2 epochs"
    assert exp.model.training                                   # evaluate() put it back after each epoch
    assert len(exp.fit(3)) == 5 and exp.epoch == 5


def test_decision_grid_and_metadata(make_exp):
    exp = make_exp(epochs=1)
    grid = decision_grid(exp, resolution=7, extent=2.0)
    z = torch.tensor(grid["z"])
    assert z.shape == (7, 7) and grid["x1"][0] == -2.0 and grid["x2"][-1] == 2.0
    assert ((0 <= z) & (z <= 1)).all()
    meta = exp.metadata()
    assert meta["seed"] == 0 and meta["device"] == "cpu" and meta["torch"] == torch.__version__


@pytest.mark.parametrize("optimizer", list(registry.OPTIMIZERS))
def test_momentum_reaches_exactly_the_optimizers_the_table_names(optimizer):
    from torch import nn

    from playground.objectives import make_optimizer
    from playground.spec import TrainSpec

    opt = make_optimizer(TrainSpec(optimizer=optimizer, momentum=0.5), [nn.Parameter(torch.zeros(1))])
    takes = optimizer in registry.APPLIES_TO["momentum"][1]
    assert (opt.defaults.get("momentum") == 0.5) == takes
    assert registry.applies("momentum", TrainSpec(optimizer=optimizer)) == takes


def test_four_blobs_reach_high_accuracy_with_a_small_softmax_net():
    exp = Experiment.from_dict({"seed": 0, "data": {"name": "blobs", "noise": 0.1},
                                "model": {"layers": [{"type": "dense", "units": 8, "activation": "tanh"}]},
                                "train": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.03, "epochs": 60}})
    history = exp.fit()
    assert exp.data.task == "multiclass" and exp.data.class_names == ("0", "1", "2", "3")
    assert exp.data.y_train.dtype == torch.int64 and exp.model.output[0].out_features == 4  # a softmax over 4
    assert history["test_accuracy"].iloc[-1] >= 0.95
