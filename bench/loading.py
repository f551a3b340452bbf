"""Batches of MNIST-shaped images: a torchvision-style DataLoader with per-item transforms against what the
engine does (images decoded once into one tensor at load, batches sliced from it).

Used by bench/run.py (`--only loading`).
"""
from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


class PerItemImages(torch.utils.data.Dataset):
    """What torchvision's MNIST does per item: uint8 array -> PIL image -> transforms -> tensor."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        from torchvision import transforms

        self.images, self.labels = images, labels
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        image = Image.fromarray(self.images[i].numpy())  # (28, 28) uint8: mode "L", as torchvision builds it
        return self.transform(image), int(self.labels[i])


def _epoch(batches, model: nn.Module | None, opt) -> float:
    t0 = time.perf_counter()
    for xb, yb in batches:
        if model is not None:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return time.perf_counter() - t0


def _tensor_batches(x: torch.Tensor, y: torch.Tensor, bs: int, g: torch.Generator):
    order = torch.randperm(len(y), generator=g)
    xs, ys = x[order], y[order]
    return ((xs[i:i + bs], ys[i:i + bs]) for i in range(0, len(y), bs))


def bench_loading(n: int, repeats: int, make_model: Callable[[], nn.Module]) -> None:
    """One epoch of MNIST-shaped batches (b64): DataLoader + per-item transforms vs decoded tensors."""
    g = torch.Generator().manual_seed(0)
    raw = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    decoded = ((raw.float() / 255 - 0.1307) / 0.3081).unsqueeze(1)   # once, as images.py does at load
    loader = torch.utils.data.DataLoader(PerItemImages(raw, labels), batch_size=64, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    print(f"\nData loading, one epoch of {n} MNIST-shaped images, batch 64 (ms, best of {repeats})")
    print(f"{'':24} {'DataLoader+transforms':>22} {'tensor slicing':>15} {'ratio':>8}")
    for label, train in (("data only", False), ("data + MLP training", True)):
        model = make_model() if train else None
        opt = torch.optim.SGD(model.parameters(), lr=0.05) if model is not None else None
        slow = min(_epoch(loader, model, opt) for _ in range(repeats))
        fast = min(_epoch(_tensor_batches(decoded, labels, 64, g), model, opt) for _ in range(repeats))
        print(f"{label:24} {slow * 1e3:22.1f} {fast * 1e3:15.2f} {slow / fast:7.0f}x")
