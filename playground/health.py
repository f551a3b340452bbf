"""Training health: rules of thumb over the telemetry and the loss that say what is going wrong and what to try.

Every check reads the medians of the last RECENT_SAMPLES telemetry samples per layer (one batch is noisy),
and the step losses. A flag carries the measured values, so a user can see why it fired.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import fmean
from typing import TYPE_CHECKING, Sequence

import pandas as pd

if TYPE_CHECKING:
    from .run import Snapshot

RECENT_SAMPLES = 5          # telemetry samples (per layer) whose median a check reads
MIN_SAMPLES = 3             # fewer samples than this: too early to judge the telemetry
# Karpathy (CS231n, "Babysitting the learning process"): a healthy update/weight ratio is about 1e-3.
HEALTHY_UPDATE_RATIO = 1e-3
UPDATE_RATIO_HIGH = 1e-1    # 100x the healthy ratio: each step rewrites a tenth of the weights
UPDATE_RATIO_LOW = 1e-5     # 100x below it: the weights barely move
SMALL_GRAD = 1e-3           # a converged net also makes tiny updates, but because its gradients are this small
VANISHING_RATIO = 1e-3      # first layer's gradient three orders of magnitude below the output layer's
EXPLODING_GRAD_NORM = 1e3   # these nets' gradient norms are ~0.01-10; clipping thresholds are usually 1-5
GRAD_GROWTH = 1e2           # a layer's gradient norm grew 100x since the first samples
# CS231n: "as much as 40% of your network can be dead"; batches of ~10 make the count noisy, so warn at half.
DEAD_FRACTION = 0.5
SATURATED_FRACTION = 0.5    # half the tanh/sigmoid outputs pinned near their bounds (telemetry.SATURATION)
LOSS_WINDOW = 200           # step losses compared: first half vs second half of the last this many
MIN_LOSS_POINTS = 20
LOSS_RISE = 0.1             # mean loss up 10 % between the halves
LOSS_FLAT = 0.01            # mean loss changed by less than 1 %


@dataclass(frozen=True)
class HealthFlag:
    severity: str   # "error" (training is broken) or "warning" (training is hampered)
    title: str
    detail: str     # what was measured
    fix: str        # what to try


def snapshot_flags(snap: "Snapshot", telemetry: pd.DataFrame) -> list[HealthFlag]:
    """Health flags of a Run's snapshot and its telemetry (`run.read(telemetry.telemetry_frame)`)."""
    return health_flags(telemetry, snap.step_losses, snap.state, snap.message)


def health_flags(telemetry: pd.DataFrame, losses: Sequence[float] = (), state: str = "",
                 message: str = "") -> list[HealthFlag]:
    """All flags that fire, errors first. `telemetry` has Telemetry.frame()'s columns; `losses` are step losses."""
    change = loss_change(losses)
    steps = sorted(telemetry["step"].unique()) if "step" in telemetry else []
    if len(steps) < MIN_SAMPLES:
        steps = []  # too early to judge the telemetry; the loss checks still apply
    recent, first = _medians(telemetry, steps[-RECENT_SAMPLES:]), _medians(telemetry, steps[:RECENT_SAMPLES])
    flags = _divergence(losses, state, message) + _exploding(recent, first, len(steps))
    if not flags:  # after a divergence or explosion the activations say nothing more about the cause
        flags += (_frozen(recent) + _vanishing(recent) + _dead(recent) + _saturated(recent)
                  + _lr_too_low(recent, change))
    flags += _lr_too_high(recent, change)
    return sorted(flags, key=lambda f: f.severity != "error")


def loss_change(losses: Sequence[float]) -> float | None:
    """Relative change of the mean loss from the first to the second half of the last LOSS_WINDOW steps."""
    tail = [v for v in list(losses)[-LOSS_WINDOW:] if math.isfinite(v)]
    if len(tail) < MIN_LOSS_POINTS:
        return None
    half = len(tail) // 2
    early, late = fmean(tail[:half]), fmean(tail[half:])
    return (late - early) / max(abs(early), 1e-12)


def _medians(telemetry: pd.DataFrame, steps: list) -> pd.DataFrame:
    """Per-layer medians over the given sampled steps, layers in network order (input side first)."""
    if not steps:
        return pd.DataFrame()
    rows = telemetry[telemetry["step"].isin(steps)]
    return rows.groupby("layer", sort=False).median(numeric_only=True)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name].dropna() if name in frame else pd.Series(dtype=float)


def _divergence(losses: Sequence[float], state: str, message: str) -> list[HealthFlag]:
    bad = [v for v in losses if not math.isfinite(v)]
    if state != "diverged" and not bad:
        return []
    detail = message or f"the loss became {bad[0]}"
    return [HealthFlag("error", "Training diverged", detail,
                       "Lower the learning rate (try 10x smaller), normalise the inputs, or use adam.")]


def _exploding(recent: pd.DataFrame, first: pd.DataFrame, n_samples: int) -> list[HealthFlag]:
    grad = _column(recent, "grad_norm")
    growth = (grad / _column(first, "grad_norm")).replace(math.inf, math.nan).dropna()
    if n_samples < 2 * RECENT_SAMPLES:
        growth = growth.iloc[0:0]  # the two windows overlap: no growth to measure yet
    big, grew = grad[grad > EXPLODING_GRAD_NORM], growth[growth > GRAD_GROWTH]
    if big.empty and grew.empty:
        return []
    parts = [f"{layer}: gradient norm {grad[layer]:.3g}"
             + (f", {growth[layer]:.3g}x its size at the start" if layer in grew else "")
             for layer in grad.index if layer in big or layer in grew]
    return [HealthFlag("error", "Exploding gradients", "; ".join(parts),
                       "Lower the learning rate, normalise the inputs (and regression targets), or add batchnorm.")]


def _frozen(recent: pd.DataFrame) -> list[HealthFlag]:
    """Layers whose weights get no gradient at all; where a layer is dead, that is the cause (the dead-ReLU flag's)."""
    grad, dead = _column(recent, "grad_norm"), _column(recent, "dead_fraction")
    frozen = [layer for layer, g in grad.items() if g == 0]
    if not frozen or (dead >= 1.0).any():
        return []
    return [HealthFlag("error", "Weights that never change",
                       f"the gradient of {', '.join(frozen)} is exactly zero in the recent samples: "
                       f"{'those weights' if len(frozen) > 1 else 'its weights'} stay where they started",
                       "Weights that start at zeros (Initialization: zeros) or all equal make every unit of a layer "
                       "compute the same thing and get the same gradient, here none: nothing breaks the symmetry. "
                       "Pick the default, Xavier or He initialization, then Reset.")]


def _vanishing(recent: pd.DataFrame) -> list[HealthFlag]:
    grad = _column(recent, "grad_norm")
    if len(grad) < 2 or grad.iloc[-1] <= 0:
        return []
    first_layer, last_layer = grad.index[0], grad.index[-1]
    if _column(recent, "dead_fraction").get(first_layer, 0.0) >= 1.0:
        return []  # a dead layer has no gradient; the dead-ReLU flag says so
    ratio = grad.iloc[0] / grad.iloc[-1]
    if ratio >= VANISHING_RATIO:
        return []
    smaller = f"{1 / ratio:.3g}x smaller" if ratio > 0 else "none reaches it"
    detail = (f"gradient norm of {first_layer} is {grad.iloc[0]:.3g}, of {last_layer} {grad.iloc[-1]:.3g} "
              f"({smaller}): the first layers hardly learn")
    return [HealthFlag("warning", "Vanishing gradients", detail,
                       "Use relu, leaky_relu or gelu instead of sigmoid/tanh, use fewer layers, add batchnorm, "
                       "or switch to adam.")]


def _dead(recent: pd.DataFrame) -> list[HealthFlag]:
    dead = _column(recent, "dead_fraction")
    dead = dead[dead > DEAD_FRACTION]
    if dead.empty:
        return []
    severity = "error" if (dead >= 1.0).any() else "warning"
    detail = "; ".join(f"{layer}: {v:.0%} of units output 0 for every sample" for layer, v in dead.items())
    return [HealthFlag(severity, "Dead ReLUs", detail,
                       "Lower the learning rate, use leaky_relu, elu or gelu, or add batchnorm; "
                       "a dead ReLU gets no gradient and does not recover. Weights that start at zeros "
                       "(Initialization: zeros) leave every ReLU at 0 from the start: pick another initialization.")]


def _saturated(recent: pd.DataFrame) -> list[HealthFlag]:
    sat = _column(recent, "saturated_fraction")
    sat = sat[sat > SATURATED_FRACTION]
    if sat.empty:
        return []
    detail = "; ".join(f"{layer}: {v:.0%} of outputs pinned near the bounds" for layer, v in sat.items())
    return [HealthFlag("warning", "Saturated tanh/sigmoid units", detail,
                       "Lower the learning rate, normalise the inputs, add batchnorm, "
                       "or use a relu-family activation.")]


def _lr_too_high(recent: pd.DataFrame, change: float | None) -> list[HealthFlag]:
    ratio = _column(recent, "update_ratio")
    high = ratio[ratio > UPDATE_RATIO_HIGH]
    rising = change is not None and change > LOSS_RISE
    if high.empty and not rising:
        return []
    parts = [f"{layer}: update/weight ratio {v:.3g} (healthy is about {HEALTHY_UPDATE_RATIO:g})"
             for layer, v in high.items()]
    if rising:
        rose = f"{change:.0%}" if change < 1 else f"{1 + change:.3g}x"
        parts.append(f"the mean loss rose {rose} over the last {LOSS_WINDOW} steps")
    return [HealthFlag("warning", "Learning rate looks too high", "; ".join(parts),
                       "Lower the learning rate (try 3-10x smaller) or add a decaying schedule.")]


def _lr_too_low(recent: pd.DataFrame, change: float | None) -> list[HealthFlag]:
    ratio, grad = _column(recent, "update_ratio"), _column(recent, "grad_norm")
    if ratio.empty or change is None or abs(change) >= LOSS_FLAT:
        return []
    if not 0 < ratio.max() < UPDATE_RATIO_LOW or grad.max() < SMALL_GRAD:
        return []
    detail = (f"largest update/weight ratio {ratio.max():.3g} (healthy is about {HEALTHY_UPDATE_RATIO:g}) "
              f"while the loss changed {change:+.2%} over the last {LOSS_WINDOW} steps")
    return [HealthFlag("warning", "Learning rate looks too low", detail,
                       "Raise the learning rate (try 10x larger) or use adam.")]
