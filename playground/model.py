"""Spec -> `Network` (an `nn.Sequential` of named blocks) with shape inference and a summary table."""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from .layers import LAYERS, Shape, ShapeError, describe
from .spec import LayerSpec, ModelSpec, SpecError

MAX_PARAMS = 20_000_000  # one class server trains many of these at once; bigger nets belong elsewhere
MAX_BATCH_BYTES = 512 * 2**20  # estimated activation memory of one training batch (see batch_bytes)
MAX_EVAL_CHUNK = 4096    # predict() evaluates at most this many examples at a time (fewer for wide nets)


@dataclass(frozen=True)
class Block:
    """One row of the summary: a named block of modules and the shape it outputs."""
    name: str
    kind: str
    out_shape: Shape
    note: str = ""


def plan(spec: ModelSpec, input_shape: Shape, n_outputs: int) -> list[tuple[Block, LayerSpec, Shape]]:
    """Walk the stack checking shapes; return (block, layer spec, input shape) per block, output last.

    Raises SpecError naming the layer (`model.layers[3]: conv2d needs image input ...`).
    """
    steps, shape = [], tuple(input_shape)
    layers = list(spec.layers) + [LayerSpec("dense", units=n_outputs, activation="linear")]
    for i, layer in enumerate(layers):
        is_output = i == len(spec.layers)
        kind = LAYERS[layer.type]
        if kind.flat_input and len(shape) == 3:
            flat = LayerSpec("flatten")
            steps.append((Block(f"flatten_{i}", "flatten", (math.prod(shape),),
                                note=f"inserted: {'the output layer' if is_output else 'dense'} needs flat input"),
                          flat, shape))
            shape = (math.prod(shape),)
        try:
            out = kind.out_shape(layer, shape)
        except ShapeError as e:
            message = str(e)
            if len(input_shape) == 1 and "needs image input" in message:  # moving it would not help
                message = (f"{layer.type} needs image input, but each example of this dataset is "
                           f"{describe(tuple(input_shape))}; choose an image dataset (digits works offline) "
                           "or use dense layers")
            raise SpecError(f"model.layers[{i}]", message) from None
        name = "output" if is_output else f"{layer.type}_{i}"
        note = f"{n_outputs} unit(s) sized to the task" if is_output else ""
        steps.append((Block(name, layer.type, out, note), layer, shape))
        shape = out
    return steps


def batch_bytes(steps: list[tuple[Block, LayerSpec, Shape]], batch_size: int) -> int:
    """Estimated memory of one training step's activations: every block's output (kept for backward, and
    once more for its activation function's output) and its gradient, in float32, times the batch."""
    per_example = sum(math.prod(block.out_shape) for block, _, _ in steps)
    return 4 * 2 * 2 * per_example * batch_size


def check_memory(steps: list[tuple[Block, LayerSpec, Shape]], batch_size: int) -> None:
    """Refuse (SpecError) a network whose training batch would need too much memory, before anything is
    allocated: the parameter count does not bound activations (a wide padding does)."""
    need = batch_bytes(steps, batch_size)
    if need > MAX_BATCH_BYTES:
        widest = max(steps, key=lambda s: math.prod(s[0].out_shape))[0]
        raise SpecError("model.layers", f"one batch would need about {need / 2**20:,.0f} MB of activations; "
                                        f"the limit is {MAX_BATCH_BYTES / 2**20:,.0f} MB. The largest output is "
                                        f"{widest.name}'s {describe_shape(widest.out_shape)}: use less padding, "
                                        "fewer filters, pooling, or a smaller batch_size")


class Network(nn.Sequential):
    """The hidden stack plus the output layer. Each child is one block (e.g. Linear + Tanh)."""

    def __init__(self, spec: ModelSpec, input_shape: Shape, n_outputs: int, batch_size: int | None = None):
        """With `batch_size`, a network whose training batches would need too much memory is refused too."""
        steps = plan(spec, input_shape, n_outputs)
        if batch_size is not None:
            check_memory(steps, batch_size)
        with torch.device("meta"):  # count first, without memory: 10**9 units must not be allocated to be refused
            n = sum(p.numel() for block in _build(steps).values() for p in block.parameters())
        if n > MAX_PARAMS:
            raise SpecError("model.layers", f"the network has {n:,} parameters; the limit is {MAX_PARAMS:,}. "
                                            "Use fewer units or filters, or add pooling before dense layers")
        super().__init__(_build(steps))
        self.blocks = [block for block, _, _ in steps]
        widest = max(math.prod(block.out_shape) for block in self.blocks)  # a module's output and the next's
        self.eval_chunk = max(1, min(MAX_EVAL_CHUNK, MAX_BATCH_BYTES // (2 * 4 * widest)))
        self.input_shape = tuple(input_shape)
        self.watch: dict[str, torch.Tensor] | None = None  # when a dict, forward() records each block's output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The blocks' modules in one flat loop, each block's output recorded into `watch` when it is set.

        Calling each nested block costs ~10 us of Python a block (a fifth of a toy net's forward pass), and
        a forward hook ~25 us more; so telemetry reads block outputs from `watch`, not from hooks. Hooks
        registered on a block are not called: register them on the modules inside it (`model.dense_0[0]`).
        """
        watch = self.watch
        for name, block in self._modules.items():
            for module in block._modules.values():
                x = module(x)
            if watch is not None:
                watch[name] = x
        return x

    def dense_layers(self) -> list[nn.Linear]:
        """The Linear modules, input side first, the output layer last: what a weight edit's `layer` counts."""
        return [m for m in self.modules() if isinstance(m, nn.Linear)]

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def summary(self) -> pd.DataFrame:
        """Layer table like torchinfo: layer, type, output shape, params, note."""
        rows = [{"layer": "input", "type": "input", "output shape": describe_shape(self.input_shape),
                 "params": 0, "note": describe(self.input_shape)}]
        for block, module in zip(self.blocks, self.children()):
            rows.append({"layer": block.name, "type": block.kind, "output shape": describe_shape(block.out_shape),
                         "params": sum(p.numel() for p in module.parameters()), "note": block.note})
        return pd.DataFrame(rows)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """Raw outputs in eval mode, in chunks (default: `eval_chunk`) so big test sets fit; restores the
        training flag."""
        batch_size = batch_size or self.eval_chunk
        was_training = self.training
        self.eval()
        out = torch.cat([self(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        self.train(was_training)
        return out


def check_weight_edits(edits, layers: list[nn.Linear], path: str = "train.weight_edits") -> None:
    """Refuse (SpecError naming the entry) a weight edit outside the network's dense `layers`."""
    for i, edit in enumerate(edits):
        if edit.layer >= len(layers):
            raise SpecError(f"{path}[{i}].layer", f"the network has {len(layers)} dense layers (0 to "
                                                 f"{len(layers) - 1}), got {edit.layer}")
        units, sources = layers[edit.layer].weight.shape
        for name, n, what in (("unit", units, "units"), ("source", sources, "inputs")):
            if getattr(edit, name) >= n:
                raise SpecError(f"{path}[{i}].{name}", f"dense layer {edit.layer} has {n} {what} (0 to "
                                                      f"{n - 1}), got {getattr(edit, name)}")


def _build(steps: list[tuple[Block, LayerSpec, Shape]]) -> OrderedDict[str, nn.Module]:
    return OrderedDict((block.name, nn.Sequential(*LAYERS[layer.type].build(layer, shape)))
                       for block, layer, shape in steps)


def describe_shape(shape: Shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"
