"""What training minimises and how: losses per task, penalties, optimizers, schedules, devices."""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from .registry import CLASSIFICATION_ONLY_LOSSES, INITS, OPTIMIZERS, PENALTIES, SCHEDULES, applies
from .spec import SpecError, TrainSpec

_REGRESSION_LOSSES = {"mse": "mse_loss", "mae": "l1_loss", "huber": "huber_loss"}  # torch.nn.functional's names


def check_loss(loss: str, task: str, dataset: str) -> None:
    if task == "regression" and loss in CLASSIFICATION_ONLY_LOSSES:
        raise SpecError("train.loss", f"{loss} is for classification but {dataset} is a regression set; "
                                      "use mse, mae or huber")


@functools.cache  # called on every training step
def loss_code(loss: str, task: str) -> str:
    """The Python that computes `loss` for `task` from the raw output `out` (B, n_outputs) and `y` (as in Dataset).

    Classification outputs are logits: bce and cross_entropy use them directly; mse/mae/huber compare
    the predicted probabilities (sigmoid, or softmax for several classes) with the 0/1 targets. The engine
    compiles this and the exported script writes it out, so both compute the same loss.
    """
    if task == "multiclass":
        if loss == "cross_entropy":
            return "F.cross_entropy(out, y)"
        target = "F.one_hot(y, out.shape[1]).to(out.dtype)"
        if loss == "bce":
            return f"F.binary_cross_entropy_with_logits(out, {target})"
        return f"F.{_REGRESSION_LOSSES[loss]}(out.softmax(1), {target})"
    if task == "binary" and loss in CLASSIFICATION_ONLY_LOSSES:
        return "F.binary_cross_entropy_with_logits(out.squeeze(1), y)"
    probabilities = ".sigmoid()" if task == "binary" else ""
    return f"F.{_REGRESSION_LOSSES[loss]}(out.squeeze(1){probabilities}, y)"


@functools.cache
def correct_code(task: str) -> str:
    """The Python that counts a batch's correct predictions, as a 0-d tensor (no device sync)."""
    if task == "multiclass":
        return "(out.argmax(1) == y).sum()"
    return "((out.squeeze(1) > 0).to(y.dtype) == y).sum()"


@functools.cache
def _compiled(code: str, *names: str):
    return eval(f"lambda {', '.join(names)}: {code}", {"F": F, "nn": nn})  # noqa: S307 - our own code, never a user's


def compute_loss(loss: str, task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss of a batch (see loss_code)."""
    return _compiled(loss_code(loss, task), "out", "y")(out, y)


def count_correct(task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Correct predictions in a batch, as a 0-d tensor (no device sync)."""
    return _compiled(correct_code(task), "out", "y")(out, y)


def penalised_weights(model: nn.Module) -> list[torch.Tensor]:
    """Weights the L1/L2 penalty applies to: matrices and kernels, not biases or norm scales."""
    return [p for name, p in model.named_parameters() if name.endswith("weight") and p.dim() > 1]


@functools.cache
def penalty_code(kind: str) -> str | None:
    """The Python for the penalty `kind` (registry.PENALTIES) over `weights` at `reg_rate`, or None."""
    term = PENALTIES[kind]
    return None if term is None else f"reg_rate * sum({term} for w in weights)"


def penalty(kind: str, rate: float, weights: list[torch.Tensor]) -> torch.Tensor | float:
    """rate * the sum of registry.PENALTIES[kind]'s term over `weights`; 0.0 without one."""
    code = penalty_code(kind)
    if code is None or rate == 0:
        return 0.0
    return _compiled(code, "reg_rate", "weights")(rate, weights)


@torch.no_grad()
def init_weights(model: nn.Module, kind: str) -> None:
    """registry.INITS[kind] on every weight matrix and kernel (the penalised ones), and 0 in every bias;
    nothing for "default" (each layer keeps PyTorch's own initialisation)."""
    code = INITS[kind]
    if code is None:
        return
    fill = _compiled(code, "w")
    for w in penalised_weights(model):
        fill(w)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.zero_()


def make_optimizer(spec: TrainSpec, params) -> torch.optim.Optimizer:
    """The optimizer with lr, weight decay, and the settings registry.APPLIES_TO gives this optimizer."""
    kwargs = {"lr": spec.lr, "weight_decay": spec.weight_decay}
    kwargs.update({name: getattr(spec, name) for name in ("momentum", "nesterov") if applies(name, spec)})
    return OPTIMIZERS[spec.optimizer](params, **kwargs)


def make_scheduler(spec: TrainSpec, optimizer: torch.optim.Optimizer):
    """An epoch-stepped LR schedule (registry.SCHEDULES), or None."""
    build = SCHEDULES[spec.schedule]
    return build(spec, optimizer) if build is not None else None


def resolve_device(name: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; asking for one that is absent is a SpecError."""
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise SpecError("train.device", f"{name} was asked for but this machine has none; use auto or cpu")
    return torch.device(name)
