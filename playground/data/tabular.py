"""CSV tables: one target column to predict, every other column a numeric feature.

The task comes from the target column:
- any non-numeric value (text, true/false) -> classification, classes = the sorted unique values;
- whole numbers with at most MAX_CLASSES distinct values -> classification, classes = the sorted values;
- anything else -> regression.
Two classes make a binary task (y is float 0/1, 1 = the later class in sorted order); more make multiclass
(y is int64, the class's index). Features are standardised with the train split's mean and std, so plain
SGD works on columns of any scale. Row numbers in messages count the header as row 1, as a spreadsheet does.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .base import DataError, Dataset

MAX_CSV_BYTES = 50 * 1024 * 1024  # a table the browser app can hold and train on quickly
MAX_CLASSES = 20                   # a whole-number target with more distinct values is a regression target


def read_csv_bytes(data: bytes, max_bytes: int = MAX_CSV_BYTES, source: str = "the CSV file") -> pd.DataFrame:
    """Parse CSV bytes (a file's or an upload's) into a DataFrame, refusing oversized or unreadable input."""
    if len(data) > max_bytes:
        raise DataError(_too_large(source, len(data), max_bytes))
    try:
        df = pd.read_csv(io.BytesIO(data), skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{source} is empty; it needs a header row and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DataError(f"{source} is not a readable CSV file ({e}); save it as comma-separated UTF-8 text") from e
    if df.empty:
        raise DataError(f"{source} has a header but no data rows")
    return df


def load_csv_dataset(spec, seed: int) -> Dataset:
    """Read `spec.path`, predict `spec.target` from the other columns; seeded shuffle, split by test_fraction."""
    path = Path(spec.path or "")
    if not path.is_file():
        raise DataError(f"CSV file not found: {path}; check data.path (relative paths start at "
                        f"{Path.cwd()})")
    size = path.stat().st_size
    if size > MAX_CSV_BYTES:  # checked before reading, so a huge file is never loaded into memory
        raise DataError(_too_large(str(path), size, MAX_CSV_BYTES))
    df = read_csv_bytes(path.read_bytes(), source=str(path))
    return dataset_from_frame(df, spec.target, spec.test_fraction, seed)


def dataset_from_frame(df: pd.DataFrame, target: str, test_fraction: float, seed: int,
                       name: str = "csv") -> Dataset:
    """A validated DataFrame -> a split, standardised Dataset; see the module docstring for the task rule."""
    if target not in df.columns:
        raise DataError(f"target column {target!r} is not in the CSV; its columns are "
                        f"{', '.join(map(repr, map(str, df.columns)))}")
    features = [str(c) for c in df.columns if c != target]
    if not features:
        raise DataError(f"the CSV has only the target column {target!r}; it needs at least one feature column")
    x = np.stack([_numeric_column(df, c) for c in df.columns if c != target], axis=1)
    task, y, class_names = _target(df, target)

    n = len(df)
    n_train = int(n * (1 - test_fraction))
    if n_train < 1 or n_train == n:
        raise DataError(f"the CSV has {n} data rows; with test_fraction {test_fraction} one split would be "
                        "empty. Add rows or change test_fraction.")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    x = torch.as_tensor(x, dtype=torch.float32)[order]
    y = y[order]
    mean = x[:n_train].mean(0)
    std = x[:n_train].std(0, unbiased=False)
    x = (x - mean) / torch.where(std > 0, std, torch.ones_like(std))  # a constant column stays constant (0)
    return Dataset(name, task, x[:n_train], y[:n_train], x[n_train:], y[n_train:],
                   feature_names=tuple(features), class_names=class_names)


def _too_large(source: str, size: int, limit: int) -> str:
    def show(n: int) -> str:
        return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n} bytes"

    return f"{source} is {show(size)}; the limit is {show(limit)}. Use a sample of the rows."


def _row(i: int) -> str:
    return f"row {i + 2} (counting the header as row 1, as a spreadsheet does)"


def _first_missing(df: pd.DataFrame, column) -> None:
    missing = np.flatnonzero(df[column].isna().to_numpy())
    if len(missing):
        raise DataError(f"column {str(column)!r} has a missing value at {_row(missing[0])}; "
                        "fill it in or delete that row")


def _numeric_column(df: pd.DataFrame, column) -> np.ndarray:
    """A feature column as float64, or a DataError naming the first missing or non-numeric cell."""
    _first_missing(df, column)
    values = pd.to_numeric(df[column].astype(float) if df[column].dtype == bool else df[column], errors="coerce")
    bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)))
    if len(bad):
        raise DataError(f"column {str(column)!r} has a non-numeric value {df[column].iloc[bad[0]]!r} at "
                        f"{_row(bad[0])}; feature columns must hold numbers: fix the cell, delete the column, "
                        "or choose it as the target")
    return values.to_numpy(dtype=np.float64)


def _target(df: pd.DataFrame, column: str) -> tuple[str, torch.Tensor, tuple[str, ...]]:
    """(task, y, class_names) for the target column, by the rule in the module docstring."""
    _first_missing(df, column)
    col = df[column]
    if pd.api.types.is_numeric_dtype(col) and col.dtype != bool:
        values = col.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            i = int(np.flatnonzero(~np.isfinite(values))[0])
            raise DataError(f"target column {column!r} has {col.iloc[i]!r} at {_row(i)}; use a finite number")
        classes = np.unique(values)
        if not (np.all(values == np.round(values)) and len(classes) <= MAX_CLASSES):
            return "regression", torch.tensor(values, dtype=torch.float32), ()
        names = tuple(str(int(c)) for c in classes)
    else:
        values = col.astype(str).to_numpy()
        classes = np.unique(values)  # sorted
        names = tuple(str(c) for c in classes)
    if len(classes) < 2:
        raise DataError(f"target column {column!r} has the single value {names[0]!r}; "
                        "a model needs at least two classes or varying numbers to learn")
    index = torch.as_tensor(np.searchsorted(classes, values), dtype=torch.int64)
    if len(classes) == 2:
        return "binary", index.float(), names
    return "multiclass", index, names
