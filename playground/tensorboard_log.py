"""`train --tensorboard DIR`: a run's story as TensorBoard event files, the same one the Inspect page tells.

After each epoch: the losses, accuracies and learning rate at the run's step count; then every telemetry
sample taken since (per-layer weight and gradient norms, update/weight ratios) at its own step, and the
sampled weight and gradient histograms, given to TensorBoard as the telemetry's 64 bins (so their sums
are the bins' centres times their counts). TensorBoard is an optional extra (`pip install tensorboard`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .spec import SpecError
from .telemetry import HIST_BINS
from .train import Experiment

TELEMETRY_SCALARS = ("weight_norm", "grad_norm", "update_ratio")


class TensorBoardLog:
    def __init__(self, logdir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch raises this when the tensorboard package is missing
            raise SpecError("--tensorboard", "needs the tensorboard package; install it with "
                                             "`pip install tensorboard` (or leave out --tensorboard)") from None
        self.writer = SummaryWriter(str(logdir))
        self._last_sample = -1      # the step of the last telemetry sample written
        self._last_histogram = -1

    def write(self, exp: Experiment) -> None:
        """What the run recorded since the last call."""
        w, row = self.writer, exp.history[-1]
        for split in ("train", "test"):
            w.add_scalar(f"loss/{split}", row[f"{split}_loss"], row["step"])
            if row[f"{split}_accuracy"] is not None:
                w.add_scalar(f"accuracy/{split}", row[f"{split}_accuracy"], row["step"])
        w.add_scalar("lr", row["lr"], row["step"])
        samples = [r for r in exp.telemetry.rows if r["step"] > self._last_sample]
        for sample in samples:
            for stat in TELEMETRY_SCALARS:
                w.add_scalar(f"{stat}/{sample['layer']}", sample[stat], sample["step"])
        self._last_sample = max([self._last_sample] + [r["step"] for r in samples])
        newest = self._last_histogram
        for (layer, kind), window in exp.telemetry.histograms.items():
            for h in window:
                if h["step"] > self._last_histogram:
                    self._histogram(f"{kind}/{layer}", h)
                    newest = max(newest, h["step"])
        self._last_histogram = newest
        w.flush()

    def _histogram(self, tag: str, h: dict) -> None:
        counts = np.asarray(h["counts"], dtype=np.float64)
        edges = np.linspace(h["lo"], h["hi"], HIST_BINS + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        self.writer.add_histogram_raw(tag, min=h["lo"], max=h["hi"], num=counts.sum(), sum=(centres * counts).sum(),
                                      sum_squares=(centres ** 2 * counts).sum(), bucket_limits=edges[1:].tolist(),
                                      bucket_counts=counts.tolist(), global_step=h["step"])

    def close(self) -> None:
        self.writer.close()
