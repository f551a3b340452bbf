"""Datasets by name: the registry and `load_dataset(spec, seed) -> Dataset`."""
from __future__ import annotations

from dataclasses import dataclass

from .base import TASKS, DataError, Dataset
from .toy import TOY_FEATURES, make_drawn, make_toy


@dataclass(frozen=True)
class DatasetInfo:
    kind: str            # "toy", "drawn", "image" or "csv"
    task: str | None     # fixed task, or None where the data decides (csv)
    doc: str
    needs_download: bool = False
    classes: int = 2     # a multi-class toy set's number of classes


DATASETS: dict[str, DatasetInfo] = {
    "circle": DatasetInfo("toy", "binary", "a disc of one class inside a ring of the other"),
    "xor": DatasetInfo("toy", "binary", "opposite quadrants share a class"),
    "gauss": DatasetInfo("toy", "binary", "two Gaussian blobs"),
    "spiral": DatasetInfo("toy", "binary", "two interleaved spirals"),
    "moons": DatasetInfo("toy", "binary", "two interleaving half circles"),
    "checkerboard": DatasetInfo("toy", "binary", "a 4x4 board of squares of alternating classes"),
    "diagonal": DatasetInfo("toy", "binary", "a straight boundary, labels flipped by the noise: for overfitting"),
    "blobs": DatasetInfo("toy", "multiclass", "four Gaussian blobs, one class each", classes=4),
    "spiral3": DatasetInfo("toy", "multiclass", "three interleaved spiral arms, one class each", classes=3),
    "plane": DatasetInfo("toy", "regression", "a tilted plane: y = (x1 + x2) / 10"),
    "multi_gauss": DatasetInfo("toy", "regression", "six signed Gaussian bumps"),
    "linear": DatasetInfo("toy", "regression", "y = 3x + 2 + noise"),
    "points": DatasetInfo("drawn", None, "points you draw on the Playground's map (data.points)"),
    "digits": DatasetInfo("image", "multiclass", "1,797 8x8 handwritten digits shipped with scikit-learn (offline)"),
    "mnist": DatasetInfo("image", "multiclass", "70,000 28x28 handwritten digits (torchvision download)", True),
    "fashion_mnist": DatasetInfo("image", "multiclass", "70,000 28x28 clothing images (torchvision download)", True),
    "cifar10": DatasetInfo("image", "multiclass", "60,000 32x32 colour photos, 10 classes (torchvision download)", True),
    "csv": DatasetInfo("csv", None, "your own table: numeric feature columns and a target column"),
}

TOY_DATASETS = tuple(n for n, info in DATASETS.items() if info.kind == "toy")
IMAGE_DATASETS = tuple(n for n, info in DATASETS.items() if info.kind == "image")
DRAWN = "points"
MIN_DRAWN_POINTS, MAX_DRAWN_POINTS, MAX_DRAWN_CLASSES = 3, 1_000, 6  # 3: two to train on, one to test


def drawn_task(labels) -> str:
    """Drawn points' task, from their labels: classes when every label is a whole number from 0 to
    MAX_DRAWN_CLASSES - 1 (binary when only 0 and 1), else regression (the labels are values)."""
    if all(float(v).is_integer() and 0 <= v < MAX_DRAWN_CLASSES for v in labels):
        return "binary" if max(labels, default=0) <= 1 else "multiclass"
    return "regression"


def task_of(name: str, points=None) -> str | None:
    """The task the dataset `name` poses (with `points` if drawn), known without loading it; None for csv
    (its target column decides)."""
    if name == DRAWN:
        return drawn_task([p[2] for p in points or ()])
    return DATASETS[name].task


def load_dataset(spec, seed: int = 0) -> Dataset:
    """Load or generate the data a `DataSpec` names, split into train and test tensors on the CPU."""
    info = DATASETS[spec.name]
    if info.kind in ("toy", "drawn"):  # points on the plane
        if info.kind == "drawn":
            tensors = make_drawn(spec.points, spec.test_fraction, spec.features, seed)
            labels = [p[2] for p in spec.points]
            task, n_classes = drawn_task(labels), max(2, int(max(labels)) + 1)
        else:
            tensors = make_toy(spec.name, spec.n_samples, spec.noise, spec.test_fraction, spec.features, seed)
            task, n_classes = info.task, info.classes
        x_tr, y_tr, x_te, y_te, p_tr, p_te = tensors
        classes = tuple(str(k) for k in range(n_classes)) if task != "regression" else ()
        if task == "multiclass":  # class indices, as cross-entropy takes them
            y_tr, y_te = y_tr.long(), y_te.long()
        return Dataset(spec.name, task, x_tr, y_tr, x_te, y_te, tuple(spec.features), classes, p_tr, p_te)
    if info.kind == "image":
        from .images import load_image_dataset
        return load_image_dataset(spec, seed)
    from .tabular import load_csv_dataset
    return load_csv_dataset(spec, seed)


__all__ = ["DATASETS", "DatasetInfo", "DataError", "Dataset", "TASKS", "TOY_FEATURES", "TOY_DATASETS",
           "IMAGE_DATASETS", "DRAWN", "MIN_DRAWN_POINTS", "MAX_DRAWN_POINTS", "MAX_DRAWN_CLASSES", "drawn_task",
           "task_of", "load_dataset"]
