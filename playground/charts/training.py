"""Training charts: loss and accuracy curves, the decision map, dataset thumbnails and the network diagram.

Every function is pure (data in, `go.Figure` out) and uses the palette in theme.py.
"""
from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from . import theme

LINK_WIDTH_DOMAIN = 5.0     # |weight| at which a link reaches its widest, as TF Playground's linkWidthScale
LINK_WIDTHS = (1.0, 10.0)   # narrowest and widest link, in pixels
LINK_BUCKETS = 8            # links are drawn in this many width classes per sign (one trace each)
MAX_CURVE_POINTS = 1000     # points per curve sent to the browser; longer curves are thinned evenly
NON_FINITE = "#9e9e9e"      # links whose weight is NaN or infinite (a diverged run)
def rgb(colour: str) -> tuple[int, int, int]:
    """"#rrggbb" -> (r, g, b)."""
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


NAN_GREY = rgb(NON_FINITE)  # map cells that are NaN
_MAP_STOPS = np.array([stop for stop, _ in theme.DIVERGING])                       # the node maps' palette
_MAP_COLOURS = np.array([rgb(colour) for _, colour in theme.DIVERGING], dtype=np.float64)
_CLASS_RGB = np.array([rgb(c) for c in theme.CLASS_COLOURS], dtype=np.float64)     # class k's colour, k mod 6
THUMBNAIL_PIXELS, THUMBNAIL_DOT = 128, 2   # a thumbnail's width in pixels (about twice as shown), a dot's radius
NODE_HALF_WIDTH, NODE_HALF_HEIGHT = 0.2, 0.38  # a node's map, in the diagram's data units (layers 1 apart)
CLASS_MAP_STRENGTH = 0.6                        # a sure multi-class cell: 60 % its class's colour, 40 % white
LINK_REACH = 0.08                               # a click this near a link (diagram units) picks it
BIAS_OFFSET = 0.07                              # a unit's bias square, left of and up from its map's corner


def _mode(n: int) -> str:
    return "lines+markers" if n <= 40 else "lines"


def _thin(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Every k-th point, so a long run's curve costs the browser no more than a screen's width."""
    stride = max(1, -(-len(x) // max_points))
    return x[::stride], y[::stride]


def _epoch_at(steps: np.ndarray, history: pd.DataFrame, steps_per_epoch: int) -> np.ndarray:
    """Where steps fall on the epoch axis: between the history's epoch ends (its `step` column), and at the
    current steps per epoch after the last one (so a batch-size change moves nothing already drawn)."""
    ends, epochs = np.r_[0, history["step"].to_numpy(dtype=float)], np.r_[0, history["epoch"].to_numpy(dtype=float)]
    beyond = epochs[-1] + (steps - ends[-1]) / steps_per_epoch
    return np.where(steps <= ends[-1], np.interp(steps, ends, epochs), beyond)


def loss_figure(history: pd.DataFrame, step_losses: Sequence[float] = (), loss_stride: int = 1,
                steps_per_epoch: int | None = None, log_y: bool = False, height: int = 300,
                changes: Sequence[dict] = ()) -> go.Figure:
    """Train and test loss per epoch, with every step's batch loss behind them on the same epoch axis, and
    a marker where a setting was changed while it trained.

    `step_losses[i]` is the loss of step `i * loss_stride + 1` (as in `Snapshot`); steps are placed on the
    epoch axis by `_epoch_at`, so batch losses and markers are left out when `steps_per_epoch` is not
    given. `changes` are a run's train.changes as JSON (`{"step": 40, "lr": 0.1}`). Curves longer than
    MAX_CURVE_POINTS are thinned evenly.
    """
    traces = []
    if len(step_losses) and steps_per_epoch:
        steps = np.arange(len(step_losses)) * loss_stride + 1
        x, y = _thin(_epoch_at(steps, history, steps_per_epoch), np.asarray(step_losses, dtype=np.float32),
                     MAX_CURVE_POINTS)
        traces.append(dict(type="scatter", x=x, y=y, name="batch loss", mode="lines",
                           line=dict(color=theme.TRAIN, width=1), opacity=0.25))
    epochs = history["epoch"].to_numpy()
    for split, colour in (("train", theme.TRAIN), ("test", theme.TEST)):
        x, y = _thin(epochs, history[f"{split}_loss"].to_numpy(dtype=float), MAX_CURVE_POINTS)
        traces.append(dict(type="scatter", x=x, y=y, name=f"{split} loss", mode=_mode(len(x)),
                           line=dict(color=colour, width=2.5)))
    if len(changes) and steps_per_epoch:
        at = _epoch_at(np.array([c["step"] for c in changes], dtype=float), history, steps_per_epoch)
        labels = [", ".join(f"{k} {v:g}" for k, v in c.items() if k != "step") for c in changes]
        traces.append(dict(type="scatter", x=at, y=np.zeros(len(at)), name="changed", mode="markers+text",
                           text=labels, textposition="top center", cliponaxis=False,
                           marker=dict(symbol="triangle-up", size=10, color=theme.CHANGE),
                           hovertemplate="epoch %{x:.1f}: %{text}<extra></extra>"))
    return theme.figure(traces, theme.layout("epoch", "loss", height, yaxis=dict(type="log") if log_y else None))


def accuracy_figure(history: pd.DataFrame, height: int = 300) -> go.Figure:
    """Train and test accuracy per epoch; a regression history (no accuracy) gets a note instead."""
    traces = [dict(type="scatter", x=history["epoch"].to_numpy(), y=history[f"{split}_accuracy"].to_numpy(dtype=float),
                   name=f"{split} accuracy", mode=_mode(len(history)), line=dict(color=colour, width=2.5))
              for split, colour in (("train", theme.TRAIN), ("test", theme.TEST))]
    notes = []
    if len(history) and history["train_accuracy"].isna().all():
        notes.append(dict(text="accuracy applies to classification; this is a regression task", showarrow=False,
                          xref="paper", yref="paper", x=0.5, y=0.5))
    return theme.figure(traces, theme.layout("epoch", "accuracy", height, yaxis=dict(range=[0, 1.02], tickformat=".0%"),
                                             annotations=notes))


def _label_range(labels: np.ndarray) -> tuple[float, float]:
    lo, hi = float(np.min(labels)), float(np.max(labels))
    return (lo, hi) if hi > lo else (lo - 1.0, hi + 1.0)


def _points_trace(points: np.ndarray, labels: np.ndarray, task: str, name: str, outline: str,
                  size: int = 6) -> dict:
    """Data points: class colours for classification, the shared colour axis for regression.

    Classes are 0/1 numbers on a two-colour scale, not a colour string per point: plotly validates each
    string one by one, which took a fifth of a Playground page run.
    """
    if task == "regression":
        colour = dict(color=labels, coloraxis="coloraxis")
    elif task == "multiclass":
        colour = dict(color=[theme.CLASS_COLOURS[int(k) % len(theme.CLASS_COLOURS)] for k in labels])
    else:
        colour = dict(color=(np.asarray(labels) > 0.5).astype(np.float32), colorscale=theme.CLASSES, cmin=0, cmax=1)
    return dict(type="scatter", x=points[:, 0], y=points[:, 1], mode="markers", name=name,
                marker=dict(size=size, line=dict(color=outline, width=1), **colour))


def decision_boundary_figure(grid: Mapping, points: np.ndarray, labels: np.ndarray, task: str = "binary",
                             test_points: np.ndarray | None = None, test_labels: np.ndarray | None = None,
                             discretize: bool = False, height: int = 420) -> go.Figure:
    """The model's output over the plane (`plane.decision_grid`) with the data points on top.

    Binary: the class-1 probability on [0, 1] (`discretize` shows the predicted class instead).
    Regression: the map and the points share one colour scale spanning the training labels.
    The map is a PNG under the points (a layout image), so a live redraw swaps one image and leaves the
    points alone (ui/live_chart.py); an invisible one-cell heatmap carries the colour bar.
    """
    z = np.asarray(grid["z"], dtype=np.float32)
    if task == "regression":
        lo, hi = _label_range(np.asarray(labels))
    else:
        lo, hi = 0.0, 1.0
        if discretize and task == "binary":
            z = (z >= 0.5).astype(np.float32)
    x1, x2 = np.asarray(grid["x1"], dtype=np.float64), np.asarray(grid["x2"], dtype=np.float64)
    half_x, half_y = (x1[-1] - x1[0]) / (2 * (len(x1) - 1)), (x2[-1] - x2[0]) / (2 * (len(x2) - 1))
    xs, ys = [float(x1[0] - half_x), float(x1[-1] + half_x)], [float(x2[0] - half_y), float(x2[-1] + half_y)]
    if task == "multiclass":  # each class its colour, paler where the model is less sure
        confidence = np.ones_like(z) if discretize else np.asarray(grid["confidence"], dtype=np.float32)
        source = class_map_png(z, confidence)
    else:
        source = map_png(z, lo, hi)
    image = dict(source=source, xref="x", yref="y", x=xs[0], y=ys[1], sizex=xs[1] - xs[0],
                 sizey=ys[1] - ys[0], xanchor="left", yanchor="top", sizing="stretch", layer="below", opacity=0.85)
    scale = dict(type="heatmap", x=[xs[1] + 10 * half_x], y=[ys[1] + 10 * half_y], z=[[lo]], coloraxis="coloraxis",
                 name="model output", hoverinfo="skip")  # outside the axes: only its colour bar shows
    traces = [scale, _points_trace(np.asarray(points), np.asarray(labels), task, "train", "white")]
    if test_points is not None and len(test_points):
        traces.append(_points_trace(np.asarray(test_points), np.asarray(test_labels), task, "test", "black"))
    return theme.figure(traces, theme.layout(
        "x1", "x2", height, xaxis=dict(range=xs, constrain="domain", showgrid=False, zeroline=False),
        yaxis=dict(range=ys, scaleanchor="x", constrain="domain", showgrid=False, zeroline=False), images=[image],
        coloraxis=dict(colorscale=theme.DIVERGING, cmin=lo, cmax=hi, colorbar=dict(thickness=10, len=0.8),
                       showscale=task != "multiclass")))  # classes need no scale: their colours are the points'


def thumbnail_at(fig: go.Figure, x: float, y: float) -> str | None:
    """The data set whose thumbnail (`dataset_thumbnails`) holds the point (x, y) in paper coordinates."""
    for i, title in enumerate(a.text for a in fig.layout.annotations):
        suffix = "" if i == 0 else str(i + 1)
        xs, ys = fig.layout[f"xaxis{suffix}"].domain, fig.layout[f"yaxis{suffix}"].domain
        if xs[0] <= x <= xs[1] and ys[0] <= y <= ys[1]:
            return title
    return None


def dataset_thumbnails(sets: Mapping[str, tuple[np.ndarray, np.ndarray, str]], selected: str | None = None,
                       cols: int = 4, height_per_row: int = 90) -> go.Figure:
    """Small pictures of datasets, {name: (points (N, 2), labels (N,), task)}, the selected one framed.

    Each is an image of its points (`points_png`) in its own cell, as TF Playground draws them on a canvas:
    drawn as markers they were ~3,600 SVG nodes, which the browser laid out again on every frame while a
    run trained beside them."""
    names = list(sets)
    rows = -(-len(names) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names, horizontal_spacing=0.03,
                        vertical_spacing=0.12)
    for i, name in enumerate(names):
        points, labels, task = sets[name]
        ref = "" if i == 0 else str(i + 1)
        xs, ys = fig.layout[f"xaxis{ref}"].domain, fig.layout[f"yaxis{ref}"].domain
        fig.add_layout_image(source=points_png(np.asarray(points), np.asarray(labels), task), xref="paper",
                             yref="paper", x=xs[0], y=ys[1], sizex=xs[1] - xs[0], sizey=ys[1] - ys[0],
                             xanchor="left", yanchor="top", sizing="stretch", layer="below")
        if name == selected:
            fig.add_shape(type="rect", xref=f"x{ref} domain", yref=f"y{ref} domain", x0=0, y0=0, x1=1, y1=1,
                          line=dict(color=theme.CLASS_1, width=3))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_annotations(font_size=11)
    fig.update_layout(showlegend=False, height=rows * height_per_row,
                      margin=dict(l=0, r=0, t=20, b=0))
    return fig


def points_png(points: np.ndarray, labels: np.ndarray, task: str, size: int = THUMBNAIL_PIXELS) -> str:
    """Points (N, 2) on a white square `size` pixels wide, centred and scaled as the decision map shows them,
    each a dot in its class's colour (for regression, its label's on the diverging palette), as a PNG data URI."""
    if task == "regression":
        lo, hi = _label_range(labels)
        t = np.clip((labels.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
        colours = _diverging_rgb(t)
    else:
        classes = labels.astype(int) if task == "multiclass" else (labels > 0.5).astype(int)
        colours = _CLASS_RGB[classes % len(_CLASS_RGB)]
    reach = 1.05 * float(np.abs(points).max()) or 1.0
    cells = np.clip(((points / reach + 1) / 2 * size).astype(int), 0, size - 1)
    pixels = np.full((size, size, 3), 255.0)
    for dy in range(-THUMBNAIL_DOT, THUMBNAIL_DOT + 1):   # a dot a few pixels wide per point
        for dx in range(-THUMBNAIL_DOT, THUMBNAIL_DOT + 1):
            if dx * dx + dy * dy <= THUMBNAIL_DOT * THUMBNAIL_DOT:
                rows = np.clip(size - 1 - cells[:, 1] + dy, 0, size - 1)
                pixels[rows, np.clip(cells[:, 0] + dx, 0, size - 1)] = colours
    return _png(pixels)


def _layout_nodes(sizes: Sequence[int]) -> list[list[tuple[float, float]]]:
    """(x, y) of every node: layers at x = 0, 1, ...; nodes centred vertically, one unit apart."""
    return [[(layer, (n - 1) / 2 - k) for k in range(n)] for layer, n in enumerate(sizes)]


def _width_class(v: float) -> int:
    """0 .. LINK_BUCKETS-1 by |v|, clamped at LINK_WIDTH_DOMAIN; -1 for NaN or inf (a diverged run)."""
    if not math.isfinite(v):
        return -1
    return min(int(abs(v) / LINK_WIDTH_DOMAIN * LINK_BUCKETS), LINK_BUCKETS - 1)


def _link_traces(nodes, weights: Sequence[np.ndarray], names, label: str = "weight", scale: float = 1.0) -> list[dict]:
    """Links coloured by the weight's sign and as wide as |weight| (clamped), grouped into a few traces; or
    by another value per link (`label`: a gradient, an update), as wide as |value| * `scale`.

    Each group is one line trace whose segments are separated by NaN (a gap to plotly.js), as float32
    arrays: they travel as compact typed arrays, where lists went through plotly's encoder item by item.
    """
    groups: dict[tuple[bool, int], list[tuple]] = {}
    mids, hover = [], []
    for layer, w in enumerate(weights):
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                (x0, y0), (x1, y1), v = nodes[layer][j], nodes[layer + 1][i], float(w[i, j])
                bucket = _width_class(v * scale)
                groups.setdefault((bucket >= 0 and v >= 0, bucket), []).append((x0, y0, x1, y1))
                mids.append(((x0 + x1) / 2, (y0 + y1) / 2))
                hover.append(f"{_link_label(names, layer, i, j)}<br>{label} {v:.4g}" if label != "weight" else
                             f"{_link_label(names, layer, i, j)}<br>weight {v:.3f} (click to edit)")
    traces = []
    for (positive, bucket), segments in sorted(groups.items()):
        ends = np.array(segments, dtype=np.float32)  # (links, 4): x0 y0 x1 y1
        gap = np.full(len(ends), np.nan, dtype=np.float32)
        traces.append(dict(type="scatter", x=np.stack([ends[:, 0], ends[:, 2], gap], 1).ravel(),
                           y=np.stack([ends[:, 1], ends[:, 3], gap], 1).ravel(), mode="lines", hoverinfo="skip",
                           showlegend=False, name=_link_name(positive, bucket), line=_link_line(positive, bucket)))
    mid = np.array(mids, dtype=np.float32).reshape(-1, 2)
    traces.append(dict(type="scatter", x=mid[:, 0], y=mid[:, 1], mode="markers", marker=dict(size=8, opacity=0),
                       hovertext=hover, hoverinfo="text", showlegend=False, name="weights"))
    return traces


def _link_name(positive: bool, bucket: int) -> str:
    return "non-finite weights" if bucket < 0 else "positive weights" if positive else "negative weights"


def _link_line(positive: bool, bucket: int) -> dict:
    if bucket < 0:
        return dict(color=NON_FINITE, width=1, dash="dot")
    lo, hi = LINK_WIDTHS
    return dict(color=theme.POSITIVE if positive else theme.NEGATIVE,
                width=lo + (hi - lo) * (bucket + 0.5) / LINK_BUCKETS)


def _node_names(sizes: Sequence[int], input_names: Sequence[str] | None) -> list[list[str]]:
    first = list(input_names) if input_names else [f"input {k + 1}" for k in range(sizes[0])]
    hidden = [[f"layer {layer} unit {k + 1}" for k in range(n)] for layer, n in enumerate(sizes[1:-1], 1)]
    return [first, *hidden, ["output" if sizes[-1] == 1 else f"output {k + 1}" for k in range(sizes[-1])]]


def _max_abs(m: np.ndarray) -> float:
    """Largest finite |value|, or 1 for an all-zero or all-NaN map (a symmetric colour range needs one)."""
    finite = np.abs(m[np.isfinite(m)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def _node_map_ranges(maps: Mapping, output_range: tuple[float, float]) -> list[list[tuple[np.ndarray, float, float]]]:
    """(map, zmin, zmax) per node: inputs scaled each to their own range, hidden units on [-1, 1]."""
    scales = [_max_abs(m) for m in maps["inputs"]]
    inputs = [(m, -a, a) for m, a in zip(maps["inputs"], scales)]
    hidden = [[(m, -1.0, 1.0) for m in layer] for layer in maps["hidden"]]
    output = np.asarray(maps["output"])
    outputs = output[None] if output.ndim == 2 else output  # one map per output unit
    return [inputs, *hidden, [(m, *output_range) for m in outputs]]


def network_diagram(weights: Sequence[np.ndarray], maps: Mapping | None = None,
                    input_names: Sequence[str] | None = None, output_range: tuple[float, float] = (0.0, 1.0),
                    height: int = 420, biases: Sequence[np.ndarray] | None = None,
                    links: tuple[str, Sequence[np.ndarray]] | None = None,
                    node_values: Sequence[np.ndarray] | None = None) -> go.Figure:
    """The network as TF Playground draws it: nodes per layer, links by weight sign and size.

    `weights` are the Linear matrices (out, in), input side first (`plane.dense_weights`). With `maps`
    (`plane.neuron_maps`), each node shows what it computes over the input plane as a small image. With
    `biases` (`plane.dense_biases`), each unit's bias is a small square at its lower left, coloured and
    sized as a link is, its value on hover (TF Playground users looked for it for hours: its issue #90).
    With `links` (a name and a matrix per layer shaped as `weights`: gradients, updates), the links show those
    values instead, as wide as they are relative to the largest. With `node_values` (one vector per layer,
    inputs first), each node's value is written under it.
    """
    sizes = [weights[0].shape[1], *(w.shape[0] for w in weights)]
    nodes, names = _layout_nodes(sizes), _node_names(sizes, input_names)
    tallest = max(sizes)
    x_range, y_range = (-0.5, len(sizes) - 0.5), (-tallest / 2 - 0.1, tallest / 2 + 0.6)  # room for titles
    if links is None:
        traces = _link_traces(nodes, weights, names)
    else:
        largest = max((float(np.nanmax(np.abs(m))) for m in links[1] if np.size(m)), default=0.0)
        traces = _link_traces(nodes, links[1], names, links[0], LINK_WIDTH_DOMAIN / largest if largest else 1.0)
    layout = {}
    if biases is not None:
        traces.append(_bias_trace(nodes[1:], names[1:], biases))
    if maps is None:
        xs, ys = zip(*(p for layer in nodes for p in layer))
        traces.append(dict(type="scatter", x=xs, y=ys, mode="markers", hoverinfo="text", showlegend=False,
                           hovertext=[n for layer in names for n in layer], name="units",
                           marker=dict(size=22, color="white", line=dict(color="#555", width=1.5))))
    else:
        node_traces, layout = _node_map_figure_parts(nodes, names, _node_map_ranges(maps, output_range))
        traces += node_traces
    titles = [dict(x=layer, y=tallest / 2, yanchor="bottom", showarrow=False, font=dict(size=11),
                   text=f"{_layer_title(layer, len(sizes))}<br>{n} unit{'s' * (n > 1)}")
              for layer, n in enumerate(sizes)]
    labels = [dict(x=x - 0.28, y=y, text=name, showarrow=False, xanchor="right", font=dict(size=11))
              for (x, y), name in zip(nodes[0], names[0])]
    if node_values is not None:
        labels += [dict(x=x, y=y - NODE_HALF_HEIGHT, text=f"{float(v):.3g}", showarrow=False, yanchor="top",
                        font=dict(size=10), bgcolor="rgba(255,255,255,0.8)")
                   for layer, values in zip(nodes, node_values) for (x, y), v in zip(layer, values)]
    return theme.figure(traces, dict(
        height=height, margin=dict(l=60, r=10, t=10, b=10), showlegend=False,
        xaxis=dict(range=x_range, visible=False), yaxis=dict(range=y_range, visible=False),
        annotations=titles + labels, **layout))


def link_at(weights: Sequence[np.ndarray], x: float, y: float) -> tuple[int, int, int] | None:
    """The link of `network_diagram(weights, ...)` nearest the diagram point (x, y), as (layer, unit, source):
    `weights[layer][unit, source]`; None on a node's map or farther than LINK_REACH from every link."""
    sizes = [weights[0].shape[1], *(w.shape[0] for w in weights)]
    nodes = _layout_nodes(sizes)
    if any(abs(x - nx) <= NODE_HALF_WIDTH and abs(y - ny) <= NODE_HALF_HEIGHT for layer in nodes for nx, ny in layer):
        return None
    best, nearest = LINK_REACH, None
    for layer in range(len(weights)):
        if not layer <= x <= layer + 1:
            continue
        for unit, (x1, y1) in enumerate(nodes[layer + 1]):
            for source, (x0, y0) in enumerate(nodes[layer]):
                t = ((x - x0) * (x1 - x0) + (y - y0) * (y1 - y0)) / ((x1 - x0) ** 2 + (y1 - y0) ** 2)
                t = min(max(t, 0.0), 1.0)
                distance = math.hypot(x - x0 - t * (x1 - x0), y - y0 - t * (y1 - y0))
                if distance < best:
                    best, nearest = distance, (layer, unit, source)
    return nearest


def link_name(weights: Sequence[np.ndarray], input_names: Sequence[str] | None, layer: int, unit: int,
              source: int) -> str:
    """"x1 → layer 1 unit 3": a link of the diagram, named as its hover text names it."""
    return _link_label(_node_names([weights[0].shape[1], *(w.shape[0] for w in weights)], input_names),
                       layer, unit, source)


def _link_label(names: list[list[str]], layer: int, unit: int, source: int) -> str:
    return f"{names[layer][source]} → {names[layer + 1][unit]}"


def _bias_trace(nodes, names, biases: Sequence[np.ndarray]) -> dict:
    """One square per unit beside its map's lower left corner (the maps are drawn over traces): blue positive,
    orange negative, larger for larger |b|."""
    b = np.concatenate([np.asarray(layer, dtype=np.float64) for layer in biases])
    xs, ys = zip(*((x - NODE_HALF_WIDTH - BIAS_OFFSET, y - NODE_HALF_HEIGHT + BIAS_OFFSET)
                   for layer in nodes for x, y in layer))
    colour = np.where(np.isfinite(b), np.where(b >= 0, theme.POSITIVE, theme.NEGATIVE), NON_FINITE)
    text = [f"{name}: bias {value:.4g}" for name, value in zip((n for layer in names for n in layer), b)]
    return dict(type="scatter", x=np.asarray(xs, np.float32), y=np.asarray(ys, np.float32), mode="markers",
                name="biases", hoverinfo="text", hovertext=text, showlegend=False,
                marker=dict(symbol="square", size=(5 + 5 * np.clip(np.nan_to_num(np.abs(b)), 0, 1)).astype(np.float32),
                            color=colour.tolist(), line=dict(color="white", width=1)))


def _layer_title(layer: int, n_layers: int) -> str:
    return "input" if layer == 0 else "output" if layer == n_layers - 1 else f"hidden {layer}"


def _node_map_figure_parts(nodes, names, ranged_maps) -> tuple[list[dict], dict]:
    """Each node's map as a small PNG placed over the node (layout images: one SVG <image> each, where a
    heatmap on its own axes cost the browser a subplot to lay out again on every live update), and one
    invisible marker per node for its name on hover: (traces, layout)."""
    images, xs, ys, hover = [], [], [], []
    per_class = len(ranged_maps[-1]) > 1   # a softmax's outputs: each class's probability in its own colour
    for depth, (layer_nodes, layer_names, layer_maps) in enumerate(zip(nodes, names, ranged_maps)):
        for k, ((x, y), name, (m, zmin, zmax)) in enumerate(zip(layer_nodes, layer_names, layer_maps)):
            source = (class_map_png(np.full(np.shape(m), k), m) if per_class and depth == len(nodes) - 1
                      else map_png(m, zmin, zmax))
            images.append(dict(source=source, xref="x", yref="y", x=x - NODE_HALF_WIDTH,
                               y=y + NODE_HALF_HEIGHT, sizex=2 * NODE_HALF_WIDTH, sizey=2 * NODE_HALF_HEIGHT,
                               xanchor="left", yanchor="top", sizing="stretch", layer="above"))
            xs.append(x)
            ys.append(y)
            hover.append(f"{name}<br>range {zmin:.3g} to {zmax:.3g}")
    nodes_trace = dict(type="scatter", x=xs, y=ys, mode="markers", name="units", hoverinfo="text", hovertext=hover,
                       customdata=list(range(len(images))),  # each node's image: ui.live_chart's preview
                       showlegend=False, marker=dict(size=30, symbol="square", opacity=0))
    return [nodes_trace], {"images": images}


def class_map_png(classes: np.ndarray, confidence: np.ndarray) -> str:
    """A multi-class map (row 0 at the bottom) as a PNG data URI: each cell its class's colour, mixed with
    white as the model is less sure; paler than the points drawn on it, which carry the same colours."""
    colours = _CLASS_RGB[np.asarray(classes, dtype=int) % len(_CLASS_RGB)]
    strength = CLASS_MAP_STRENGTH * np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)[..., None]
    return _png((colours * strength + 255 * (1 - strength))[::-1])


def map_png(m: np.ndarray, zmin: float, zmax: float) -> str:
    """A map (row 0 at the bottom, as in the heatmaps) as a PNG data URI in the diverging palette; NaN grey."""
    t = np.clip((np.asarray(m, dtype=np.float64) - zmin) / ((zmax - zmin) or 1.0), 0.0, 1.0)[::-1]
    pixels = _diverging_rgb(t)
    pixels[np.isnan(t)] = NAN_GREY
    return _png(pixels)


def _diverging_rgb(t: np.ndarray) -> np.ndarray:
    """Values 0..1 as RGB (0..255) on the diverging palette (class 0's orange, grey, class 1's blue)."""
    return np.stack([np.interp(t, _MAP_STOPS, _MAP_COLOURS[:, k]) for k in range(3)], axis=-1)


def _png(pixels: np.ndarray) -> str:
    """(rows, columns, RGB) 0..255 -> a PNG data URI."""
    buffer = io.BytesIO()
    Image.fromarray(pixels.round().astype(np.uint8), "RGB").save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()