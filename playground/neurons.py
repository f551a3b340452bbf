"""What each unit of a flat network computes over the toy sets' (x1, x2) plane: TF Playground's node pictures.

Call these between two training steps (`run.read(diagram_view, 20, 6.0)`): they read the live model.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .data.toy import feature_columns, plane_points
from .telemetry import capture_activations


def dense_weights(model: nn.Module) -> list[np.ndarray]:
    """Weight matrices (out, in) of the Linear layers, input side first."""
    return [m.weight.detach().cpu().numpy().copy() for m in model.modules() if isinstance(m, nn.Linear)]


@torch.no_grad()
def neuron_maps(exp, resolution: int = 30, extent: float = 6.0) -> dict:
    """Every input feature, hidden unit and the output over the plane, for an Experiment on a toy set.

    Returns {"axis": (R,), "inputs": [(R, R) per feature], "hidden": [(units, R, R) per dense block],
    "output": (R, R)} as numpy arrays; the output is the class-1 probability (binary) or the prediction.
    Only dense blocks count as hidden layers (dropout and batchnorm blocks have no units of their own).
    """
    axis, points = plane_points(resolution, extent)
    x = feature_columns(points, exp.data.feature_names)
    outputs = capture_activations(exp.model, x.to(exp.device))
    side = (resolution, resolution)
    hidden = [out.T.reshape(-1, *side).numpy() for name, out in outputs.items()
              if name.startswith("dense_") and out.dim() == 2]
    out = outputs["output"][:, 0]
    if exp.data.task == "binary":
        out = out.sigmoid()
    return {"axis": axis.numpy(), "inputs": [x[:, i].reshape(side).numpy() for i in range(x.shape[1])],
            "hidden": hidden, "output": out.reshape(side).numpy()}


def diagram_view(exp, resolution: int, extent: float) -> tuple[dict, list[np.ndarray]]:
    """What the network diagram draws, read at one instant: (neuron_maps, dense_weights)."""
    return neuron_maps(exp, resolution, extent), dense_weights(exp.model)
