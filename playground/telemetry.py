"""What is observed while training, sampled every K steps so that watching costs little.

On a sampled step `Experiment.step` calls `start(step, epoch)` before the forward pass (the Network
records its block outputs into `watch`), `after_backward()` before the optimizer (activation stats,
weights kept) and `after_update()` after it (gradient and weight stats, update/weight ratio, and on
every HIST_EVERY-th sample the histograms). Between samples nothing runs.

Each torch op costs 3-10 us of dispatch on a CPU, as much as a whole layer of a tiny net, so a sample
takes few ops: the norms of all layers in one foreach op, every statistic left on the device as a 0-d
tensor until one copy brings them and the histogrammed entries to the host, where NumPy bins all the
histograms together (bench/README.md has the figures).
"""
from __future__ import annotations

import functools
import math
from collections import deque

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

HIST_BINS = 64
MAX_SAMPLES = 2000          # scalar rows kept per layer; older ones are thinned to every other
MAX_HISTOGRAMS = 100        # histogram samples kept per layer and kind (a sliding window)
HIST_SAMPLE = 4096          # bigger tensors are histogrammed on a fixed random subset of this many entries
SATURATION = 0.99           # tanh |a| or sigmoid distance from 0.5 (scaled) counted as saturated
KINDS = ("weight", "grad")  # what is histogrammed per layer
HIST_EVERY = 2              # histograms on every n-th sample (the scalar stats are on all)

_RELU_LIKE = (nn.ReLU,)


@functools.lru_cache(maxsize=64)
def _subset(n: int, device: torch.device) -> torch.Tensor:
    """A fixed, seeded choice of HIST_SAMPLE of n indices: the same entries are watched at every sample."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:HIST_SAMPLE].to(device)


def _watched(t: torch.Tensor) -> torch.Tensor:
    """The entries of `t` that its histogram counts: all, or a fixed random HIST_SAMPLE of a bigger tensor
    (torch.histc takes ~6 ns an entry: 7 ms for a 1M-weight layer; a subset keeps the shape for a fraction)."""
    flat = t.detach().reshape(-1)
    return flat if flat.numel() <= HIST_SAMPLE else flat.index_select(0, _subset(flat.numel(), flat.device))


@functools.lru_cache(maxsize=64)
def _segments(sizes: tuple[int, ...], rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For tensors of `sizes` laid end to end as their watched entries, `rows` times: where each tensor's
    entries start, which tensor each entry is of, each tensor's count scale (size / watched entries), and
    each entry's first bin in the flat (rows, tensors, bins) counts."""
    watched = np.minimum(sizes, HIST_SAMPLE)
    starts = np.concatenate([[0], np.cumsum(watched)[:-1]])
    segment = np.repeat(np.arange(len(sizes)), watched)
    first_bin = (np.arange(rows)[:, None] * len(sizes) + segment) * HIST_BINS
    return starts, segment, np.asarray(sizes) / watched, first_bin


def _bin(values: np.ndarray, sizes: tuple[int, ...], exact: np.ndarray | None = None):
    """HIST_BINS-bin histograms of the segments of each row of `values` (K rows, segment j holding the watched
    entries of a tensor of sizes[j]), in about fifteen NumPy calls whatever K and the number of segments.

    A segment spans its tensor's range: `exact` (K, L, 2) where given and finite (a subsampled tensor's
    aminmax), else its own finite entries'. Non-finite entries are left out; a zero-width range is widened by
    0.5 either side, as torch.histc does. Counts of a subset are scaled to the tensor's size.
    Returns counts (K, L, HIST_BINS), lo (K, L), hi (K, L).
    """
    k, n, bins = values.shape[0], len(sizes), HIST_BINS
    starts, segment, scale, first_bin = _segments(sizes, k)
    if np.isfinite(np.add.reduce(values, axis=None)):   # all entries finite (one C call; .all() is slower)
        lo, hi, finite = np.minimum.reduceat(values, starts, axis=1), np.maximum.reduceat(values, starts, axis=1), None
    else:                                               # NaN/inf entries are left out, as is an unknown range
        finite = np.isfinite(values)
        masked = np.where(finite, values, np.nan)
        with np.errstate(invalid="ignore"):
            lo, hi = np.fmin.reduceat(masked, starts, axis=1), np.fmax.reduceat(masked, starts, axis=1)
    if exact is not None:
        exact = np.where(np.isfinite(exact), exact, np.nan)
        lo, hi = np.fmin(lo, exact[..., 0]), np.fmax(hi, exact[..., 1])
    if finite is not None:
        lo, hi = np.nan_to_num(lo), np.nan_to_num(hi)
    same = lo == hi
    lo, hi = (lo - 0.5 * same).astype(values.dtype), (hi + 0.5 * same).astype(values.dtype)
    with np.errstate(invalid="ignore"):                 # a non-finite entry's position: computed, not counted
        position = (values - lo[:, segment]) * bins / (hi - lo)[:, segment]   # in histc's order and precision
        key = first_bin + np.minimum(position, bins - 1).astype(np.int64)
    counts = np.bincount(key.ravel() if finite is None else key[finite], minlength=k * n * bins)
    return counts.reshape(k, n, bins) * scale[None, :, None], lo, hi


def histogram(t: torch.Tensor) -> dict:
    """64-bin histogram of a tensor: counts plus the [lo, hi] range it spans (the whole tensor's, finite
    entries only). Above HIST_SAMPLE entries the counts come from a fixed random subset, scaled."""
    t = t.detach().float()
    if t.numel() == 0:
        return {"counts": [0.0] * HIST_BINS, "lo": 0.0, "hi": 0.0}
    exact = np.array(torch.stack(torch.aminmax(t)).tolist())[None, None] if t.numel() > HIST_SAMPLE else None
    counts, lo, hi = _bin(_watched(t).cpu().numpy()[None], (t.numel(),), exact)
    return {"counts": counts[0, 0].tolist(), "lo": float(lo[0, 0]), "hi": float(hi[0, 0])}


def _weighted_modules(model: nn.Module) -> dict[str, nn.Parameter]:
    """Block name -> the weight of its main module (Linear, Conv2d, BatchNorm)."""
    out = {}
    for name, block in model.named_children():
        for module in block.modules():
            if isinstance(getattr(module, "weight", None), nn.Parameter):
                out[name] = module.weight
                break
    return out


def _std_mean(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(std, mean) as 0-d tensors. Above a few thousand entries torch.std_mean's single pass runs ~15x slower
    on a CPU than a mean and the norm of the centred tensor (9 ms against 0.5 ms for a conv activation)."""
    n = t.numel()
    if n <= 4096:  # below this, std_mean is the one op: fewer dispatches
        return torch.std_mean(t, correction=1 if n > 1 else 0)
    mean = t.mean()
    return torch.linalg.vector_norm(t - mean) / (n - 1) ** 0.5, mean


def activation_stats(a: torch.Tensor, act: nn.Module | None) -> dict[str, torch.Tensor]:
    """Mean/std of a block's output; dead fraction for ReLU, saturated fraction for tanh/sigmoid.
    Values are 0-d tensors, read in one copy with the rest of the sample."""
    a = a.detach()
    std, mean = _std_mean(a)
    stats = {"act_mean": mean, "act_std": std}
    if isinstance(act, _RELU_LIKE):  # a unit (or channel) is dead if it is <= 0 for the whole batch
        per_unit_max = a.amax(dim=[d for d in range(a.dim()) if d != 1])  # no transposed copy: 10x faster
        stats["dead_fraction"] = torch.count_nonzero(per_unit_max <= 0) / per_unit_max.numel()
    elif isinstance(act, (nn.Tanh, nn.Sigmoid)):  # hardshrink zeroes |x| <= threshold: a count in two ops
        centred, threshold = (a, SATURATION) if isinstance(act, nn.Tanh) else (a - 0.5, SATURATION / 2)
        stats["saturated_fraction"] = torch.count_nonzero(F.hardshrink(centred, threshold)) / a.numel()
    return stats


def _activation_of(block: nn.Module) -> nn.Module | None:
    mods = list(block.children())
    return mods[-1] if len(mods) > 1 else None


class Telemetry:
    def __init__(self, model: nn.Module, every: int):
        """`model` is a Network: a sample reads block outputs from its `watch`."""
        self.model, self.every = model, every
        self.weights = _weighted_modules(model)
        self._acts = {name: _activation_of(block) for name, block in model.named_children()
                      if name in self.weights and name != "output"}
        self._sizes = tuple(w.numel() for w in self.weights.values())
        self._big = [i for i, n in enumerate(self._sizes) if n > HIST_SAMPLE]  # whose range needs its own op
        self.rows: list[dict] = []
        self.histograms: dict[tuple[str, str], deque] = {}
        self.latest: dict[str, dict] = {}
        self._samples = 0
        self._current: dict = {}
        self._pending: dict[tuple[str, str], torch.Tensor] = {}   # (layer, stat) -> 0-d tensor on the device
        self._before: list[torch.Tensor] = []

    def wants(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def start(self, step: int, epoch: int) -> None:
        self._current = {"step": step, "epoch": epoch}
        self.model.watch = {}

    def after_backward(self) -> None:
        outputs, self.model.watch = self.model.watch or {}, None
        self._pending = {(name, stat): v for name, act in self._acts.items() if name in outputs
                         for stat, v in activation_stats(outputs[name], act).items()}
        self._before = [w.detach().clone() for w in self.weights.values()]

    def after_update(self) -> None:
        """Gradients are read here, after the update: torch's optimizers leave `.grad` as it was."""
        names, pending = list(self.weights), self._pending
        weights = [w.detach() for w in self.weights.values()]
        grads = [w.grad.detach() if w.grad is not None else torch.zeros_like(w) for w in self.weights.values()]
        n = len(weights)
        norms = torch._foreach_norm([*weights, *grads, *torch._foreach_sub(weights, self._before), *self._before])
        for i, name in enumerate(names):
            std, mean = _std_mean(weights[i])
            pending.update({(name, "weight_norm"): norms[i], (name, "grad_norm"): norms[n + i],
                            (name, "update_norm"): norms[2 * n + i], (name, "before_norm"): norms[3 * n + i],
                            (name, "weight_std"): std, (name, "weight_mean"): mean})
        with_histograms = self._samples % HIST_EVERY == 0
        self._samples += 1
        watched = []
        if with_histograms:
            for i in self._big:  # whole-tensor ranges of those histogrammed on a subset
                for kind, t in zip(KINDS, (weights[i], grads[i])):
                    pending[(names[i], f"{kind}_lo")], pending[(names[i], f"{kind}_hi")] = torch.aminmax(t)
            watched = [_watched(t) for t in weights + grads]
        host = torch.cat([torch.stack(list(pending.values())), *watched]).cpu().numpy()  # the one host copy
        stats: dict[str, dict[str, float]] = {name: {} for name in names}
        for (layer, stat), value in zip(pending, host[:len(pending)].tolist()):
            stats[layer][stat] = value
        self._add_rows(stats)
        if with_histograms:
            self._add_histograms(stats, host[len(pending):].reshape(len(KINDS), -1))
        self._pending, self._before = {}, []

    def _add_rows(self, stats: dict[str, dict[str, float]]) -> None:
        for name, stat in stats.items():
            row = {**self._current, "layer": name, "weight_norm": stat["weight_norm"], "grad_norm": stat["grad_norm"],
                   "update_ratio": stat["update_norm"] / (stat["before_norm"] + 1e-12),
                   "weight_mean": stat["weight_mean"], "weight_std": stat["weight_std"]}
            if "act_mean" in stat:
                row.update(act_mean=stat["act_mean"], act_std=stat["act_std"],
                           dead_fraction=stat.get("dead_fraction", math.nan),
                           saturated_fraction=stat.get("saturated_fraction", math.nan))
            self.rows.append(row)
            self.latest[name] = row
        if len(self.rows) > MAX_SAMPLES * max(1, len(self.weights)):
            # thin to every other sample, so a long run keeps its whole shape in bounded memory
            keep = set(sorted({r["step"] for r in self.rows})[::2])
            self.rows = [r for r in self.rows if r["step"] in keep]

    def _add_histograms(self, stats: dict[str, dict[str, float]], watched: np.ndarray) -> None:
        names = list(self.weights)
        exact = None
        if self._big:
            exact = np.full((len(KINDS), len(names), 2), np.nan)
            for i in self._big:
                for k, kind in enumerate(KINDS):
                    exact[k, i] = stats[names[i]][f"{kind}_lo"], stats[names[i]][f"{kind}_hi"]
        counts, lo, hi = _bin(watched, self._sizes, exact)
        for i, name in enumerate(names):
            for k, kind in enumerate(KINDS):
                window = self.histograms.setdefault((name, kind), deque(maxlen=MAX_HISTOGRAMS))
                window.append({"step": self._current["step"], "counts": counts[k, i].tolist(),
                               "lo": float(lo[k, i]), "hi": float(hi[k, i])})

    def frame(self) -> pd.DataFrame:
        """One row per (sample, layer): step, epoch, layer, norms, update ratio, activation stats."""
        return pd.DataFrame(self.rows)

    def histogram_frame(self, layer: str, kind: str) -> pd.DataFrame:
        """Histograms of one layer's weights or grads over time: step, counts (64), lo, hi."""
        return pd.DataFrame(list(self.histograms.get((layer, kind), [])))


@torch.no_grad()
def capture_activations(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each block's output for input `x` (eval mode), on the CPU: for activation maps and neuron views.
    `model` is a Network (it records block outputs into its `watch`)."""
    was_training, saved = model.training, model.watch
    model.eval()
    model.watch = outputs = {}
    try:
        model(x)
    finally:
        model.train(was_training)
        model.watch = saved
    return {name: out.cpu() for name, out in outputs.items()}


def telemetry_frame(exp) -> pd.DataFrame:
    """A run's telemetry samples, one row per (sample, layer), as a named query (`run.read(telemetry_frame)`):
    only the pages that show them copy them, not every snapshot of every live view."""
    return exp.telemetry.frame()
