"""Name -> engine object maps for the choices a user makes. Widgets, validation and docs read these.

Adding an option is one line here (plus, for export, nothing: export writes the same names).
"""
from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "linear": nn.Identity,
}

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}

# Losses are applied by train.compute_loss, which adapts them to the task (binary/multiclass/regression).
LOSSES: tuple[str, ...] = ("cross_entropy", "bce", "mse", "mae", "huber")
CLASSIFICATION_ONLY_LOSSES: tuple[str, ...] = ("cross_entropy", "bce")

REGULARIZATIONS: tuple[str, ...] = ("none", "l1", "l2")
SCHEDULES: tuple[str, ...] = ("none", "step", "exponential", "cosine")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
