"""`python -m playground train | validate | export | datasets` (the contract is in DESIGN.md).

Exit codes: 0 done, 2 a bad experiment or data (the message names the field or file), 3 training diverged,
130 interrupted (Ctrl-C or SIGTERM: what was trained is saved). Progress goes to stderr; `train` prints a
one-line JSON summary last on stdout.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import math
import signal
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from . import checkpoint
from .data import DataError
from .export import export_notebook, export_script
from .registry import DEVICES
from .spec import ExperimentSpec, SpecError
from .tensorboard_log import TensorBoardLog
from .train import Experiment

EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130
METRICS_FILE = "metrics.csv"
LOCK_FILE = ".train.lock"   # held by the `train` writing a --out directory
_USER_ERRORS = (SpecError, DataError, UnicodeDecodeError, OSError)  # what a bad file or path raises


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except _USER_ERRORS as e:
        print(f"error: {_describe(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m playground", description="Neural Network Playground, headless.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train an experiment and write its results")
    train.add_argument("experiment", help="experiment JSON file")
    train.add_argument("--epochs", type=int, help="override train.epochs")
    train.add_argument("--device", choices=DEVICES, help="override train.device")
    train.add_argument("--out", type=Path, help="write metrics.csv, experiment.json and model.safetensors here")
    train.add_argument("--tensorboard", type=Path, metavar="DIR",
                       help="also log losses, norms and histograms for `tensorboard --logdir DIR` (needs tensorboard)")
    train.add_argument("--quiet", action="store_true", help="no progress bar: about ten plain progress lines")
    train.set_defaults(run=_train)
    validate = commands.add_parser("validate", help="check an experiment: fields, data and layer shapes")
    validate.add_argument("experiment", help="experiment JSON file")
    validate.set_defaults(run=_validate)
    export = commands.add_parser("export", help="write a standalone PyTorch script that trains the experiment")
    export.add_argument("experiment", help="experiment JSON file")
    export.add_argument("-o", "--output", type=Path, help="file to write (default: print it)")
    export.add_argument("--notebook", action="store_true",
                        help="write a Jupyter notebook (.ipynb): the same code in cells, with notes and a loss chart")
    export.set_defaults(run=_export)
    datasets = commands.add_parser("datasets", help="list datasets: what is built in, cached or needs a download")
    datasets.set_defaults(run=_datasets)
    return parser


def load_spec(path: str, epochs: int | None = None, device: str | None = None) -> ExperimentSpec:
    """Read and validate an experiment file, applying command-line overrides (validated like the file)."""
    spec = ExperimentSpec.from_file(path)
    overrides = {k: v for k, v in (("epochs", epochs), ("device", device)) if v is not None}
    if not overrides:
        return spec
    return ExperimentSpec.from_dict(spec.replace(train=replace(spec.train, **overrides)).to_dict())


def _train(args: argparse.Namespace) -> int:
    exp = Experiment(load_spec(args.experiment, args.epochs, args.device))
    log = TensorBoardLog(args.tensorboard) if args.tensorboard else None  # a missing package fails before training
    progress = _Progress(exp, bar=sys.stderr.isatty() and not args.quiet)
    if args.out is None:
        return _train_and_report(exp, None, progress, log)
    args.out.mkdir(parents=True, exist_ok=True)  # a bad --out fails now, not after training
    with _locked(args.out):
        if (args.out / METRICS_FILE).exists():
            print(f"note: replacing the results already in {args.out}", file=sys.stderr)
        return _train_and_report(exp, args.out, progress, log)


def _train_and_report(exp: Experiment, out: Path | None, progress: _Progress, log: TensorBoardLog | None) -> int:
    status = "interrupted"
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a SIGTERM saves what was trained, like Ctrl-C
    try:
        while not exp.done:
            exp.fit(1)
            if exp.history:
                progress.update(exp)
                if log is not None:
                    log.write(exp)
        status = exp.status
    except KeyboardInterrupt:
        pass  # the status stays "interrupted": what was trained is saved below
    finally:
        progress.close()
        if log is not None:
            log.close()
        signal.signal(signal.SIGTERM, previous)
    if status == "interrupted":
        print(f"interrupted after {exp.epoch} epochs" + (f"; saving to {out}" if out else ""), file=sys.stderr)
    if status == "diverged":
        print(f"error: {exp.message}", file=sys.stderr)
    if out is not None:
        with _signals_held():
            checkpoint.write_atomic(out / METRICS_FILE, exp.history_frame().to_csv(index=False).encode())
            checkpoint.save(exp, out)
    print(json.dumps(_summary(exp, status, out)))
    return {"diverged": EXIT_DIVERGED, "interrupted": EXIT_INTERRUPTED}.get(status, 0)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block ends (the save), then act: a second Ctrl-C cannot cut a save."""
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        print("interrupted again during the save; the save finished first", file=sys.stderr)


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold `out`'s lock file for the whole run; another `train --out` into it is refused (exit 2)."""
    with open(out / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SpecError("--out", f"{out} is being written by another `train` right now; wait for it to "
                                     "finish or choose another directory") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class _Progress:
    """A progress bar on a terminal (epochs, steps/s, the latest losses, ETA); else about ten plain lines."""

    def __init__(self, exp: Experiment, bar: bool):
        epochs = exp.spec.train.epochs
        self.every = max(1, epochs // 10)
        self.bar = tqdm(total=epochs, initial=exp.epoch, unit="epoch", file=sys.stderr, dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} epochs [{elapsed}<{remaining}]{postfix}"
                        ) if bar else None

    def update(self, exp: Experiment) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(_latest(exp), refresh=False)
            self.bar.update(exp.epoch - self.bar.n)
        elif exp.epoch % self.every == 0 or exp.done:
            print(f"epoch {exp.epoch}/{exp.spec.train.epochs}  {_latest(exp)}  ({exp.seconds:.1f}s)", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _latest(exp: Experiment) -> str:
    row = exp.history[-1]
    text = f"train_loss {row['train_loss']:.4f}  test_loss {row['test_loss']:.4f}"
    if row["test_accuracy"] is not None:
        text += f"  test_accuracy {row['test_accuracy']:.3f}"
    return text + f"  {exp.step_count / max(exp.seconds, 1e-9):,.0f} steps/s"


def _summary(exp: Experiment, status: str, out: Path | None) -> dict:
    """The one-line result: strict JSON (non-finite numbers become null)."""
    last = exp.history[-1] if exp.history else {}

    def number(key: str) -> float | None:
        value = last.get(key)
        return value if value is not None and math.isfinite(value) else None

    return {"status": status, "message": exp.message, "epochs": exp.epoch, "steps": exp.step_count,
            **{k: number(k) for k in ("train_loss", "test_loss", "train_accuracy", "test_accuracy")},
            "seconds": round(exp.seconds, 3), "device": str(exp.device), "out": str(out) if out else None}


def _validate(args: argparse.Namespace) -> int:
    """Everything `train` would check before its first step: fields, the data, the loss and the shapes."""
    exp = Experiment(load_spec(args.experiment))
    print(exp.summary().to_string(index=False))
    print(f"ok: {args.experiment} is a valid experiment on {exp.data.name} ({exp.data.task}), "
          f"{exp.model.num_params():,} parameters, {exp.steps_per_epoch} steps per epoch, device {exp.device}")
    return 0


def _export(args: argparse.Namespace) -> int:
    text = (export_notebook if args.notebook else export_script)(load_spec(args.experiment))
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        how = "open it in Jupyter: jupyter lab" if args.notebook else "run it with: python"
        print(f"wrote {args.output}; {how} {args.output}", file=sys.stderr)
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from .data.catalog import describe_datasets

    print(_table(describe_datasets()))
    return 0


def _table(frame) -> str:
    """Left-aligned columns under an underlined header, as a terminal table reads best."""
    rows = [list(frame.columns)] + frame.astype(str).values.tolist()
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def _describe(e: Exception) -> str:
    if isinstance(e, UnicodeDecodeError):
        return f"the file is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8 JSON"
    if isinstance(e, OSError) and not isinstance(e, (SpecError, DataError)):
        return f"{e.filename}: {e.strerror or e}" if e.filename else str(e)
    return str(e)
