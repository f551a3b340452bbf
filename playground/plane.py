"""Views of the toy sets' (x1, x2) plane: the decision map, what each unit computes (TF Playground's node
pictures) and the plotted extent.

The model views are named queries: call them between two training steps (`run.read(diagram_view, 20, 6.0)`),
as they read the live model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .data import DRAWN
from .data.toy import PLANE_HALF_WIDTH, feature_columns, plane_points
from .model import Network
from .telemetry import capture_activations


def plane_extent(points: np.ndarray) -> float:
    """Half-width of the plotted plane: TF Playground's 6, or less for data that spans less (linear)."""
    return min(PLANE_HALF_WIDTH, math.ceil(float(np.abs(points).max()) * 2.1) / 2)


@dataclass(frozen=True)
class ToyPoints:
    """A toy run's data as the plane draws it (numpy, on the CPU)."""
    train: np.ndarray            # (n, 2) points (x1, x2)
    train_labels: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    task: str
    feature_names: tuple[str, ...]
    extent: float                # half-width of the plotted plane
    output_range: tuple[float, float]  # what the output's colours span: probabilities, or the targets' range


def toy_points(exp) -> ToyPoints:
    """The experiment's toy data; it never changes while the run trains."""
    data = exp.data
    train, labels = data.points_train.cpu().numpy(), data.y_train.cpu().numpy()
    extent = PLANE_HALF_WIDTH if data.name == DRAWN else plane_extent(train)  # the pen's plane never moves
    output_range = (float(labels.min()), float(labels.max())) if data.task == "regression" else (0.0, 1.0)
    return ToyPoints(train, labels, data.points_test.cpu().numpy(), data.y_test.cpu().numpy(), data.task,
                     tuple(data.feature_names), extent, output_range)


@torch.no_grad()
def decision_grid(exp, resolution: int = 60, extent: float = PLANE_HALF_WIDTH) -> dict:
    """The model's output over a (resolution x resolution) grid of (x1, x2) in [-extent, extent].

    Returns {"x1": (R,), "x2": (R,), "z": (R, R)} as float32 numpy arrays, z the probability of class 1 (binary) or the
    predicted value (regression); row i is x2[i]. Multi-class: z is the predicted class and "confidence" (R, R)
    its probability.
    """
    axis, points = plane_points(resolution, extent)
    x = feature_columns(points, exp.data.feature_names).to(exp.device)
    out, side = exp.model.predict(x), (resolution, resolution)
    axis = axis.numpy()
    if exp.data.task == "multiclass":
        confidence, predicted = out.softmax(1).max(1)
        return {"x1": axis, "x2": axis, "z": predicted.float().reshape(side).cpu().numpy(),
                "confidence": confidence.reshape(side).cpu().numpy()}
    z = out[:, 0].sigmoid() if exp.data.task == "binary" else out[:, 0]
    return {"x1": axis, "x2": axis, "z": z.reshape(side).cpu().numpy()}


def dense_weights(model: Network) -> list[np.ndarray]:
    """Weight matrices (out, in) of the Linear layers, input side first (`Network.dense_layers`)."""
    return [m.weight.detach().cpu().numpy().copy() for m in model.dense_layers()]


@torch.no_grad()
def neuron_maps(exp, resolution: int = 30, extent: float = PLANE_HALF_WIDTH) -> dict:
    """Every input feature, hidden unit and the output over the plane, for an Experiment on a toy set.

    Returns {"axis": (R,), "inputs": [(R, R) per feature], "hidden": [(units, R, R) per dense block],
    "output": (outputs, R, R)} as numpy arrays; the output is the class-1 probability (binary), each class's
    probability (multi-class) or the prediction (regression).
    """
    axis, points = plane_points(resolution, extent)
    x = feature_columns(points, exp.data.feature_names)
    hidden, output = diagram_values(capture_activations(exp.model, x.to(exp.device)), exp.data.task)
    side = (resolution, resolution)
    return {"axis": axis.numpy(), "inputs": [x[:, i].reshape(side).numpy() for i in range(x.shape[1])],
            "hidden": [h.T.reshape(-1, *side).numpy() for h in hidden],
            "output": output.T.reshape(-1, *side).numpy()}


def diagram_values(blocks: dict[str, torch.Tensor], task: str) -> tuple[list[torch.Tensor], torch.Tensor]:
    """What the diagram's units show, from a forward pass's block outputs (capture_activations, Network.watch):
    each dense block's outputs (N, units), input side first, and the output as the diagram draws it
    (N, outputs): the class-1 probability (binary), each class's probability (multi-class) or the prediction.
    Only dense blocks count as hidden layers (dropout and batchnorm blocks have no units of their own)."""
    hidden = [out for name, out in blocks.items() if name.startswith("dense_") and out.dim() == 2]
    out = blocks["output"]
    shown = out.softmax(1) if task == "multiclass" else out[:, :1].sigmoid() if task == "binary" else out[:, :1]
    return hidden, shown


def dense_biases(model: Network) -> list[np.ndarray]:
    """Bias vectors (out,) of the Linear layers, input side first (zeros where a layer has none)."""
    return [(m.bias.detach().cpu().numpy().copy() if m.bias is not None else np.zeros(m.out_features, np.float32))
            for m in model.dense_layers()]


def diagram_view(exp, resolution: int, extent: float) -> tuple[dict, list[np.ndarray], list[np.ndarray]]:
    """What the network diagram draws, read at one instant: (neuron_maps, dense_weights, dense_biases)."""
    return neuron_maps(exp, resolution, extent), dense_weights(exp.model), dense_biases(exp.model)


@dataclass(frozen=True)
class PlaneView:
    """What the Playground's live view draws, read at one instant in one query (one call to a run in a worker
    process, not one per chart)."""
    points: ToyPoints
    maps: dict                   # neuron_maps
    weights: list[np.ndarray]    # dense_weights
    biases: list[np.ndarray]     # dense_biases
    grid: dict                   # decision_grid over the points' extent


def plane_view(exp, node_resolution: int, grid_resolution: int) -> PlaneView:
    points = toy_points(exp)
    maps, weights, biases = diagram_view(exp, node_resolution, points.extent)
    return PlaneView(points, maps, weights, biases, decision_grid(exp, grid_resolution, points.extent))
