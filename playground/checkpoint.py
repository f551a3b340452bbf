"""Checkpoints: a model's weights in safetensors, with its experiment inside the file's metadata.

A checkpoint is one `.safetensors` file whose header metadata holds the experiment JSON (spec plus
"meta"), so the file alone rebuilds the run; `save` also writes that JSON beside it for people to read.
Loading never runs code from the file: safetensors holds raw tensors only (no pickle), the size is
bounded before anything is read, and every tensor is checked by name and shape against the model the
spec builds. Files and bytes (the app's download/upload) go through the same two functions.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from .data import Dataset
from .quoting import quote, quote_list
from .spec import ExperimentSpec
from .train import Experiment

MAX_CHECKPOINT_BYTES = 200 * 2**20  # the largest allowed network (20M float32 parameters) is 80 MB
WEIGHTS_FILE = "model.safetensors"
EXPERIMENT_FILE = "experiment.json"
FORMAT = "playground-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file or tensor and what to do."""


def experiment_document(exp: Experiment) -> dict:
    """The experiment JSON written next to results: the spec plus a "meta" key (seed, versions, device)."""
    return {**exp.spec.to_dict(), "meta": exp.metadata()}


def checkpoint_bytes(exp: Experiment) -> bytes:
    """The model's weights (parameters and buffers, on the CPU) as safetensors bytes with the experiment inside."""
    tensors = {name: t.detach().cpu().contiguous() for name, t in exp.model.state_dict().items()}
    metadata = {"format": FORMAT, "experiment": json.dumps(experiment_document(exp))}
    return save_tensors(tensors, metadata=metadata)


def save(exp: Experiment, path: str | Path) -> Path:
    """Write the checkpoint; returns the weights file's path.

    `path` is a directory (gets model.safetensors and experiment.json) or a `.safetensors` file
    (the JSON goes beside it with a .json suffix). Each file is written whole or not at all, the
    experiment first, so an interrupted save never leaves weights without their experiment.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        weights, document = path, path.with_suffix(".json")
    else:
        weights, document = path / WEIGHTS_FILE, path / EXPERIMENT_FILE
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = checkpoint_bytes(exp)
    write_atomic(document, (json.dumps(experiment_document(exp), indent=2) + "\n").encode())
    write_atomic(weights, tensors)
    return weights


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path` (atomic on POSIX):
    a reader, or a run killed mid-write, sees the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path, spec: ExperimentSpec | None = None, dataset: Dataset | None = None) -> Experiment:
    """Rebuild an Experiment from a checkpoint file (or a directory holding model.safetensors).

    The experiment comes from the file's metadata unless `spec` is given; `dataset` skips reloading data.
    The result is ready to train or evaluate, with a fresh optimizer.
    """
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:  # checked before reading, so a huge file is never loaded into memory
        raise CheckpointError(_too_large(str(path), size))
    return load_checkpoint_bytes(path.read_bytes(), spec, dataset, source=str(path))


def load_checkpoint_bytes(data: bytes, spec: ExperimentSpec | None = None, dataset: Dataset | None = None,
                          source: str = "the uploaded file",
                          check: Callable[[ExperimentSpec], None] | None = None) -> Experiment:
    """Like `load`, from the bytes of a checkpoint (an upload); `source` names it in error messages.

    `check(spec)` is called on the experiment before anything it names is opened: the app refuses there
    a checkpoint whose experiment reads a file on the server.
    """
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(_too_large(source, len(data)))
    metadata = _metadata(data, source)
    try:
        tensors = load_tensors(data)
    except (SafetensorError, RecursionError, ValueError) as e:
        raise CheckpointError(f"{source} is damaged: its tensors cannot be read ({quote(str(e), 200)})") from None
    if spec is None:
        if not isinstance(metadata.get("experiment"), str):
            raise CheckpointError(f"{source} holds weights but no experiment; load it with its experiment spec")
        spec = ExperimentSpec.from_json(metadata["experiment"])
    if check is not None:
        check(spec)
    exp = Experiment(spec, dataset)
    _check_tensors(exp.model.state_dict(), tensors, source)
    exp.model.load_state_dict(tensors)
    return exp


def _metadata(data: bytes, source: str) -> dict[str, str]:
    """The header's metadata. A safetensors file starts with an 8-byte little-endian header length,
    then that many bytes of JSON; anything else (a pickle, a zip, text) is refused here."""
    not_safetensors = (f"{source} is not a safetensors checkpoint; the playground only loads .safetensors "
                       "files it wrote (pickled .pt/.pkl files are refused because loading them can run code)")
    if len(data) < 8:
        raise CheckpointError(not_safetensors)
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise CheckpointError(not_safetensors)
    try:
        header = json.loads(data[8:8 + n])
    except (ValueError, RecursionError):  # not text, not JSON, too deep, a number of thousands of digits
        raise CheckpointError(not_safetensors) from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _check_tensors(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor], source: str) -> None:
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    if missing or unexpected:
        raise CheckpointError(f"{source} does not fit this model: missing tensors {quote_list(missing) or 'none'}, "
                              f"unexpected tensors {quote_list(unexpected) or 'none'}; it was saved from a "
                              "different stack")
    for name, tensor in expected.items():
        t = got[name]
        if t.shape != tensor.shape:
            raise CheckpointError(f"{source}: tensor {name!r} has shape {tuple(t.shape)} but the model "
                                  f"needs {tuple(tensor.shape)}; it was saved from a different stack or dataset")
        if t.dtype != tensor.dtype:
            raise CheckpointError(f"{source}: tensor {name!r} holds {t.dtype} values but the model needs "
                                  f"{tensor.dtype}; it was not saved by the playground")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"{source}: tensor {name!r} holds NaN or infinite values; these weights "
                                  "cannot be trained or evaluated (was the run diverging when it was saved?)")


def _too_large(source: str, size: int) -> str:
    return (f"{source} is {size / 2**20:.1f} MB; a checkpoint is at most "
            f"{MAX_CHECKPOINT_BYTES / 2**20:.0f} MB, so this is not one the playground wrote")
