"""The dataset catalogue behind `python -m playground datasets`: what exists, and what is ready offline."""
from __future__ import annotations

import pandas as pd

from . import DATASETS
from .images import image_cache_status

_STATUS_BY_KIND = {"toy": "generated on the fly", "drawn": "the points you give (data.points)",
                   "csv": "reads the file you give (data.path)"}


def describe_datasets() -> pd.DataFrame:
    """One row per dataset: name, kind, task, description, status (cached / needs download / ...)."""
    images = image_cache_status()
    rows = [{
        "name": name,
        "kind": info.kind,
        "task": info.task or ("from the labels" if info.kind == "drawn" else "from the target column"),
        "description": info.doc,
        "status": images[name] if info.kind == "image" else _STATUS_BY_KIND[info.kind],
    } for name, info in DATASETS.items()]
    return pd.DataFrame(rows, columns=["name", "kind", "task", "description", "status"])
