"""Image datasets: scikit-learn's offline `digits`, and MNIST, Fashion-MNIST and CIFAR-10 via torchvision.

The torchvision sets are downloaded once into the cache directory ($PLAYGROUND_DATA_DIR, default
~/.cache/playground), decoded once into plain uint8 tensors and saved as `<cache>/<name>.pt`; later loads
read that file with `torch.load(weights_only=True)` and scale to float32 in [0, 1] — no per-item
transforms, no DataLoader. Without a network the load fails within seconds with a `DataError` that says
how to fix it, never a hang.
"""
from __future__ import annotations

import os
import socket
import threading
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import torch

from .base import DataError, Dataset

CACHE_ENV = "PLAYGROUND_DATA_DIR"
PROBE_TIMEOUT_S = 3.0       # connectivity check before a download
DOWNLOAD_TIMEOUT_S = 30.0   # a stalled download read fails after this long instead of hanging
DIGIT_NAMES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class ImageSource:
    torchvision_class: str      # class name in torchvision.datasets
    url: str                    # where torchvision downloads from; its host is probed first
    download_mb: int            # size of the one-time download
    raw_dir: str                # where torchvision keeps the raw files, under <cache>/torchvision
    class_names: tuple[str, ...]


SOURCES: dict[str, ImageSource] = {
    "mnist": ImageSource("MNIST", "https://ossci-datasets.s3.amazonaws.com/mnist/", 12, "MNIST/raw", DIGIT_NAMES),
    "fashion_mnist": ImageSource(
        "FashionMNIST", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", 30, "FashionMNIST/raw",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
    "cifar10": ImageSource(
        "CIFAR10", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", 163, "cifar-10-batches-py",
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")),
}

_BUILD_LOCK = threading.Lock()  # one download/decode at a time per process (many sessions share a server)


def cache_dir() -> Path:
    """The cache directory, read from $PLAYGROUND_DATA_DIR on every call so it can change at run time."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "playground").expanduser()


def cache_file(name: str) -> Path:
    """The decoded tensor file for an image set: a dict of x_train, y_train, x_test, y_test."""
    return cache_dir() / f"{name}.pt"


def image_cache_status() -> dict[str, str]:
    """For each image set: 'built in', 'cached at PATH', or what a first load will have to do."""
    status = {"digits": "built in (scikit-learn), works offline"}
    for name, src in SOURCES.items():
        raw = cache_dir() / "torchvision" / src.raw_dir
        if cache_file(name).is_file():
            status[name] = f"cached at {cache_file(name)}"
        elif raw.is_dir() and any(raw.iterdir()):
            status[name] = f"downloaded to {raw}; decoded on first load"
        else:
            status[name] = f"needs download (~{src.download_mb} MB)"
    return status


def load_image_dataset(spec, seed: int) -> Dataset:
    """Load `spec.name` as (N, C, H, W) float32 images in [0, 1] with int64 labels.

    `digits` is shuffled with `seed` and split by `spec.test_fraction`. The torchvision sets keep their
    official train/test split; `spec.max_samples` keeps a seeded random subset of that many training
    images and of max(1000, max_samples // 5) test images, so a small run also evaluates quickly.
    """
    if spec.name == "digits":
        x, y = _digits()
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
        x, y = x[order], y[order]
        n_train = int(len(y) * (1 - spec.test_fraction))
        x_tr, y_tr, x_te, y_te = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
        class_names = DIGIT_NAMES
    elif spec.name in SOURCES:
        tensors = _load_or_build(spec.name)
        x_tr, y_tr, x_te, y_te = (tensors[k] for k in ("x_train", "y_train", "x_test", "y_test"))
        class_names = SOURCES[spec.name].class_names
    else:
        raise DataError(f"unknown image dataset {spec.name!r}; choose one of digits, {', '.join(SOURCES)}")
    if spec.max_samples is not None:
        g = torch.Generator().manual_seed(seed)
        x_tr, y_tr = _subset(x_tr, y_tr, spec.max_samples, g)
        x_te, y_te = _subset(x_te, y_te, max(1000, spec.max_samples // 5), g)
    return Dataset(spec.name, "multiclass", _to_float(x_tr), y_tr, _to_float(x_te), y_te, class_names=class_names)


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)  # (1797, 64) pixel values 0..16
    x = torch.as_tensor(images, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16
    return x, torch.as_tensor(labels, dtype=torch.int64)


def _subset(x: torch.Tensor, y: torch.Tensor, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if n >= len(y):
        return x, y
    keep = torch.randperm(len(y), generator=g)[:n]
    return x[keep], y[keep]


def _to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255 if x.dtype == torch.uint8 else x.float()


def _load_or_build(name: str) -> dict[str, torch.Tensor]:
    path = cache_file(name)
    with _BUILD_LOCK:
        if not path.is_file():
            tensors = _decode(name, _torchvision_splits(name))
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            torch.save(tensors, tmp)
            os.replace(tmp, path)  # atomic: another process never reads a half-written file
    try:
        return torch.load(path, weights_only=True)
    except Exception as e:  # truncated or foreign file: say which one to delete
        raise DataError(f"cannot read the cached {name} file {path} ({e}); delete it and load again") from e


def _decode(name: str, splits) -> dict[str, torch.Tensor]:
    """torchvision datasets -> uint8 (N, C, H, W) images and int64 labels, read from their arrays at once."""
    out = {}
    for split, ds in zip(("train", "test"), splits):
        x = torch.as_tensor(ds.data)
        x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)  # MNIST (N, H, W); CIFAR (N, H, W, C)
        out[f"x_{split}"] = x.contiguous()
        out[f"y_{split}"] = torch.as_tensor(ds.targets, dtype=torch.int64)
    return out


def _torchvision_splits(name: str):
    """(train, test) torchvision datasets, downloading the raw files first if they are not in the cache."""
    from torchvision import datasets

    src = SOURCES[name]
    cls = getattr(datasets, src.torchvision_class)
    root = cache_dir() / "torchvision"
    try:
        return cls(root, train=True, download=False), cls(root, train=False, download=False)
    except RuntimeError:
        pass  # raw files absent or incomplete: download them
    if not can_reach(src.url):
        raise DataError(_download_help(name, f"cannot reach {urlsplit(src.url).hostname} (no network?)"))
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            return cls(root, train=True, download=True), cls(root, train=False, download=True)
    except (OSError, RuntimeError) as e:
        raise DataError(_download_help(name, f"downloading from {src.url} failed ({e})")) from e


def _download_help(name: str, what_failed: str) -> str:
    src = SOURCES[name]
    return (f"{name}: {what_failed}. It needs a one-time download of ~{src.download_mb} MB into {cache_dir()}. "
            f"Connect to the network and retry; or copy the torchvision files into "
            f"{cache_dir() / 'torchvision' / src.raw_dir}; or use the offline 'digits' dataset.")


def can_reach(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True if a TCP connection to the URL's host (or the configured proxy) opens within `timeout` s.

    Run in a daemon thread because a DNS lookup ignores socket timeouts and can stall far longer.
    Tests replace this function to simulate a network.
    """
    parts = urlsplit(urllib.request.getproxies().get(urlsplit(url).scheme) or url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    ok = []

    def probe() -> None:
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1)
    return bool(ok)


@contextmanager
def _socket_timeout(seconds: float):
    """torchvision's urllib calls take no timeout, so bound reads through the process default meanwhile."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)
