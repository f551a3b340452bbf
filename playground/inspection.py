"""Named queries for the Inspect page: what it reads of a trained experiment, as plain arrays.

Each takes the Experiment first and is called between two training steps through `Run.read(query, ...)`,
so a page never reaches into the model, the data or the telemetry, and never runs torch itself.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .charts.diagnostics import misclassified, predicted_labels
from .telemetry import capture_activations
from .train import Experiment


def structure(exp: Experiment) -> dict:
    """The layers with weights (telemetry's names), the blocks that output images, and the task."""
    blocks = [b.name for b in exp.model.blocks if b.name != "output"] if exp.data.is_image else []
    return {"layers": list(exp.telemetry.weights), "image_blocks": blocks, "task": exp.data.task,
            "n_test": len(exp.data.x_test)}


def num_params(exp: Experiment) -> int:
    return exp.model.num_params()


def layer_weights(exp: Experiment, layer: str) -> np.ndarray:
    """A layer's weight tensor now, as a NumPy copy: (out, in) for dense, (out, in, k, k) for conv."""
    return exp.telemetry.weights[layer].detach().cpu().numpy().copy()


def weight_labels(exp: Experiment, layer: str) -> tuple[list[str] | None, list[str] | None]:
    """Names for a dense layer's weight matrix: (its inputs, its units). The first layer's inputs are the
    data's features (x1, x2, x1^2 ...), a later one's the units before it ("dense_0 3"); the output's
    units are the class names; None where there are no names (the chart numbers them)."""
    n_out, n_in = exp.telemetry.weights[layer].shape[:2]
    inputs = list(exp.data.feature_names) if not exp.data.is_image else []
    for name, weight in exp.telemetry.weights.items():
        if name == layer:
            break
        if weight.ndim == 2:  # the dense layer before: its units feed this one
            inputs = [f"{name} {j}" for j in range(weight.shape[0])]
    units = list(exp.data.class_names) if layer == "output" and exp.data.task == "multiclass" else []
    return inputs if len(inputs) == n_in else None, units if len(units) == n_out else None


def layer_histograms(exp: Experiment, layer: str, kind: str) -> pd.DataFrame:
    """The sampled histograms of a layer's weights or gradients over time (Telemetry.histogram_frame)."""
    return exp.telemetry.histogram_frame(layer, kind)


def test_example(exp: Experiment, index: int, block: str) -> tuple[np.ndarray, np.ndarray]:
    """(test input `index`, what `block` outputs for it): an image (C, H, W) and its maps or units."""
    x = exp.data.x_test[index:index + 1]
    return x[0].cpu().numpy(), capture_activations(exp.model, x)[block][0].cpu().numpy()


@torch.no_grad()
def test_predictions(exp: Experiment, limit: int, wrong_limit: int) -> dict:
    """Labels and predictions on the first `limit` test examples, and the inputs of the first
    `wrong_limit` wrong ones, with the names a page labels them by."""
    x, y = exp.data.x_test[:limit], exp.data.y_test[:limit]
    y_true = y.cpu().long().numpy()
    y_pred = predicted_labels(exp.model.predict(x).cpu())
    wrong = misclassified(y_true, y_pred)[:wrong_limit]
    x_wrong = x[torch.as_tensor(wrong, dtype=torch.long, device=x.device)].cpu().numpy()
    return {"y_true": y_true, "y_pred": y_pred, "wrong": wrong, "x_wrong": x_wrong,
            "classes": exp.data.class_names, "features": exp.data.feature_names, "is_image": exp.data.is_image}
