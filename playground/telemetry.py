"""What is observed while training, sampled every K steps so that watching costs little.

On a sampled step `Experiment.step` calls `start(step)` before the forward pass (hooks record
activation stats), `after_backward()` before the optimizer (gradient stats, weights kept), and
`after_update()` after it (update/weight ratio, weight histograms). Between samples nothing runs.
"""
from __future__ import annotations

import functools
import math
from collections import deque

import pandas as pd
import torch
from torch import nn

HIST_BINS = 64
MAX_SAMPLES = 2000          # scalar rows kept per layer; older ones are thinned to every other
MAX_HISTOGRAMS = 100        # histogram samples kept per layer and kind (a sliding window)
HIST_SAMPLE = 4096          # bigger tensors are histogrammed on a fixed random subset of this many entries
SATURATION = 0.99           # tanh |a| or sigmoid distance from 0.5 (scaled) counted as saturated

_RELU_LIKE = (nn.ReLU,)
_SQUASHING = (nn.Tanh, nn.Sigmoid)


@functools.lru_cache(maxsize=64)
def _subset(n: int, device: torch.device) -> torch.Tensor:
    """A fixed, seeded choice of HIST_SAMPLE of n indices: the same entries are watched at every sample."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:HIST_SAMPLE].to(device)


def histogram(t: torch.Tensor, bins: int = HIST_BINS) -> dict:
    """64-bin histogram of a tensor: counts plus the [lo, hi] range it spans (the whole tensor's).

    Above HIST_SAMPLE entries the counts come from a fixed random subset, scaled to the tensor's size:
    the same shape for a fraction of the cost (torch.histc takes ~6 ns an entry here: 7 ms for a 1M-weight layer).
    NaN/inf entries (a diverging run) are left out: torch.histc refuses a non-finite range.
    """
    t = t.detach().float().flatten()
    if t.numel() == 0:
        return {"counts": [0.0] * bins, "lo": 0.0, "hi": 0.0}
    lo, hi = torch.aminmax(t)
    lo, hi = lo.item(), hi.item()
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return histogram(t[torch.isfinite(t)], bins)
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    if t.numel() <= HIST_SAMPLE:
        return {"counts": torch.histc(t, bins, lo, hi).cpu().tolist(), "lo": lo, "hi": hi}
    counts = torch.histc(t[_subset(t.numel(), t.device)], bins, lo, hi) * (t.numel() / HIST_SAMPLE)
    return {"counts": counts.cpu().tolist(), "lo": lo, "hi": hi}


def _weighted_modules(model: nn.Module) -> dict[str, nn.Parameter]:
    """Block name -> the weight of its main module (Linear, Conv2d, BatchNorm)."""
    out = {}
    for name, block in model.named_children():
        for module in block.modules():
            if isinstance(getattr(module, "weight", None), nn.Parameter):
                out[name] = module.weight
                break
    return out


def activation_stats(a: torch.Tensor, act: nn.Module | None) -> dict:
    """Mean/std of a block's output; dead fraction for ReLU, saturated fraction for tanh/sigmoid."""
    a = a.detach().float()
    stats = {"act_mean": a.mean().item(), "act_std": a.std().item() if a.numel() > 1 else 0.0,
             "dead_fraction": float("nan"), "saturated_fraction": float("nan")}
    if isinstance(act, _RELU_LIKE):  # a unit (or channel) is dead if it is <= 0 for the whole batch
        per_unit_max = a.amax(dim=[d for d in range(a.dim()) if d != 1])  # no transposed copy: 10x faster
        stats["dead_fraction"] = (per_unit_max <= 0).float().mean().item()
    elif isinstance(act, nn.Tanh):
        stats["saturated_fraction"] = (a.abs() > SATURATION).float().mean().item()
    elif isinstance(act, nn.Sigmoid):
        stats["saturated_fraction"] = ((a - 0.5).abs() * 2 > SATURATION).float().mean().item()
    return stats


def _activation_of(block: nn.Module) -> nn.Module | None:
    mods = list(block.children())
    return mods[-1] if len(mods) > 1 else None


class Telemetry:
    def __init__(self, model: nn.Module, every: int):
        self.model, self.every = model, every
        self.weights = _weighted_modules(model)
        self.rows: list[dict] = []
        self.histograms: dict[tuple[str, str], deque] = {}
        self.latest: dict[str, dict] = {}
        self._hooks, self._acts, self._before, self._current = [], {}, {}, None

    def wants(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def start(self, step: int, epoch: int) -> None:
        self._current = {"step": step, "epoch": epoch}
        self._acts = {}
        for name, block in self.model.named_children():
            if name == "output":
                continue
            act = _activation_of(block)
            self._hooks.append(block.register_forward_hook(
                lambda m, i, o, name=name, act=act: self._acts.__setitem__(name, activation_stats(o, act))))

    def after_backward(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []
        self._before = {name: w.detach().clone() for name, w in self.weights.items()}
        self._grads = {name: (w.grad.detach().clone() if w.grad is not None else torch.zeros_like(w))
                       for name, w in self.weights.items()}

    def after_update(self) -> None:
        sample = self._current
        for name, w in self.weights.items():
            grad, before, w = self._grads[name], self._before[name], w.detach()
            norm = torch.linalg.vector_norm  # Tensor.norm() goes through a slow Python wrapper
            row = {**sample, "layer": name, "weight_norm": norm(w).item(), "grad_norm": norm(grad).item(),
                   "update_ratio": norm(w - before).item() / (norm(before).item() + 1e-12),
                   "weight_mean": w.mean().item(), "weight_std": w.std().item() if w.numel() > 1 else 0.0,
                   **self._acts.get(name, {})}
            self.rows.append(row)
            self.latest[name] = row
            for kind, t in (("weight", w), ("grad", grad)):
                window = self.histograms.setdefault((name, kind), deque(maxlen=MAX_HISTOGRAMS))
                window.append({"step": sample["step"], **histogram(t)})
        if len(self.rows) > MAX_SAMPLES * max(1, len(self.weights)):
            # thin to every other sample, so a long run keeps its whole shape in bounded memory
            keep = set(sorted({r["step"] for r in self.rows})[::2])
            self.rows = [r for r in self.rows if r["step"] in keep]
        self._before, self._grads = {}, {}

    def frame(self) -> pd.DataFrame:
        """One row per (sample, layer): step, epoch, layer, norms, update ratio, activation stats."""
        return pd.DataFrame(self.rows)

    def histogram_frame(self, layer: str, kind: str) -> pd.DataFrame:
        """Histograms of one layer's weights or grads over time: step, counts (64), lo, hi."""
        return pd.DataFrame(list(self.histograms.get((layer, kind), [])))


@torch.no_grad()
def capture_activations(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each block's output for input `x` (eval mode), on the CPU: for activation maps and neuron views."""
    outputs, hooks = {}, []
    for name, block in model.named_children():
        hooks.append(block.register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o.cpu())))
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return outputs
