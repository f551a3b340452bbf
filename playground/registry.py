"""The table of choices and settings: name -> engine object maps, and every numeric setting's range.

Widgets, validation and docs read these. Adding an activation or optimizer is one line here (export
writes the same names).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .modules import Sine

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "silu": nn.SiLU,         # Swish
    "sine": Sine,
    "linear": nn.Identity,
}

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
    "nadam": torch.optim.NAdam,
}

# Losses are applied by objectives.compute_loss, which adapts them to the task (binary/multiclass/regression).
LOSSES: tuple[str, ...] = ("cross_entropy", "bce", "mse", "mae", "huber")
CLASSIFICATION_ONLY_LOSSES: tuple[str, ...] = ("cross_entropy", "bce")

DEFAULT_LOSS: dict[str, str] = {"binary": "bce", "multiclass": "cross_entropy", "regression": "mse"}  # per task

# Weight penalties (TF Playground's): name -> the Python for one weight tensor `w`'s term, or None. The loss
# gains reg_rate * sum(term for each weight matrix and kernel); the engine compiles the term and the exported
# script writes it out, so a new entry trains and exports as is.
PENALTIES: dict[str, str | None] = {
    "none": None,
    "l1": "w.abs().sum()",          # rate * sum |w|
    "l2": "0.5 * (w * w).sum()",    # rate * sum w^2 / 2
}
REGULARIZATIONS: tuple[str, ...] = tuple(PENALTIES)
# Weight initialisations: name -> the Python that fills one weight matrix or kernel `w` in place (biases then
# start at 0), or None for PyTorch's own per layer. Run after the model is built under the weights seed;
# the exported script writes the same line, so a new entry trains and exports as is.
INITS: dict[str, str | None] = {
    "default": None,                                            # PyTorch's (Kaiming-uniform, a = sqrt 5)
    "zeros": "nn.init.zeros_(w)",                               # TF Playground's initZero: no symmetry broken
    "xavier": "nn.init.xavier_uniform_(w)",                     # Glorot: variance 2 / (fan_in + fan_out)
    "he": "nn.init.kaiming_normal_(w, nonlinearity='relu')",    # std sqrt(2 / fan_in), for ReLU nets
    "normal": "nn.init.normal_(w, std=0.1)",                    # small random normal
}
# Learning-rate schedules, stepped once per epoch: name -> (train spec, optimizer) -> scheduler, or None.
# The exporter writes the constructor call back from the built scheduler, so a new entry exports as is.
SCHEDULES: dict[str, Callable[..., torch.optim.lr_scheduler.LRScheduler] | None] = {
    "none": None,
    "step": lambda spec, opt: torch.optim.lr_scheduler.StepLR(opt, spec.lr_step_size, spec.lr_gamma),
    "exponential": lambda spec, opt: torch.optim.lr_scheduler.ExponentialLR(opt, spec.lr_gamma),
    "cosine": lambda spec, opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, spec.epochs),
}
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take: [lo, hi] ((lo, hi] with lo_open); whole: integers only."""
    lo: float
    hi: float
    lo_open: bool = False
    whole: bool = False

    def __contains__(self, v: float) -> bool:
        return (self.lo < v if self.lo_open else self.lo <= v) and v <= self.hi


def _whole(lo: int, hi: int) -> Range:
    return Range(lo, hi, whole=True)


# Every numeric setting's range, by its spec path (layer parameters under "layer."). The spec validates
# against it and the widgets take their limits from it. The sizes bound what a link, file or checkpoint
# can make the server allocate: points, images, units, windows and epochs; model.py also bounds the
# parameters and the activation memory of one batch, which depend on the data's shape.
RANGES: dict[str, Range] = {
    "seed": _whole(0, 2**32 - 1),                 # numpy-style seeds; torch.manual_seed overflows above 2**64
    "data.n_samples": _whole(4, 100_000),         # toy points (TF Playground: 500); 4 so both splits get some
    "data.noise": Range(0.0, 0.5),                # TF Playground's 0..50 %
    "data.test_fraction": Range(0.05, 0.9),
    "data.max_samples": _whole(1, 1_000_000),     # image sets: more than any of them has
    "layer.units": _whole(1, 4096),
    "layer.filters": _whole(1, 1024),
    "layer.kernel_size": _whole(1, 64),
    "layer.stride": _whole(1, 64),
    "layer.padding": _whole(0, 64),
    "layer.rate": Range(0.0, 0.95),
    "train.lr": Range(0.0, 10.0, lo_open=True),
    "train.momentum": Range(0.0, 0.999),
    "train.weight_decay": Range(0.0, 1.0),
    "train.reg_rate": Range(0.0, 10.0),
    "train.batch_size": _whole(1, 100_000),
    "train.epochs": _whole(1, 1_000_000),
    "train.lr_step_size": _whole(1, 1_000_000),
    "train.lr_gamma": Range(0.0, 1.0, lo_open=True),
    "train.early_stopping_patience": _whole(1, 1_000_000),
    "train.telemetry_every": _whole(0, 1_000_000),
    "train.num_threads": _whole(1, 64),           # CPU threads torch trains with (results depend on it)
    "weight": Range(-100.0, 100.0),               # a weight typed in by hand (train.weight_edits)
}

# Settings that may change while a run trains (an experiment's train.changes): what TF Playground and
# ConvNetJS let a user turn mid-run. Anything else (architecture, features, data, activation) makes a new run.
LIVE_SETTINGS: tuple[str, ...] = ("lr", "reg_rate", "batch_size", "momentum", "weight_decay")
MAX_CHANGES = 10_000   # changes one run may record (and as many weight edits)

# Settings that matter only with certain choices of another: setting -> (the other setting, the choices).
# The widgets show a setting only then, validation refuses it being used otherwise, and make_optimizer passes
# it only to the optimizers listed.
APPLIES_TO: dict[str, tuple[str, tuple[str, ...]]] = {
    "momentum": ("optimizer", ("sgd", "rmsprop")),
    "nesterov": ("optimizer", ("sgd",)),
    "lr_step_size": ("schedule", ("step",)),
    "lr_gamma": ("schedule", ("step", "exponential")),
    "reg_rate": ("regularization", ("l1", "l2")),
}


def applies(setting: str, train) -> bool:
    """Whether `setting` takes effect with these training settings (a TrainSpec): see APPLIES_TO."""
    if setting not in APPLIES_TO:
        return True
    other, choices = APPLIES_TO[setting]
    return getattr(train, other) in choices
