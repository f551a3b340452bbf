"""Data drawn by hand (dataset "points"): the pen's board, the spec's checks, training and the task rule."""
import random

import pytest

from playground import Experiment, ExperimentSpec, SpecError
from playground.data import MAX_DRAWN_POINTS, drawn_task
from playground.drawn import add_point, board_of, erase_near
from playground.play_settings import PlaySettings


def quadrants(n_side: int = 8) -> list[list[float]]:
    """A drawn XOR: points on a grid over the plane, blue where x1 and x2 share a sign."""
    ticks = [-5 + 10 * (i + 0.5) / n_side for i in range(n_side)]
    return [[x, y, int(x * y > 0)] for x in ticks for y in ticks]


def drawn_spec(points, **data) -> dict:
    return {"data": {"name": "points", "points": points, **data},
            "model": {"layers": [{"type": "dense", "units": 8, "activation": "tanh"}] * 2},
            "train": {"optimizer": "adam", "lr": 0.03, "epochs": 60}}


def test_the_pen_adds_rounded_points_on_the_plane_and_at_most_the_bound():
    board = add_point((), 1.23456, -2.5, 1)
    assert board == ((1.23, -2.5, 1),)
    assert add_point(board, 6.5, 0, 0) == board                      # off the plane
    full = tuple((0.0, 0.0, 0),) * MAX_DRAWN_POINTS
    assert add_point(full, 1, 1, 1) is full


def test_the_eraser_removes_the_nearest_point_within_reach_only():
    board = ((0.0, 0.0, 0), (1.0, 0.0, 1), (3.0, 3.0, 1))
    assert erase_near(board, 0.8, 0.1) == ((0.0, 0.0, 0), (3.0, 3.0, 1))
    assert erase_near(board, -3, -3) == board
    assert erase_near((), 0, 0) == ()


def test_a_board_starts_from_a_data_set_clipped_to_the_plane_with_whole_classes():
    board = board_of([[7.0, -1.234], [0.5, 0.5]], [1.0, 0.0])
    assert board == ((6.0, -1.23, 1), (0.5, 0.5, 0))
    assert isinstance(board[0][2], int)


@pytest.mark.parametrize("labels,task", [([0, 1, 1], "binary"), ([0, 1, 2, 5], "multiclass"),
                                         ([0, 1, 0.5], "regression"), ([-1, 1], "regression"),
                                         ([0, 6], "regression")])
def test_the_labels_decide_the_task(labels, task):
    assert drawn_task(labels) == task


def test_a_drawn_xor_trains_to_high_accuracy_and_round_trips_through_json():
    spec = ExperimentSpec.from_dict(drawn_spec(quadrants()))
    assert ExperimentSpec.from_json(spec.to_json()) == spec
    exp = Experiment(spec)
    assert exp.data.task == "binary" and len(exp.data.x_train) + len(exp.data.x_test) == 64
    history = exp.fit()
    assert history.train_loss.iloc[-1] < 0.5 * history.train_loss.iloc[0]
    assert history.train_accuracy.iloc[-1] >= 0.9


def test_drawn_classes_and_values_train_as_multi_class_and_regression():
    three = [[x, y, k] for k, (x, y) in enumerate([(-3, -3), (3, 3), (3, -3)]) for _ in range(4)]
    exp = Experiment(ExperimentSpec.from_dict({**drawn_spec(three), "train": {"loss": "cross_entropy", "epochs": 2}}))
    assert exp.data.task == "multiclass" and exp.data.class_names == ("0", "1", "2")
    values = [[x, 0.0, x / 10] for x in range(-5, 6)]
    exp = Experiment(ExperimentSpec.from_dict({**drawn_spec(values), "train": {"loss": "mse", "epochs": 2}}))
    assert exp.data.task == "regression"


def test_the_split_is_seeded_and_keeps_two_points_to_train_on_and_one_to_test():
    spec = ExperimentSpec.from_dict(drawn_spec([[0, 0, 0], [1, 1, 1], [2, 2, 1]], test_fraction=0.9))
    a, b = Experiment(spec), Experiment(spec)
    assert len(a.data.x_train) == 2 and len(a.data.x_test) == 1
    assert a.data.points_train.tolist() == b.data.points_train.tolist()


@pytest.mark.parametrize("points,message", [
    (None, r"^data.points: needs at least 3 points"),
    ([[0, 0, 0], [1, 1, 1]], r"^data.points: needs at least 3 points"),
    ([[0, 0, 0]] * (MAX_DRAWN_POINTS + 1), r"^data.points: has 1,001 points; at most 1,000"),
    ([[0, 0, 0], [1, 1], [2, 2, 1]], r"^data.points\[1\]: must be \[x1, x2, label\], three numbers, got \[1, 1\]"),
    ([[0, 0, 0], [1, 1, "a"], [2, 2, 1]], r"^data.points\[1\]: must be \[x1, x2, label\]"),
    ([[0, 0, 0], [1, 9, 1], [2, 2, 1]], r"^data.points\[1\]: lies off the plane"),
    ("0,0,0", r"^data.points: must be a list of \[x1, x2, label\] points"),
])
def test_bad_drawn_points_name_the_point(points, message):
    with pytest.raises(SpecError, match=message):
        ExperimentSpec.from_dict(drawn_spec(points))


def test_only_drawn_data_takes_points():
    with pytest.raises(SpecError, match=r'^data.points: only drawn data \(name "points"\) takes points'):
        ExperimentSpec.from_dict({"data": {"name": "circle", "points": [[0, 0, 0]]}})


def test_a_full_board_of_random_values_fits_in_a_share_link():
    from ui.share import MAX_LINK_CHARS, decode_spec, encode_spec

    rng = random.Random(0)
    board = tuple((round(rng.uniform(-6, 6), 2), round(rng.uniform(-6, 6), 2), round(rng.uniform(-1, 1), 3))
                  for _ in range(MAX_DRAWN_POINTS))
    spec = PlaySettings(dataset="points", points=board).to_spec(ExperimentSpec())
    token = encode_spec(spec)
    assert len(token) <= MAX_LINK_CHARS and decode_spec(token) == spec
