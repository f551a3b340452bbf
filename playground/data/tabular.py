"""CSV tables: one target column to predict, every other column a numeric feature.

The task comes from the target column:
- any non-numeric value (text, true/false) -> classification, classes = the sorted unique values;
- whole numbers with at most MAX_CLASSES distinct values -> classification, classes = the sorted values;
- anything else -> regression.
Two classes make a binary task (y is float 0/1, 1 = the later class in sorted order); more make multiclass
(y is int64, the class's index). Features are standardised with the train split's mean and std, so plain
SGD works on columns of any scale. Row numbers in messages count the header as row 1, as a spreadsheet does,
and a messy table's problems are reported together: the first few cells of each column, in row order.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..quoting import quote, quote_list
from .base import DataError, Dataset

MAX_CSV_BYTES = 50 * 1024 * 1024  # a table the browser app can hold and train on quickly
MAX_CLASSES = 20                   # a whole-number target with more distinct values is a regression target
CELLS_SHOWN = 3                    # problem cells quoted per column (then how many more)
COLUMNS_SHOWN = 5                  # columns with problems described in one message


def shared_csv_dir() -> Path:
    """The folder of tables the server's operator offers every user: `<data dir>/csv` ($PLAYGROUND_DATA_DIR)."""
    from .images import cache_dir

    return cache_dir() / "csv"


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
    header = pd.read_csv(io.BytesIO(data), header=None, nrows=1, skipinitialspace=True).iloc[0].astype(str)
    repeated = sorted(set(header[header.duplicated()]))
    if repeated:  # pandas would rename the second one silently ("a.1"); the exported script could not
        raise DataError(f"{source} has more than one column named {quote_list(repeated)}; "
                        "give every column its own name in the header row")
    return df


def load_csv_dataset(spec, seed: int) -> Dataset:
    """Read `spec.path`, predict `spec.target` from the other columns; seeded shuffle, split by test_fraction."""
    path = Path(spec.path or "")
    if not path.is_file():
        raise DataError(f"CSV file not found: {quote(str(path))}; check data.path (relative paths start at "
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
        raise DataError(f"target column {quote(target)} is not in the CSV; its columns are "
                        f"{quote_list(map(str, df.columns), 20)}")
    features = [str(c) for c in df.columns if c != target]
    if not features:
        raise DataError(f"the CSV has only the target column {quote(target)}; it needs at least one feature column")
    columns = {c: _numeric_column(df[c]) for c in df.columns if c != target}
    problems = [_describe_problems(c, cells) for c, (_, cells) in columns.items() if cells]
    target_missing = np.flatnonzero(df[target].isna().to_numpy())
    if len(target_missing):
        problems.append(_describe_problems(target, [(int(i), None) for i in target_missing]))
    if problems:
        more = f"; and {len(problems) - COLUMNS_SHOWN} more columns" if len(problems) > COLUMNS_SHOWN else ""
        raise DataError("the CSV has cells a model cannot use — " + "; ".join(problems[:COLUMNS_SHOWN]) + more +
                        ". Feature columns must hold numbers: fix or delete those rows, delete the column, "
                        "or choose it as the target")
    x = np.stack([values for values, _ in columns.values()], axis=1)
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


def _row(i: int, short: bool = False) -> str:
    """Row numbers as a spreadsheet shows them: the header is row 1."""
    return f"row {i + 2}" if short else f"row {i + 2} (counting the header as row 1, as a spreadsheet does)"


def _cell_number(cell) -> float:
    try:
        return float(cell)
    except (TypeError, ValueError, OverflowError):  # text; an integer too large for a float
        return math.nan


def _numeric_column(col: pd.Series) -> tuple[np.ndarray, list[tuple[int, object]]]:
    """(the column as float64, its problem cells as (row index, value; None if missing)), rows in order."""
    if col.dtype == bool or pd.api.types.is_numeric_dtype(col):
        values = col.to_numpy(dtype=np.float64)
    else:  # text cells: parsed one by one (pandas' own conversion raises on a 400-digit integer)
        values = np.fromiter((_cell_number(c) for c in col), dtype=np.float64, count=len(col))
    missing = col.isna().to_numpy()
    bad = np.flatnonzero(~np.isfinite(values) | missing)
    return values, [(int(i), None if missing[i] else col.iloc[i]) for i in bad]


def _describe_problems(column, cells: list[tuple[int, object]]) -> str:
    shown = ", ".join(f"{_row(i, short=True)} " + ("is empty" if v is None else f"has {quote(v, 40)}")
                      for i, v in cells[:CELLS_SHOWN])
    more = f" and {len(cells) - CELLS_SHOWN:,} more" if len(cells) > CELLS_SHOWN else ""
    return f"column {quote(str(column), 60)}: {shown}{more}"


def _target(df: pd.DataFrame, column: str) -> tuple[str, torch.Tensor, tuple[str, ...]]:
    """(task, y, class_names) for the target column, by the rule in the module docstring (no missing cells)."""
    col = df[column]
    if pd.api.types.is_numeric_dtype(col) and col.dtype != bool:
        values = col.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            i = int(np.flatnonzero(~np.isfinite(values))[0])
            raise DataError(f"target column {quote(column)} has {quote(col.iloc[i])} at {_row(i)}; "
                            "use a finite number")
        classes = np.unique(values)
        if not (np.all(values == np.round(values)) and len(classes) <= MAX_CLASSES):
            return "regression", torch.tensor(values, dtype=torch.float32), ()
        names = tuple(str(int(c)) for c in classes)
    else:
        values = col.astype(str).to_numpy()
        classes = np.unique(values)  # sorted
        names = tuple(str(c) for c in classes)
    if len(classes) < 2:
        raise DataError(f"target column {quote(column)} has the single value {quote(names[0])}; "
                        "a model needs at least two classes or varying numbers to learn")
    index = torch.as_tensor(np.searchsorted(classes, values), dtype=torch.int64)
    if len(classes) == 2:
        return "binary", index.float(), names
    return "multiclass", index, names
