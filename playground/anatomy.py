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

from .plane import diagram_values


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
    model, task = exp.model, exp.data.task
    params = [p for layer in model.dense_layers() for p in (layer.weight, layer.bias)]
    was_training, saved = model.training, model.watch
    model.train()
    model.watch = blocks = {}   # one forward pass: its block outputs are the units' values
    try:
        out = model(xb)
    finally:
        model.train(was_training)
        model.watch = saved
    loss, objective = exp.objective(out, yb)
    grads = torch.autograd.grad(objective, params)
    hidden, output = diagram_values({name: t.detach().cpu() for name, t in blocks.items()}, task)
    shown = output.argmax(1).float() if task == "multiclass" else output[:, 0]
    numpy = [g.cpu().numpy() for g in grads]
    return StepAnatomy(
        step=exp.step_count + 1, inputs=xb.cpu().numpy(), targets=yb.cpu().numpy(),
        values=[xb.cpu().numpy(), *(h.numpy() for h in hidden), output.numpy()],
        outputs=shown.numpy(), loss=loss.item(), objective=objective.item(),
        weights=[p.detach().cpu().numpy().copy() for p in params[0::2]],
        biases=[p.detach().cpu().numpy().copy() for p in params[1::2]],
        weight_grads=numpy[0::2], bias_grads=numpy[1::2])


def update_of(exp, before: StepAnatomy) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(weight changes, bias changes): each parameter now minus what `before` read, after the step was taken."""
    layers = exp.model.dense_layers()
    return ([m.weight.detach().cpu().numpy() - w for m, w in zip(layers, before.weights)],
            [m.bias.detach().cpu().numpy() - b for m, b in zip(layers, before.biases)])

