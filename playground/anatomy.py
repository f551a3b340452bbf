"""Inside one training step of a dense network: the forward pass, the loss, every weight's gradient, the update.

`preview_step` reads what the next step will compute, without taking it: the batch, each unit's value for
each sample, the loss, and the gradient of what the step minimises (loss plus penalty) for every weight and
bias. After the step (`Run.step`), `update_of` gives how much each weight moved. Named queries: call them
between two steps (`run.read(preview_step)`). The Playground's step-by-step mode shows one phase a click.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .telemetry import capture_activations


@dataclass(frozen=True)
class StepAnatomy:
    """What step `step` (1 for the run's first) computes, read before it is taken."""
    step: int
    inputs: np.ndarray                 # (batch, features): the batch as the network reads it
    targets: np.ndarray                # (batch,): labels (class indices) or values
    values: list[np.ndarray]           # per layer of the diagram, inputs first: (batch, units) each unit's output
    outputs: np.ndarray                # (batch,): the prediction as the map shows it (class-1 probability,
                                       # the predicted class, or the value)
    loss: float                        # the batch's mean data loss
    objective: float                   # what the step minimises: the loss plus the L1/L2 penalty
    weights: list[np.ndarray]          # each Linear's (out, in) weights before the step
    biases: list[np.ndarray]
    weight_grads: list[np.ndarray]     # d objective / d weight, as the optimizer receives them
    bias_grads: list[np.ndarray]


def preview_step(exp) -> StepAnatomy:
    """The next step's forward pass, loss and gradients; the model and the run are left as they were."""
    xb, yb = exp.next_batch()
    layers = exp.model.dense_layers()
    params = [p for layer in layers for p in (layer.weight, layer.bias)]
    was_training = exp.model.training
    exp.model.train()
    out = exp.model(xb)
    loss, objective = exp.objective(out, yb)
    grads = torch.autograd.grad(objective, params)
    exp.model.train(was_training)
    blocks = capture_activations(exp.model, xb)
    hidden = [t for name, t in blocks.items() if name.startswith("dense_") and t.dim() == 2]
    task = exp.data.task
    raw = out.detach()
    shown = (raw.argmax(1).float() if task == "multiclass" else raw[:, 0].sigmoid() if task == "binary"
             else raw[:, 0])
    output = raw.softmax(1) if task == "multiclass" else shown[:, None] if task == "binary" else raw
    numpy = [g.cpu().numpy() for g in grads]
    return StepAnatomy(
        step=exp.step_count + 1, inputs=xb.cpu().numpy(), targets=yb.cpu().numpy(),
        values=[xb.cpu().numpy(), *(h.numpy() for h in hidden), output.cpu().numpy()],
        outputs=shown.cpu().numpy(), loss=loss.item(), objective=objective.item(),
        weights=[p.detach().cpu().numpy().copy() for p in params[0::2]],
        biases=[p.detach().cpu().numpy().copy() for p in params[1::2]],
        weight_grads=numpy[0::2], bias_grads=numpy[1::2])


def update_of(exp, before: StepAnatomy) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(weight changes, bias changes): each parameter now minus what `before` read, after the step was taken."""
    layers = exp.model.dense_layers()
    return ([m.weight.detach().cpu().numpy() - w for m, w in zip(layers, before.weights)],
            [m.bias.detach().cpu().numpy() - b for m, b in zip(layers, before.biases)])

