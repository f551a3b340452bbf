"""TF Playground's generators (data/toy.py): counts, label rules, the noise law, seeds, splits, features."""
import math

import pytest
import torch

from playground.data.toy import TOY_FEATURES, TOY_GENERATORS, feature_columns, make_toy

N = 400


def generate(name: str, noise: float = 0.0, seed: int = 0, n: int = N):
    return TOY_GENERATORS[name](n, noise, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", list(TOY_GENERATORS))
def test_every_generator_gives_n_points_and_labels_reproducibly_from_the_seed(name):
    points, labels = generate(name)
    assert points.shape == (N, 2) and labels.shape == (N,)
    again, again_labels = generate(name)
    assert torch.equal(points, again) and torch.equal(labels, again_labels)
    other, _ = generate(name, seed=1)
    assert not torch.equal(points, other) or name in ("spiral", "spiral3")  # noiseless spirals: the same curves


@pytest.mark.parametrize("name", ["circle", "xor", "gauss", "spiral", "moons", "checkerboard", "diagonal"])
def test_classification_sets_are_balanced_0_1_labels(name):
    _, labels = generate(name)
    assert set(labels.tolist()) <= {0.0, 1.0}
    assert abs(labels.mean().item() - 0.5) < 0.1


def test_circle_labels_by_radius_without_noise():
    points, labels = generate("circle")
    r = torch.hypot(points[:, 0], points[:, 1])
    assert torch.equal(labels, (r < 2.5).double())            # inside half the radius of 5: class 1
    assert r.max() <= 5.0 and not ((r > 2.5) & (r < 3.5)).any()  # the gap between disc and ring


def test_xor_labels_by_quadrant_and_keeps_off_the_axes():
    points, labels = generate("xor")
    assert torch.equal(labels, (points[:, 0] * points[:, 1] >= 0).double())
    assert points.abs().min() >= 0.3                          # TF Playground's padding


def test_moons_are_two_half_circles_of_radius_3():
    points, labels = generate("moons")
    for label, centre in ((1.0, (-1.5, -0.75)), (0.0, (1.5, 0.75))):
        moon = points[labels == label] - torch.tensor(centre, dtype=torch.float64)
        assert torch.hypot(moon[:, 0], moon[:, 1]) == pytest.approx(torch.full((len(moon),), 3.0), abs=1e-9)
    assert (points[labels == 1, 1] >= -0.75 - 1e-9).all() and (points[labels == 0, 1] <= 0.75 + 1e-9).all()  # arcs


@pytest.mark.parametrize("name,classes", [("blobs", 4), ("spiral3", 3)])
def test_multi_class_sets_have_every_class_equally_often(name, classes):
    _, labels = generate(name)
    assert labels.unique().tolist() == [float(k) for k in range(classes)]
    assert labels.long().bincount().tolist() == [N // classes + (k < N % classes) for k in range(classes)]


def test_checkerboard_labels_by_square():
    points, labels = generate("checkerboard")
    squares = torch.floor(points / 2.5)
    assert torch.equal(labels, ((squares[:, 0] + squares[:, 1]) % 2 == 0).double())
    assert points.abs().max() <= 5.0


def test_diagonal_flips_about_its_noise_share_of_labels():
    points, clean = generate("diagonal", n=4000)
    assert torch.equal(clean, (points[:, 1] > points[:, 0]).double())
    same_points, noisy = generate("diagonal", noise=0.2, n=4000)
    assert torch.equal(points, same_points)                   # the noise flips labels, it moves no point
    assert (noisy != clean).double().mean().item() == pytest.approx(0.2, abs=0.03)


def test_gauss_noise_widens_the_blobs_by_its_variance_law():
    for noise in (0.0, 0.5):
        points, labels = generate("gauss", noise, n=4000)
        blob = points[labels == 1]
        variance = 0.5 + 3.5 * noise / 0.5                     # noise 0..0.5 -> variance 0.5..4
        assert blob.mean(0).tolist() == pytest.approx([2.0, 2.0], abs=0.15)
        assert blob.var(0).tolist() == pytest.approx([variance] * 2, rel=0.12)


def test_noise_moves_points_by_at_most_its_share_of_the_radius():
    clean, _ = generate("spiral")
    noisy, _ = generate("spiral", noise=0.3)
    assert (noisy - clean).abs().max() <= 0.3 + 1e-9           # spiral: uniform in [-1, 1] times the noise
    _, noiseless = generate("circle")
    _, noisy_labels = generate("circle", noise=0.5)
    assert not torch.equal(noiseless, noisy_labels)           # circle: the noise flips some labels


def test_regression_targets_follow_their_formulas():
    points, y = generate("plane")
    assert torch.allclose(y, points.sum(1) / 10)
    points, y = generate("linear")
    assert torch.allclose(y, 3 * points[:, 0] + 2)
    points, y = generate("multi_gauss", n=4000)
    near = torch.hypot(points[:, 0] + 4, points[:, 1] - 2.5) < 0.4   # by the positive bump at (-4, 2.5)
    assert y.abs().max() <= 1 and near.sum() > 3 and y[near].min() > 0.79  # 1 - distance / 2


def test_make_toy_splits_shuffles_and_computes_features():
    x_tr, y_tr, x_te, y_te, p_tr, p_te = make_toy("xor", 100, 0.0, 0.3, ("x1", "x1x2", "sin_x2"), 5)
    assert (len(x_tr), len(x_te)) == (70, 30) and x_tr.shape[1] == 3 and x_tr.dtype == torch.float32
    assert torch.equal(x_tr, feature_columns(p_tr, ("x1", "x1x2", "sin_x2")))
    assert torch.allclose(x_tr[:, 2], torch.sin(p_tr[:, 1])) and torch.allclose(x_tr[:, 1], p_tr[:, 0] * p_tr[:, 1])
    points, _ = generate("xor", seed=5, n=100)
    assert not torch.equal(p_tr[:10].double(), points[:10])    # shuffled before the split
    assert set(TOY_FEATURES) == {"x1", "x2", "x1^2", "x2^2", "x1x2", "sin_x1", "sin_x2"}
    assert math.isclose(float(torch.cat([y_tr, y_te]).mean()), 0.5, abs_tol=0.15)
