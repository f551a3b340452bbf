"""Experiment: one spec, its data on the device, its model, and training one step at a time.

Batching (also what export.py writes): each epoch draws `torch.randperm` from a CPU generator seeded
with `seed`, reorders the training tensors once, and slices consecutive batches from position 0; the
epoch ends when at most one sample is left (a trailing batch of one is skipped: BatchNorm cannot train on
one). Live changes (`train.changes`) are applied before the step after theirs: lr, momentum and weight
decay in the optimizer's groups (and the schedule's base), reg_rate in the penalty, batch_size from the
next batch on, mid-epoch too. The model is initialised right after `torch.manual_seed(spec.weights_seed)`
(the seed, or init_seed where Reset drew new weights). Epoch metrics: train loss/accuracy are means over
the epoch's steps, test loss/accuracy are computed on the whole test set in eval mode at the epoch's end.
"""
from __future__ import annotations

import math
import platform
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from .data import Dataset, load_dataset
from .model import Network, check_weight_edits
from .objectives import (check_loss, compute_loss, count_correct, init_weights, make_optimizer, make_scheduler,
                         penalised_weights, penalty, resolve_device)
from .spec import Change, ExperimentSpec, SpecError, WeightEdit
from .telemetry import Telemetry

METRIC_COLUMNS = ["epoch", "step", "train_loss", "test_loss", "train_accuracy", "test_accuracy", "lr", "seconds"]
ENDED_EARLY = ("early_stopped", "diverged")  # training cannot go on, even when asked for more epochs
DONE_STATES = ("finished", *ENDED_EARLY)     # the spec's run is over (fit(n) may still train a finished one on)

_INIT_LOCK = threading.Lock()  # seeding + init use torch's global RNG; runs in other threads must not interleave
_RNG_LOCK = threading.Lock()   # dropout also draws from it: one run at a time swaps its own stream in (_forward)


class TrainingDiverged(RuntimeError):
    """Raised by `step()` once the loss has become NaN or infinite."""


@dataclass(frozen=True)
class StepMetrics:
    step: int          # steps done so far, this one included
    epoch: int         # epochs completed
    loss: float        # this batch's data loss (no penalty)
    lr: float
    epoch_end: bool    # this step completed an epoch (a history row was added)


class Experiment:
    def __init__(self, spec: ExperimentSpec, dataset: Dataset | None = None):
        self.spec = spec
        train = spec.train
        self.device = resolve_device(train.device)
        data = dataset if dataset is not None else load_dataset(spec.data, spec.seed)
        check_loss(train.loss, data.task, data.name)
        if len(data.x_train) < 2:
            raise SpecError("data", f"the training split has {len(data.x_train)} sample(s); training needs at least "
                                    "2. Use more samples (n_samples) or a smaller test_fraction")
        self.data = data.to(self.device)
        with _INIT_LOCK:
            torch.manual_seed(spec.weights_seed)
            self.model = Network(spec.model, data.input_shape, data.n_outputs,
                                 batch_size=min(train.batch_size, len(data.x_train)))
            init_weights(self.model, spec.model.init)  # on the CPU, as the exported script does
            check_weight_edits(train.weight_edits, self.model.dense_layers())
            self.model.to(self.device)
            stochastic = any(isinstance(m, torch.nn.modules.dropout._DropoutNd) for m in self.model.modules())
            self._rng = _rng_module(self.device).get_rng_state() if stochastic else None
        self.optimizer = make_optimizer(train, self.model.parameters())
        self.scheduler = make_scheduler(train, self.optimizer)
        self.telemetry = Telemetry(self.model, train.telemetry_every)
        self._penalised = penalised_weights(self.model)
        self._shuffle = torch.Generator().manual_seed(spec.seed)
        self.history: list[dict] = []
        self.step_losses: list[float] = []   # every step's batch loss, for the live curve
        self.step_count, self.epoch, self.seconds = 0, 0, 0.0
        self.status, self.message = "ready", ""
        self.num_threads = train.num_threads  # CPU threads it trains with (a Run may cap it: metadata says)
        self._best_test, self._stale_epochs = math.inf, 0
        self.batch_size, self.reg_rate = train.batch_size, train.reg_rate  # live: changes may set them
        self._n = len(self.data.x_train)
        self._pos, self._epoch_stats = 0, None   # where this epoch's next batch starts
        self._xs = self._ys = None               # this epoch's shuffled training set (None: the epoch has not begun)
        self._applied = 0                        # changes of spec.train.changes applied so far
        self._edited = 0                         # and weight edits of spec.train.weight_edits

    @classmethod
    def from_dict(cls, d: dict) -> "Experiment":
        return cls(ExperimentSpec.from_dict(d))

    @classmethod
    def from_file(cls, path: str | Path) -> "Experiment":
        return cls(ExperimentSpec.from_file(path))

    @property
    def done(self) -> bool:
        return self.status in DONE_STATES

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    @property
    def steps_per_epoch(self) -> int:
        """Steps in a whole epoch at the current batch size."""
        return self._steps_from(0)

    def steps_to_epoch_end(self) -> int:
        """Steps left in this epoch (a whole epoch at an epoch's boundary): TF Playground's Step."""
        return self._steps_from(self._pos)

    def _steps_from(self, pos: int) -> int:
        return len(range(pos, self._n - 1, self.batch_size))  # batches starting where more than one is left

    def change(self, **values: float) -> None:
        """Change live settings (registry.LIVE_SETTINGS) now, between two steps. The change is validated,
        applied, and recorded in `spec.train.changes`, so the experiment file and the exported script
        replay it. Raises SpecError naming the setting."""
        train = self.spec.train
        recorded = replace(train, changes=train.changes + (Change(self.step_count, tuple(values.items())),))
        self.spec = ExperimentSpec.from_dict(self.spec.replace(train=recorded).to_dict())
        self._apply_due_changes()

    def edit_weight(self, layer: int, unit: int, source: int, value: float) -> None:
        """Set one weight now, between two steps: from input `source` to unit `unit` of dense layer `layer`
        (`Network.dense_layers`). Recorded in `spec.train.weight_edits`, so the experiment file and the exported
        script replay it. Raises SpecError naming what is out of range."""
        train = self.spec.train
        entry = {"step": self.step_count, "layer": layer, "unit": unit, "source": source, "value": value}
        edit = WeightEdit.from_dict(entry, f"train.weight_edits[{len(train.weight_edits)}]")
        edits = train.weight_edits + (edit,)
        check_weight_edits(edits, self.model.dense_layers())
        self.spec = self.spec.replace(train=replace(train, weight_edits=edits))
        self._apply_due_changes()

    def _apply_due_changes(self) -> None:
        edits = self.spec.train.weight_edits
        while self._edited < len(edits) and edits[self._edited].step <= self.step_count:
            edit = edits[self._edited]
            with torch.no_grad():
                self.model.dense_layers()[edit.layer].weight[edit.unit, edit.source] = edit.value
            self._edited += 1
        changes = self.spec.train.changes
        while self._applied < len(changes) and changes[self._applied].step <= self.step_count:
            for name, value in changes[self._applied].values:
                if name in ("batch_size", "reg_rate"):
                    setattr(self, name, value)
                    continue
                for group in self.optimizer.param_groups:
                    group[name] = value
                if name == "lr" and self.scheduler is not None:
                    self.scheduler.base_lrs = [value] * len(self.optimizer.param_groups)
            self._applied += 1

    def summary(self) -> pd.DataFrame:
        return self.model.summary()

    def _begin_epoch(self) -> None:
        order = torch.randperm(len(self.data.x_train), generator=self._shuffle).to(self.device)
        self._xs, self._ys = self.data.x_train[order], self.data.y_train[order]
        self._epoch_stats = {"loss": 0.0, "seen": 0, "outputs": []}  # outputs: for train accuracy at epoch end

    def step(self) -> StepMetrics:
        """One optimisation step on the next batch; at an epoch's end, evaluate and add a history row."""
        if self.status == "diverged":
            raise TrainingDiverged(self.message)
        if self._applied < len(self.spec.train.changes) or self._edited < len(self.spec.train.weight_edits):
            self._apply_due_changes()
        started = time.perf_counter()
        task = self.data.task
        xb, yb = self.next_batch()
        end = self._pos + self.batch_size
        n_batch = yb.shape[0]  # not len(yb): Tensor.__len__ is a slow Python call on this hot path
        sampled = self.telemetry.wants(self.step_count)
        if sampled:
            self.telemetry.start(self.step_count, self.epoch)
        out = self._forward(xb)
        loss, objective = self.objective(out, yb)
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        if sampled:
            self.telemetry.after_backward()
        self.optimizer.step()
        if sampled:
            self.telemetry.after_update()
        value, lr = loss.item(), self.lr
        self.step_count += 1
        self.step_losses.append(value)
        stats = self._epoch_stats
        stats["loss"] += value * n_batch
        stats["seen"] += n_batch
        if task != "regression":
            stats["outputs"].append(out.detach())  # counted once per epoch: per-step counting cost ~10%
        self._pos = end
        self.status = "training"
        epoch_end = False
        if not math.isfinite(value):
            self.status = "diverged"
            self.message = (f"the loss became {value} at step {self.step_count} (epoch {self.epoch + 1}); "
                            f"training stopped. Lower the learning rate (now {lr:g}), use a larger batch, "
                            "add regularization, or normalise the inputs")
        elif self._n - self._pos <= 1:
            self._end_epoch(lr)
            epoch_end = True
        self.seconds += time.perf_counter() - started
        return StepMetrics(self.step_count, self.epoch, value, lr, epoch_end)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch (inputs, targets) the next step trains on; at an epoch's start this shuffles it first."""
        if self._xs is None:
            self._begin_epoch()
        return self._xs[self._pos:self._pos + self.batch_size], self._ys[self._pos:self._pos + self.batch_size]

    def objective(self, out: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(data loss, what the step minimises: the loss plus the L1/L2 penalty) for a batch's outputs."""
        loss = compute_loss(self.spec.train.loss, self.data.task, out, yb)
        extra = penalty(self.spec.train.regularization, self.reg_rate, self._penalised)
        return loss, (loss + extra if torch.is_tensor(extra) else loss)  # no penalty: no extra autograd node

    def _forward(self, xb: torch.Tensor) -> torch.Tensor:
        """The training forward pass. With dropout, masks come from this run's own RNG stream (continuing
        from right after init, as in a plain script), so runs side by side stay reproducible from the seed."""
        if self._rng is None:
            return self.model(xb)
        rng = _rng_module(self.device)
        with _RNG_LOCK:
            rng.set_rng_state(self._rng)
            out = self.model(xb)
            self._rng = rng.get_rng_state()
        return out

    def evaluate(self, split: str = "test") -> tuple[float, float | None]:
        """(mean loss, accuracy or None for regression) on a whole split, in eval mode."""
        x, y = (self.data.x_test, self.data.y_test) if split == "test" else (self.data.x_train, self.data.y_train)
        if len(x) == 0:
            return math.nan, None
        out = self.model.predict(x)
        loss = compute_loss(self.spec.train.loss, self.data.task, out, y).item()
        if self.data.task == "regression":
            return loss, None
        return loss, count_correct(self.data.task, out, y).item() / len(y)

    def _end_epoch(self, lr: float) -> None:
        stats, train, ys = self._epoch_stats, self.spec.train, self._ys
        self._pos, self._xs, self._ys = 0, None, None
        self.epoch += 1
        test_loss, test_acc = self.evaluate("test")
        if not math.isfinite(test_loss):
            self.status = "diverged"
            self.message = (f"the test loss became {test_loss} after epoch {self.epoch}; training stopped. "
                            f"Lower the learning rate (now {lr:g}) or add regularization")
        train_acc = None if self.data.task == "regression" else count_correct(
            self.data.task, torch.cat(stats["outputs"]), ys[:stats["seen"]]).item() / stats["seen"]
        self.history.append({"epoch": self.epoch, "step": self.step_count, "train_loss": stats["loss"] / stats["seen"],
                             "test_loss": test_loss, "train_accuracy": train_acc, "test_accuracy": test_acc,
                             "lr": lr, "seconds": self.seconds})
        if self.scheduler is not None:
            self.scheduler.step()
        if test_loss < self._best_test:
            self._best_test, self._stale_epochs = test_loss, 0
        else:
            self._stale_epochs += 1
        patience = train.early_stopping_patience
        if self.status == "diverged":
            return
        if patience is not None and self._stale_epochs >= patience:
            self.status = "early_stopped"
            self.message = (f"stopped early after epoch {self.epoch}: the test loss has not improved for "
                            f"{patience} epochs (best {self._best_test:.4g})")
        elif self.epoch >= train.epochs:
            self.status = "finished"
            self.message = f"finished {self.epoch} epochs"

    def fit(self, epochs: int | None = None) -> pd.DataFrame:
        """Train `epochs` more epochs (default: up to the spec's epochs), stopping early if the run ends."""
        target = self.epoch + epochs if epochs is not None else self.spec.train.epochs
        threads = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)  # the spec's count: the same numbers as the app and the script
        try:
            while self.epoch < target and self.status not in ENDED_EARLY:
                self.step()
        finally:
            torch.set_num_threads(threads)
        return self.history_frame()

    def history_frame(self) -> pd.DataFrame:
        """Per-epoch metrics, columns as metrics.csv."""
        return pd.DataFrame(self.history, columns=METRIC_COLUMNS)

    def metadata(self) -> dict:
        """What a reader needs to reproduce this run: seed, versions, device, determinism settings."""
        return {"seed": self.spec.seed, "torch": torch.__version__, "python": platform.python_version(),
                "device": str(self.device), "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                "cudnn_deterministic": torch.backends.cudnn.deterministic, "num_threads": self.num_threads}


def _rng_module(device: torch.device):
    """Where the global RNG that dropout uses on `device` lives: torch (CPU), torch.cuda or torch.mps."""
    return torch if device.type == "cpu" else torch.get_device_module(device)
