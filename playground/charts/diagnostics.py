"""Diagnostic charts: histograms over time, gradient flow, weights, conv filters, activation maps,
confusion matrix, misclassified examples; and the comparison helpers (overlaid curves, settings diff,
run names from what differs).

Every function is pure (data in, `go.Figure` or DataFrame out). Arrays may be numpy arrays or CPU tensors.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go

from ..health import HEALTHY_UPDATE_RATIO
from . import theme

SERIES = plotly.colors.qualitative.D3            # one colour per layer or per run
SEQUENTIAL = [[0.0, "#ffffff"], [1.0, theme.CLASS_1]]  # amounts: histogram shares
ACTIVATION = [[0.0, "#e8eaeb"], [1.0, theme.CLASS_1]]  # non-negative activations: zero is not the gaps' white
UNIT_PIXELS = 4         # a dense layer's unit drawn as a square this many pixels wide, one pixel apart
HIST_GRID = 64          # value bins of the common grid every histogram sample is re-binned onto
MAX_TILES = 64          # filters or channels drawn in one grid
MAX_EXAMPLES = 16       # misclassified images drawn
LABEL_ORDER = {"train": 0, "model": 1, "data": 2}  # which differing settings name a run first
CAPTION_ROW_CHARS = 100  # caption characters that fit across a row of misclassified images


def _empty(message: str, height: int = 300) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height)
    return fig


def histogram_over_time(hist: pd.DataFrame, title: str = "", height: int = 320) -> go.Figure:
    """Heatmap of step x value: each column is one sample's histogram (share of entries per bin).

    `hist` is Telemetry.histogram_frame(): step, counts (per bin over [lo, hi]), lo, hi. Samples span
    different ranges, so each is re-binned (by bin centre) onto one grid over the widest range.
    """
    if hist.empty:
        return _empty("no samples yet: histograms are taken every train.telemetry_every steps", height)
    lo, hi = float(hist["lo"].min()), float(hist["hi"].max())
    edges = np.linspace(lo, hi, HIST_GRID + 1)
    columns = []
    for row in hist.itertuples():
        counts = np.asarray(row.counts, dtype=float)
        width = (row.hi - row.lo) / len(counts)
        centres = row.lo + (np.arange(len(counts)) + 0.5) * width
        regridded, _ = np.histogram(centres, bins=edges, weights=counts)
        columns.append(regridded / max(counts.sum(), 1.0))
    fig = go.Figure(go.Heatmap(x=hist["step"], y=(edges[:-1] + edges[1:]) / 2, z=np.stack(columns, 1),
                               colorscale=SEQUENTIAL, colorbar=dict(title="share", tickformat=".0%"),
                               hovertemplate="step %{x}<br>value %{y:.3g}<br>share %{z:.1%}<extra></extra>"))
    theme.style(fig, "step", "value", height)
    fig.update_layout(title=title)
    return fig


def gradient_flow(telemetry: pd.DataFrame, height: int = 480) -> go.Figure:
    """Per-layer gradient norm (top) and update/weight ratio (bottom) over steps, sharing the step axis, log y.

    The bottom row marks the ~1e-3 update/weight ratio that is usually healthy.
    """
    if telemetry.empty:
        return _empty("no telemetry yet: it is sampled every train.telemetry_every steps", height)
    if not (telemetry["grad_norm"] > 0).any():  # a log axis has no place for zeros: the chart would be blank
        return _empty("Every gradient has been exactly zero, so no weight has changed and nothing is learning.<br>"
                      "Usual causes: all weights started at zero or equal (Reset draws new ones), every ReLU<br>"
                      "is dead (lower the learning rate, or try leaky_relu), or the output ignores the inputs.",
                      height)
    traces = []
    for i, (layer, rows) in enumerate(telemetry.groupby("layer", sort=False)):
        line = dict(color=SERIES[i % len(SERIES)])
        traces += [go.Scatter(x=rows["step"], y=rows["grad_norm"], name=layer, legendgroup=layer, line=line),
                   go.Scatter(x=rows["step"], y=rows["update_ratio"], name=layer, legendgroup=layer, line=line,
                              xaxis="x2", yaxis="y2", showlegend=False)]
    fig = theme.style(go.Figure(traces), "", "", height)
    log = dict(type="log", exponentformat="power")
    healthy = dict(xref="x2 domain", yref="y2")  # shapes take data values on a log axis, annotations log10
    fig.update_layout(
        xaxis=dict(matches="x2", showticklabels=False), xaxis2=dict(anchor="y2", title="step"),
        yaxis=dict(domain=[0.54, 1.0], title="gradient norm", **log),
        yaxis2=dict(domain=[0.0, 0.46], title="update / weight", **log),
        shapes=[dict(type="line", x0=0, x1=1, y0=HEALTHY_UPDATE_RATIO, y1=HEALTHY_UPDATE_RATIO,
                     line=dict(dash="dash", color="grey"), **healthy)],
        annotations=[dict(text=f"~{HEALTHY_UPDATE_RATIO:g} is healthy", x=1, y=math.log10(HEALTHY_UPDATE_RATIO),
                          xanchor="right", yanchor="bottom", showarrow=False, **healthy)])
    return fig


def weight_heatmap(weight, title: str = "", height: int = 360, inputs: Sequence[str] | None = None,
                   units: Sequence[str] | None = None) -> go.Figure:
    """A dense layer's weight matrix (out units x in features), blue positive, orange negative; the axes
    name each input and unit (`inputs`, `units`; numbered if not given)."""
    w = np.asarray(weight, dtype=float)
    if w.ndim != 2:
        return _empty(f"a weight heatmap needs a 2-D matrix, got shape {w.shape}", height)
    inputs = list(inputs) if inputs is not None else [str(j) for j in range(w.shape[1])]
    units = list(units) if units is not None else [str(i) for i in range(w.shape[0])]
    bound = float(np.abs(w).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=w, x=inputs, y=units, zmin=-bound, zmax=bound, colorscale=theme.DIVERGING,
                               hovertemplate="unit %{y}<br>input %{x}<br>weight %{z:.3g}<extra></extra>"))
    theme.style(fig, "input", "unit", height)
    fig.update_layout(title=title)
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def tile(maps, columns: int | None = None, row_gap: int = 1) -> np.ndarray:
    """(N, H, W) -> one mosaic image; tiles are one blank (NaN) pixel apart, rows `row_gap` pixels.

    Plotly leaves NaN cells blank.
    """
    maps = np.asarray(maps, dtype=float)
    n, h, w = maps.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    mosaic = np.full((rows * (h + row_gap) - row_gap, columns * (w + 1) - 1), np.nan)
    for i, m in enumerate(maps):
        r, c = divmod(i, columns)
        mosaic[r * (h + row_gap):r * (h + row_gap) + h, c * (w + 1):c * (w + 1) + w] = m
    return mosaic


def _mosaic_figure(maps: np.ndarray, title: str, colorscale, symmetric: bool, height: int) -> go.Figure:
    maps = maps[:MAX_TILES]
    bound = float(np.nanmax(np.abs(maps))) or 1.0
    zrange = dict(zmin=-bound, zmax=bound) if symmetric else {}
    fig = go.Figure(go.Heatmap(z=tile(maps), colorscale=colorscale, hoverongaps=False, **zrange))
    return _picture(fig, title, height)


def _picture(fig: go.Figure, title: str, height: int, **layout) -> go.Figure:
    """Layout for images and mosaics: no axes, square pixels, row 0 at the top."""
    top = 40 if title else 10
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=top, b=10),
                      **layout)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return fig


def filter_grid(weight, title: str = "", height: int = 360) -> go.Figure:
    """Conv kernels (filters, in_channels, k, k) as a grid, each averaged over its input channels."""
    w = np.asarray(weight, dtype=float)
    if w.ndim != 4:
        return _empty(f"conv filters need a 4-D weight, got shape {w.shape}", height)
    return _mosaic_figure(w.mean(1), title or f"{len(w)} filters ({w.shape[2]}x{w.shape[3]})",
                          theme.DIVERGING, True, height)


def activation_maps(activation, title: str = "", height: int = 360) -> go.Figure:
    """One input's output of a block: (channels, H, W) as a grid of maps, or (units,) as a grid of squares,
    each apart from the next; a zero is light grey, so a map of zeros still shows where it is."""
    a = np.asarray(activation, dtype=float)
    if a.ndim == 1:
        a = np.repeat(np.repeat(a[:, None, None], UNIT_PIXELS, 1), UNIT_PIXELS, 2)
    if a.ndim != 3:
        return _empty(f"activation maps need (channels, H, W) or (units,), got shape {a.shape}", height)
    return _mosaic_figure(a, title, ACTIVATION if a.min() >= 0 else theme.DIVERGING, a.min() < 0, height)


def _image_trace(image: np.ndarray) -> go.BaseTraceType:
    """(C, H, W) in [0, 1] -> a greyscale heatmap (1 channel) or an RGB image (3 channels)."""
    if image.shape[0] == 3:
        return go.Image(z=np.clip(image.transpose(1, 2, 0) * 255, 0, 255).astype(np.uint8))
    return go.Heatmap(z=image.mean(0), colorscale="gray_r", showscale=False)


def image_figure(image, title: str = "", height: int = 240) -> go.Figure:
    """One input image (C, H, W)."""
    return _picture(go.Figure(_image_trace(np.asarray(image, dtype=float))), title, height)


def predicted_labels(outputs) -> np.ndarray:
    """Raw model outputs (N, n_outputs) -> class indices: argmax, or logit > 0 for one output."""
    out = np.asarray(outputs, dtype=float)
    return (out[:, 0] > 0).astype(int) if out.shape[1] == 1 else out.argmax(1)


def confusion_matrix_figure(y_true, y_pred, class_names: Sequence[str], height: int = 420) -> go.Figure:
    """Counts of (true class, predicted class); the diagonal is right."""
    n = len(class_names)
    counts = np.zeros((n, n), dtype=int)
    np.add.at(counts, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    names = list(class_names)
    fig = go.Figure(go.Heatmap(z=counts, x=names, y=names, colorscale=SEQUENTIAL, text=counts,
                               texttemplate="%{text}", hovertemplate="true %{y}<br>predicted %{x}<br>"
                               "%{z} examples<extra></extra>"))
    theme.style(fig, "predicted", "true", height)
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def misclassified(y_true, y_pred) -> np.ndarray:
    """Indices where the prediction is wrong."""
    return np.flatnonzero(np.asarray(y_true, dtype=int) != np.asarray(y_pred, dtype=int))


def misclassified_grid(images, y_true, y_pred, class_names: Sequence[str], ids: Sequence[int] | None = None,
                       columns: int = 8) -> go.Figure:
    """Wrongly classified images (N, C, H, W) in one mosaic, each captioned below with its test-set index
    and "true → predicted"; long class names get fewer columns, so captions never run into each other.

    Pass only the examples to draw (see `misclassified`); `ids` are their test-set indices.
    """
    images = np.asarray(images, dtype=float)[:MAX_EXAMPLES]
    if len(images) == 0:
        return _empty("no misclassified examples", 200)
    ids = list(ids) if ids is not None else list(range(len(images)))
    n, channels, h, w = images.shape
    captions = [f"{class_names[int(y_true[k])]} → {class_names[int(y_pred[k])]}" for k in range(n)]
    columns = max(1, min(columns, n, CAPTION_ROW_CHARS // max(map(len, captions))))
    band = h // 2 + 2  # blank rows under each image for its two caption lines
    mosaic = np.stack([tile(images[:, ch], columns, band) for ch in range(channels)])
    mosaic = np.pad(mosaic, ((0, 0), (0, band), (0, 0)), constant_values=np.nan)
    labels = [dict(x=(k % columns) * (w + 1) + (w - 1) / 2, y=(k // columns) * (h + band) + h - 0.5 + band / 2,
                   text=f"test #{ids[k]}<br>{captions[k]}", showarrow=False, font=dict(size=12)) for k in range(n)]
    trace = _image_trace(np.nan_to_num(mosaic, nan=1.0) if channels == 3 else mosaic)
    return _picture(go.Figure(trace), "", 170 * math.ceil(n / columns) + 20, annotations=labels)


def misclassified_table(x, y_true, y_pred, feature_names: Sequence[str], class_names: Sequence[str],
                        ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Flat data: the given (wrongly classified) rows' features, true and predicted class, indexed by `ids`."""
    table = pd.DataFrame(np.asarray(x, dtype=float), columns=list(feature_names), index=ids)
    table["true"] = [class_names[int(v)] for v in y_true]
    table["predicted"] = [class_names[int(v)] for v in y_pred]
    return table.rename_axis("test example")


def run_curves(histories: Mapping[str, pd.DataFrame], metric: str = "loss", log: bool = False,
               height: int = 360) -> go.Figure:
    """Several runs' loss or accuracy per epoch on one chart: one colour per run, test solid, train dotted.

    `log` puts the y axis on a log scale, where one run's spike does not flatten every other curve.
    """
    fig = go.Figure()
    for i, (name, history) in enumerate(histories.items()):
        colour = SERIES[i % len(SERIES)]
        for split, dash in (("test", "solid"), ("train", "dot")):  # one legend entry a run: both lines toggle
            fig.add_scatter(x=history["epoch"], y=history[f"{split}_{metric}"], name=name, legendgroup=name,
                            showlegend=split == "test", mode="lines", line=dict(color=colour, dash=dash),
                            hovertemplate=f"{split} {metric} %{{y:.4g}} at epoch %{{x}}")
    theme.style(fig, "epoch", f"{metric} (test solid, train dotted)", height)
    if log:
        fig.update_yaxes(type="log", exponentformat="power")
    return fig


def _flatten(value, prefix: str = "") -> dict[str, object]:
    """Nested spec dict -> {"train.lr": 0.03, "model.layers[0].units": 8, "data.features": "x1, x2"}.

    A list of dicts (the layers) gives one entry per item's key; an empty one gives none.
    """
    if isinstance(value, Mapping):
        children = [(f"{prefix}.{key}" if prefix else str(key), item) for key, item in value.items()]
    elif isinstance(value, (list, tuple)) and all(isinstance(item, Mapping) for item in value):
        children = [(f"{prefix}[{i}]", item) for i, item in enumerate(value)]
    elif isinstance(value, (list, tuple)):
        return {prefix: ", ".join(map(str, value))}
    else:
        return {prefix: value}
    return {k: v for path, item in children for k, v in _flatten(item, path).items()}


def settings_diff(specs: Mapping[str, Mapping]) -> pd.DataFrame:
    """The settings that differ between runs: one row per dotted field, one column per run ("—": absent)."""
    flat = {name: _flatten(spec) for name, spec in specs.items()}
    table = pd.DataFrame(flat).astype(object).where(lambda t: t.notna(), "—")
    differs = table.apply(lambda row: len({repr(v) for v in row}) > 1, axis=1)
    return table[differs].rename_axis("setting")


def run_labels(specs: Mapping[str, Mapping], most: int = 3) -> dict[str, str]:
    """Each run named by settings where the runs differ ("lr 0.1, layer 0 activation relu", "+2 more"): the
    fewest (at most `most`) that tell the runs apart, picked greedily: training settings before the model's
    and the data's, seeds last (people choose them least); a run whose settings equal another's, or the
    only run, keeps its own name."""
    diff = settings_diff(specs)
    names, fields = list(specs), []

    def groups(chosen: list[str]) -> int:
        return len({tuple(diff.at[f, name] for f in chosen) for name in names})

    def preference(f: str) -> tuple[bool, bool, int, int]:
        gain = groups(fields + [f]) - groups(fields)
        return gain > 0, "seed" not in f, gain, -LABEL_ORDER.get(f.split(".")[0], len(LABEL_ORDER))

    while len(fields) < most and groups(fields) < len(names):
        best = max((f for f in diff.index if f not in fields), key=preference, default=None)
        if best is None or groups(fields + [best]) == groups(fields):
            break
        fields.append(best)
    fields.sort(key=list(diff.index).index)
    more = f", +{len(diff) - len(fields)} more" if fields and len(diff) > len(fields) else ""
    labels = {name: ", ".join(f"{_short(f)} {diff.at[f, name]}" for f in fields) + more for name in names}
    counts = pd.Series(list(labels.values())).value_counts()
    return {name: label if fields and counts[label] == 1 else name for name, label in labels.items()}


def _short(path: str) -> str:
    """"train.lr" -> "lr", "model.layers[1].units" -> "layer 1 units", "data.name" -> "data"."""
    section, _, rest = path.partition(".")
    short = section if rest in ("", "name") else rest.replace("layers[", "layer ").replace("].", " ")
    return short.replace("_", " ")


def final_metrics(histories: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per run: its last epoch's metrics (blank before the first epoch) and its best test loss."""
    rows = [(h.tail(1) if len(h) else h.reindex([0])).assign(best_test_loss=h["test_loss"].min())
            for h in histories.values()]
    if not rows:
        return pd.DataFrame()
    return pd.concat(rows).set_axis(list(histories)).rename_axis("run")


def metrics_csv(histories: Mapping[str, pd.DataFrame]) -> str:
    """Every epoch of every run as CSV, with a leading `run` column."""
    frames = [h.assign(run=name)[["run", *h.columns]] for name, h in histories.items()]
    return pd.concat(frames, ignore_index=True).to_csv(index=False) if frames else "run\n"
