"""Registry of hidden-layer kinds: the parameters each takes, how it builds, and its shape rule.

A shape is `(features,)` for flat data or `(channels, height, width)` for images. Each kind's
`out_shape` raises `ShapeError` with a message the user can act on; model.py adds the layer's path.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from torch import nn

from .registry import ACTIVATIONS

if TYPE_CHECKING:
    from .spec import LayerSpec

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """A layer cannot take the shape it is given."""


def describe(shape: Shape) -> str:
    if len(shape) == 1:
        return f"a flat vector of {shape[0]}"
    return f"an image of {shape[0]}x{shape[1]}x{shape[2]} (channels x height x width)"


def _need_image(kind: str, shape: Shape) -> None:
    if len(shape) != 3:
        raise ShapeError(f"{kind} needs image input but gets {describe(shape)}; "
                         "use an image dataset or put it before any dense or flatten layer")


def _window(size: int, kernel: int, stride: int, padding: int, kind: str, shape: Shape) -> int:
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise ShapeError(f"{kind} with kernel {kernel} does not fit {describe(shape)}; "
                         "use a smaller kernel_size, more padding, or fewer pooling layers before it")
    return out


def _dense_shape(s: "LayerSpec", shape: Shape) -> Shape:
    return (s.units,)


def _conv_shape(s: "LayerSpec", shape: Shape) -> Shape:
    _need_image("conv2d", shape)
    _, h, w = shape
    return (s.filters, *(_window(d, s.kernel_size, s.stride, s.padding, "conv2d", shape) for d in (h, w)))


def _pool_shape(kind: str) -> Callable[["LayerSpec", Shape], Shape]:
    def rule(s: "LayerSpec", shape: Shape) -> Shape:
        _need_image(kind, shape)
        c, h, w = shape
        return (c, *(_window(d, s.kernel_size, s.stride, 0, kind, shape) for d in (h, w)))
    return rule


def _with_activation(layer: nn.Module, activation: str) -> list[nn.Module]:
    return [layer] if activation == "linear" else [layer, ACTIVATIONS[activation]()]


def _build_dense(s: "LayerSpec", shape: Shape) -> list[nn.Module]:
    return _with_activation(nn.Linear(shape[0], s.units), s.activation)


def _build_conv(s: "LayerSpec", shape: Shape) -> list[nn.Module]:
    conv = nn.Conv2d(shape[0], s.filters, s.kernel_size, stride=s.stride, padding=s.padding)
    return _with_activation(conv, s.activation)


def _build_batchnorm(s: "LayerSpec", shape: Shape) -> list[nn.Module]:
    return [nn.BatchNorm1d(shape[0]) if len(shape) == 1 else nn.BatchNorm2d(shape[0])]


@dataclass(frozen=True)
class LayerKind:
    params: dict[str, object]                                   # parameter -> default
    build: Callable[["LayerSpec", Shape], list[nn.Module]]      # modules for this layer, given its input shape
    out_shape: Callable[["LayerSpec", Shape], Shape]
    flat_input: bool = False                                    # dense: image input is flattened first
    doc: str = ""


LAYERS: dict[str, LayerKind] = {
    "dense": LayerKind({"units": 8, "activation": "relu"}, _build_dense, _dense_shape, flat_input=True,
                       doc="fully connected layer"),
    "conv2d": LayerKind({"filters": 16, "kernel_size": 3, "stride": 1, "padding": 1, "activation": "relu"},
                        _build_conv, _conv_shape, doc="2-D convolution over images"),
    "maxpool2d": LayerKind({"kernel_size": 2, "stride": 2},
                           lambda s, shape: [nn.MaxPool2d(s.kernel_size, s.stride)], _pool_shape("maxpool2d"),
                           doc="keeps the largest value in each window"),
    "avgpool2d": LayerKind({"kernel_size": 2, "stride": 2},
                           lambda s, shape: [nn.AvgPool2d(s.kernel_size, s.stride)], _pool_shape("avgpool2d"),
                           doc="averages each window"),
    "flatten": LayerKind({}, lambda s, shape: [nn.Flatten()], lambda s, shape: (math.prod(shape),),
                         doc="image -> flat vector"),
    "dropout": LayerKind({"rate": 0.5}, lambda s, shape: [nn.Dropout(s.rate)], lambda s, shape: shape,
                         doc="zeroes a random share of units while training"),
    "batchnorm": LayerKind({}, _build_batchnorm, lambda s, shape: shape,
                           doc="normalises each feature/channel over the batch"),
}
