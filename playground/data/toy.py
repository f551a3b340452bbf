"""TensorFlow Playground's 2-D datasets, with its generators and constants, plus `linear` and the sets
its forks added (moons, checkerboard, diagonal, and the multi-class blobs and three-armed spiral).

Ported from tensorflow/playground `src/dataset.ts`: the same shapes, radii, noise scaling and labels
(its -1/+1 class labels become 0/1 here, for BCE). Randomness comes from one `torch.Generator`, so a
seed gives the same points everywhere. This module imports only math and torch: export.py copies its
source into the standalone script, so the script builds exactly the same data.
"""
import math

import torch

PLANE_HALF_WIDTH = 6.0  # TF Playground's plane is [-6, 6]^2; drawn points lie on it

TOY_FEATURES = {
    "x1": lambda p: p[:, 0],
    "x2": lambda p: p[:, 1],
    "x1^2": lambda p: p[:, 0] ** 2,
    "x2^2": lambda p: p[:, 1] ** 2,
    "x1x2": lambda p: p[:, 0] * p[:, 1],
    "sin_x1": lambda p: torch.sin(p[:, 0]),
    "sin_x2": lambda p: torch.sin(p[:, 1]),
}


def _uniform(g, lo, hi, n):
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)


def _circle(n, noise, g):
    radius = 5.0
    halves = []
    for r_lo, r_hi in ((0.0, radius * 0.5), (radius * 0.7, radius)):  # inside (positive), then outside
        m = n // 2 if not halves else n - n // 2
        r = _uniform(g, r_lo, r_hi, m)
        angle = _uniform(g, 0.0, 2 * math.pi, m)
        x, y = r * torch.sin(angle), r * torch.cos(angle)
        nx, ny = _uniform(g, -radius, radius, m) * noise, _uniform(g, -radius, radius, m) * noise
        label = (torch.hypot(x + nx, y + ny) < radius * 0.5).double()
        halves.append((torch.stack([x, y], 1), label))
    return torch.cat([h[0] for h in halves]), torch.cat([h[1] for h in halves])


def _xor(n, noise, g):
    padding = 0.3
    x, y = _uniform(g, -5, 5, n), _uniform(g, -5, 5, n)
    x, y = x + torch.where(x > 0, padding, -padding), y + torch.where(y > 0, padding, -padding)
    nx, ny = _uniform(g, -5, 5, n) * noise, _uniform(g, -5, 5, n) * noise
    label = ((x + nx) * (y + ny) >= 0).double()
    return torch.stack([x, y], 1), label


def _gauss(n, noise, g):
    variance = 0.5 + (4 - 0.5) * noise / 0.5  # TF Playground: noise 0..0.5 -> variance 0.5..4
    std = math.sqrt(variance)
    parts, labels = [], []
    for center, label in ((2.0, 1.0), (-2.0, 0.0)):
        m = n // 2 if not parts else n - n // 2
        parts.append(center + std * torch.randn(m, 2, generator=g, dtype=torch.float64))
        labels.append(torch.full((m,), label, dtype=torch.float64))
    return torch.cat(parts), torch.cat(labels)


def _spiral(n, noise, g):
    parts, labels = [], []
    for delta_t, label in ((0.0, 1.0), (math.pi, 0.0)):
        m = n // 2 if not parts else n - n // 2
        i = torch.arange(m, dtype=torch.float64)
        r = i / m * 5
        t = 1.75 * i / m * 2 * math.pi + delta_t
        x = r * torch.sin(t) + _uniform(g, -1, 1, m) * noise
        y = r * torch.cos(t) + _uniform(g, -1, 1, m) * noise
        parts.append(torch.stack([x, y], 1))
        labels.append(torch.full((m,), label, dtype=torch.float64))
    return torch.cat(parts), torch.cat(labels)


def _moons(n, noise, g):
    """Two interleaving half circles of radius 3 (scikit-learn's moons, scaled to the plane); noise moves
    each point by up to `noise` times the radius in x and y."""
    radius = 3.0
    parts, labels = [], []
    for label, (cx, cy, turn) in ((1.0, (-1.5, -0.75, 0.0)), (0.0, (1.5, 0.75, math.pi))):
        m = n // 2 if not parts else n - n // 2
        angle = _uniform(g, 0.0, math.pi, m) + turn
        x = cx + radius * torch.cos(angle) + _uniform(g, -radius, radius, m) * noise
        y = cy + radius * torch.sin(angle) + _uniform(g, -radius, radius, m) * noise
        parts.append(torch.stack([x, y], 1))
        labels.append(torch.full((m,), label, dtype=torch.float64))
    return torch.cat(parts), torch.cat(labels)


def _checkerboard(n, noise, g):
    """A 4x4 board over [-5, 5]^2: a point's class is its square's colour, read at its noisy position."""
    x, y = _uniform(g, -5, 5, n), _uniform(g, -5, 5, n)
    nx, ny = _uniform(g, -5, 5, n) * noise, _uniform(g, -5, 5, n) * noise
    label = ((torch.floor((x + nx) / 2.5) + torch.floor((y + ny) / 2.5)) % 2 == 0).double()
    return torch.stack([x, y], 1), label


def _diagonal(n, noise, g):
    """A straight boundary, x2 = x1, and labels flipped with probability `noise`: the set for overfitting
    (a big network draws the flipped points' islands, a small one the line)."""
    x, y = _uniform(g, -5, 5, n), _uniform(g, -5, 5, n)
    flip = torch.rand(n, generator=g, dtype=torch.float64) < noise
    label = ((y > x) ^ flip).double()
    return torch.stack([x, y], 1), label


def _blobs(n, noise, g, classes=4):
    """`classes` Gaussian blobs evenly on a circle of radius 3.5, labels 0..classes-1; the noise widens
    them as gauss's does (variance 0.5 to 4)."""
    std = math.sqrt(0.5 + (4 - 0.5) * noise / 0.5)
    parts, labels = [], []
    for k in range(classes):
        m = n // classes + (k < n % classes)
        angle = 2 * math.pi * k / classes + math.pi / 4
        centre = torch.tensor([3.5 * math.cos(angle), 3.5 * math.sin(angle)], dtype=torch.float64)
        parts.append(centre + std * torch.randn(m, 2, generator=g, dtype=torch.float64))
        labels.append(torch.full((m,), float(k), dtype=torch.float64))
    return torch.cat(parts), torch.cat(labels)


def _spiral3(n, noise, g):
    """spiral's arms, three of them, labels 0, 1, 2."""
    parts, labels = [], []
    for k in range(3):
        m = n // 3 + (k < n % 3)
        i = torch.arange(m, dtype=torch.float64)
        r = i / m * 5
        t = 1.75 * i / m * 2 * math.pi + 2 * math.pi * k / 3
        x = r * torch.sin(t) + _uniform(g, -1, 1, m) * noise
        y = r * torch.cos(t) + _uniform(g, -1, 1, m) * noise
        parts.append(torch.stack([x, y], 1))
        labels.append(torch.full((m,), float(k), dtype=torch.float64))
    return torch.cat(parts), torch.cat(labels)


def _plane(n, noise, g):
    radius = 6.0
    x, y = _uniform(g, -radius, radius, n), _uniform(g, -radius, radius, n)
    nx, ny = _uniform(g, -radius, radius, n) * noise, _uniform(g, -radius, radius, n) * noise
    label = ((x + nx) + (y + ny)) / 10  # TF Playground maps x + y from [-10, 10] to [-1, 1]
    return torch.stack([x, y], 1), label


def _multi_gauss(n, noise, g):
    radius = 6.0
    x, y = _uniform(g, -radius, radius, n), _uniform(g, -radius, radius, n)
    nx, ny = _uniform(g, -radius, radius, n) * noise, _uniform(g, -radius, radius, n) * noise
    px, py = x + nx, y + ny
    label = torch.zeros(n, dtype=torch.float64)
    for cx, cy, sign in ((-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1)):
        # each bump falls linearly from 1 at its centre to 0 at distance 2; keep the largest in magnitude
        bump = sign * (1 - torch.hypot(px - cx, py - cy) / 2).clamp(0, 1)
        label = torch.where(bump.abs() > label.abs(), bump, label)
    return torch.stack([x, y], 1), label


def _linear(n, noise, g):
    """y = 3x + 2 + noise on x in [-1, 1]; x2 is a second, irrelevant uniform input."""
    x, x2 = _uniform(g, -1, 1, n), _uniform(g, -1, 1, n)
    y = 3 * x + 2 + noise * torch.randn(n, generator=g, dtype=torch.float64)
    return torch.stack([x, x2], 1), y


def feature_columns(points, features):
    """(N, 2) raw points -> (N, len(features)) model inputs."""
    return torch.stack([TOY_FEATURES[f](points) for f in features], 1)


def plane_points(resolution, extent):
    """(axis (R,), points (R*R, 2)): a square grid over [-extent, extent]^2; point i*R + j is (axis[j], axis[i])."""
    axis = torch.linspace(-extent, extent, resolution)
    g2, g1 = torch.meshgrid(axis, axis, indexing="ij")
    return axis, torch.stack([g1.flatten(), g2.flatten()], 1)


TOY_GENERATORS = {
    "circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral,
    "moons": _moons, "checkerboard": _checkerboard, "diagonal": _diagonal, "blobs": _blobs, "spiral3": _spiral3,
    "plane": _plane, "multi_gauss": _multi_gauss, "linear": _linear,
}


def make_toy(name, n_samples, noise, test_fraction, features, seed):
    """Points, features and labels for a toy set, shuffled and split like TF Playground.

    Returns (x_train, y_train, x_test, y_test, points_train, points_test): x is (N, len(features))
    float32, y is (N,) float32, points are the raw (N, 2) coordinates.
    """
    g = torch.Generator().manual_seed(seed)
    points, labels = TOY_GENERATORS[name](n_samples, noise, g)
    return _shuffle_split(points, labels, test_fraction, features, g)


def make_drawn(points, test_fraction, features, seed):
    """make_toy's six tensors for points drawn by hand, [[x1, x2, label], ...], shuffled and split the same way."""
    table = torch.tensor(points, dtype=torch.float64).reshape(-1, 3)
    return _shuffle_split(table[:, :2], table[:, 2], test_fraction, features, torch.Generator().manual_seed(seed))


def _shuffle_split(points, labels, test_fraction, features, g):
    n = len(labels)
    order = torch.randperm(n, generator=g)
    points, labels = points[order].float(), labels[order].float()
    x = feature_columns(points, features)
    n_train = min(max(int(n * (1 - test_fraction)), 2), n - 1)  # training needs two points, testing one
    return x[:n_train], labels[:n_train], x[n_train:], labels[n_train:], points[:n_train], points[n_train:]
