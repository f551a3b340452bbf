"""The Dataset every loader returns: tensors already split, and what the model needs to know about them."""
from __future__ import annotations

from dataclasses import dataclass

import torch

TASKS = ("binary", "multiclass", "regression")


class DataError(ValueError):
    """Data that cannot be loaded or used; the message says what is wrong and what to do."""


@dataclass
class Dataset:
    name: str
    task: str                      # one of TASKS
    x_train: torch.Tensor          # (N, F) float32, or (N, C, H, W) float32 for images
    y_train: torch.Tensor          # (N,) float32 for binary (0/1) and regression, int64 for multiclass
    x_test: torch.Tensor
    y_test: torch.Tensor
    feature_names: tuple[str, ...] = ()   # flat data: one name per input column
    class_names: tuple[str, ...] = ()     # classification: one name per class
    points_train: torch.Tensor | None = None  # toy sets: (N, 2) raw (x1, x2), for decision-boundary plots
    points_test: torch.Tensor | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def n_outputs(self) -> int:
        """Units of the output layer the engine appends: n for n classes, 1 for binary or regression."""
        return len(self.class_names) if self.task == "multiclass" else 1

    @property
    def is_image(self) -> bool:
        return self.x_train.dim() == 4

    def to(self, device: torch.device) -> "Dataset":
        """Move all tensors to `device` once, so batches are sliced there and never copied per step."""
        moved = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in vars(self).items()}
        return Dataset(**moved)
