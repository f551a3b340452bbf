"""Training charts (traces, names, colours, axes) and the per-neuron maps they draw from."""
import base64
import io

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image

from playground import Experiment
from playground.charts import (accuracy_figure, dataset_thumbnails, decision_boundary_figure, loss_figure,
                               network_diagram, theme, thumbnail_at)
from playground.charts.training import NAN_GREY, class_map_png, rgb
from playground.data.toy import plane_points
from playground.plane import decision_grid, dense_weights, neuron_maps
from playground.train import METRIC_COLUMNS


def history(n: int = 3, regression: bool = False) -> pd.DataFrame:
    def accuracy(base: float, e: int) -> float | None:
        return None if regression else base + e / 10

    rows = [{"epoch": e, "step": 4 * e, "train_loss": 1.0 / e, "test_loss": 1.2 / e, "train_accuracy": accuracy(0.5, e),
             "test_accuracy": accuracy(0.4, e), "lr": 0.1, "seconds": float(e)} for e in range(1, n + 1)]
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def by_name(fig):
    return {t.name: t for t in fig.data}


# --- loss and accuracy --------------------------------------------------------------------------------

def test_loss_figure_train_test_and_batch_losses_on_the_epoch_axis():
    fig = loss_figure(history(), step_losses=[3.0, 2.0, 1.0], loss_stride=2, steps_per_epoch=4)
    traces = by_name(fig)
    assert list(traces) == ["batch loss", "train loss", "test loss"]
    # step_losses[i] is the loss of step i * stride + 1: steps 1, 3, 5 -> epochs 0.25, 0.75, 1.25
    assert list(traces["batch loss"].x) == pytest.approx([0.25, 0.75, 1.25])
    assert list(traces["train loss"].y) == pytest.approx([1.0, 0.5, 1 / 3])
    assert traces["train loss"].line.color == theme.TRAIN and traces["test loss"].line.color == theme.TEST
    assert fig.layout.xaxis.title.text == "epoch" and fig.layout.yaxis.title.text == "loss"


def test_loss_figure_marks_live_changes_where_they_happened():
    changes = [{"step": 6, "lr": 0.1}, {"step": 14, "batch_size": 8, "reg_rate": 0.01}]
    fig = loss_figure(history(), step_losses=[1.0] * 14, steps_per_epoch=2, changes=changes)
    marks = by_name(fig)["changed"]
    # history(): epochs end at steps 4, 8, 12; after that, epochs of steps_per_epoch (now 2) steps
    assert list(marks.x) == pytest.approx([1.5, 3 + 2 / 2]) and list(marks.text) == ["lr 0.1", "batch_size 8, reg_rate 0.01"]
    assert marks.marker.color == theme.CHANGE
    assert by_name(fig)["batch loss"].x[4] == pytest.approx(1 + 1 / 4)  # step 5: a quarter into epoch 2
    assert "changed" not in by_name(loss_figure(history(), steps_per_epoch=4))


def test_loss_figure_thins_long_curves_evenly():
    losses = np.linspace(1.0, 0.0, 5000)
    fig = loss_figure(history().iloc[:0], step_losses=losses, loss_stride=3, steps_per_epoch=10)
    batch = by_name(fig)["batch loss"]
    assert len(batch.x) == 1000
    assert batch.x[1] == pytest.approx((5 * 3 + 1) / 10) and batch.y[1] == pytest.approx(losses[5])


def test_loss_figure_without_steps_per_epoch_draws_only_epoch_curves_and_log_axis():
    fig = loss_figure(history(), step_losses=[1.0, 0.5], log_y=True)
    assert [t.name for t in fig.data] == ["train loss", "test loss"]
    assert fig.layout.yaxis.type == "log"


def test_accuracy_figure_percent_axis_and_regression_note():
    fig = accuracy_figure(history())
    assert [t.name for t in fig.data] == ["train accuracy", "test accuracy"]
    assert list(fig.data[1].y) == pytest.approx([0.5, 0.6, 0.7])
    assert fig.layout.yaxis.tickformat == ".0%" and fig.layout.yaxis.title.text == "accuracy"
    assert not fig.layout.annotations
    note = accuracy_figure(history(regression=True)).layout.annotations
    assert len(note) == 1 and "regression" in note[0].text


# --- decision map and thumbnails ----------------------------------------------------------------------

GRID = {"x1": [-1.0, 0.0, 1.0], "x2": [-1.0, 0.0, 1.0], "z": [[0.1, 0.2, 0.3], [0.4, 0.6, 0.7], [0.8, 0.9, 1.0]]}
POINTS = np.array([[0.5, 0.5], [-0.5, -0.5]])


def png_pixels(source: str) -> np.ndarray:
    """A PNG data URI's image as (rows, columns, RGB), row 0 at the top."""
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).convert("RGB"))


def map_pixels(fig) -> np.ndarray:
    """The decision map's image."""
    return png_pixels(fig.layout.images[0].source)


def test_decision_boundary_binary_map_image_points_by_class_and_test_outline():
    fig = decision_boundary_figure(GRID, POINTS, np.array([1.0, 0.0]), "binary",
                                   test_points=np.array([[0.1, 0.2]]), test_labels=np.array([1.0]))
    scale, train, test = fig.data
    pixels = map_pixels(fig)
    assert pixels.shape == (3, 3, 3)
    assert tuple(pixels[0, 2]) == rgb(theme.CLASS_1)    # z 1.0 at the top right (x1 = x2 = 1)
    assert pixels[2, 0, 0] > pixels[2, 0, 2]              # z 0.1 at the bottom left: orange, more red than blue
    image = fig.layout.images[0]
    assert (image.x, image.y, image.sizex, image.sizey) == (-1.5, 1.5, 3.0, 3.0)  # cells centred on the grid
    assert list(fig.layout.xaxis.range) == [-1.5, 1.5] and image.layer == "below"
    assert scale.type == "heatmap" and scale.coloraxis == "coloraxis" and scale.x[0] > 1.5  # only its colour bar
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0.0, 1.0)
    assert list(train.marker.color) == [1.0, 0.0] and train.marker.colorscale == (
        (0.0, theme.CLASS_0), (1.0, theme.CLASS_1)) and (train.marker.cmin, train.marker.cmax) == (0, 1)
    assert (train.name, test.name) == ("train", "test")
    assert train.marker.line.color == "white" and test.marker.line.color == "black"
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.xaxis.title.text == "x1"


def test_decision_boundary_discretize_and_no_test_trace_by_default():
    fig = decision_boundary_figure(GRID, POINTS, np.array([1.0, 0.0]), discretize=True)
    pixels = map_pixels(fig)[::-1]  # row 0 at the bottom, as the grid's z
    classes = [[tuple(p) == rgb(theme.CLASS_1) for p in row] for row in pixels]
    assert classes == [[False] * 3, [False, True, True], [True] * 3]
    assert all(tuple(p) in (rgb(theme.CLASS_0), rgb(theme.CLASS_1)) for row in pixels for p in row)
    assert [t.name for t in fig.data] == ["model output", "train"]


def test_decision_boundary_regression_shares_one_colour_scale_over_the_label_range():
    fig = decision_boundary_figure(GRID, POINTS, np.array([-2.0, 5.0]), "regression")
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (-2.0, 5.0)
    assert fig.data[1].marker.coloraxis == "coloraxis" and list(fig.data[1].marker.color) == [-2.0, 5.0]
    binary = map_pixels(decision_boundary_figure(GRID, POINTS, np.array([1.0, 0.0])))
    assert not np.array_equal(map_pixels(fig), binary)  # the same z, coloured on the labels' range instead


def test_dataset_thumbnails_one_plot_per_set_and_the_selected_one_framed():
    sets = {name: (POINTS * (i + 1), np.array([0.0, 1.0]), "binary") for i, name in enumerate("abcde")}
    sets["r"] = (POINTS, np.array([-1.0, 1.0]), "regression")
    fig = dataset_thumbnails(sets, selected="c", cols=4)
    assert [a.text for a in fig.layout.annotations] == list(sets)
    cells = [(fig.layout[f"xaxis{k}"].domain[0], fig.layout[f"yaxis{k}"].domain[1]) for k in ("", *range(2, 7))]
    assert [(i.x, i.y) for i in fig.layout.images] == cells                                        # one a cell
    (frame,) = fig.layout.shapes
    assert frame.xref == "x3 domain" and frame.line.color == theme.CLASS_1
    def has(pixels, colour, side):   # a dot of `colour` in the image's left or right half
        half = pixels[:, :64] if side == "left" else pixels[:, 64:]
        return bool(np.all(half == rgb(colour), axis=-1).any())
    first, regression = png_pixels(fig.layout.images[0].source), png_pixels(fig.layout.images[-1].source)
    assert first.shape == (128, 128, 3)       # POINTS: label 0 at the right, 1 at the left, in class colours
    assert has(first, theme.CLASS_0, "right") and has(first, theme.CLASS_1, "left")
    assert not has(first, theme.CLASS_1, "right") and not has(first, theme.CLASS_0, "left")
    assert has(regression, theme.CLASS_0, "right") and has(regression, theme.CLASS_1, "left")  # its own label range
    assert fig.layout.height == 2 * 90
    # where a click falls (paper coordinates: 0..1 across, 0..1 up): 4 columns, 2 rows, "abcd" on top
    assert [thumbnail_at(fig, x, 0.9) for x in (0.05, 0.3, 0.6, 0.95)] == list("abcd")
    assert thumbnail_at(fig, 0.3, 0.2) == "r" and thumbnail_at(fig, 0.9, 0.2) is None  # no thumbnail there
    assert thumbnail_at(fig, 0.3, 0.5) is None                                          # between the rows


# --- network diagram ----------------------------------------------------------------------------------

WEIGHTS = [np.array([[1.0, -2.0], [0.5, 6.0], [-0.1, 0.0]]), np.array([[3.0, -3.0, 0.2]])]  # 2 -> 3 -> 1


def test_network_diagram_links_by_sign_and_width_with_one_hover_per_weight():
    fig = network_diagram(WEIGHTS, input_names=["x1", "x2"])
    links = [t for t in fig.data if t.mode == "lines"]
    positive = [t for t in links if t.line.color == theme.POSITIVE]
    negative = [t for t in links if t.line.color == theme.NEGATIVE]
    assert sum(np.isnan(t.x).sum() for t in positive) == 6 and sum(np.isnan(t.x).sum() for t in negative) == 3  # a gap after each link
    widths = {t.line.width for t in links}
    assert min(widths) < 2 and max(widths) > 9           # |w| 0 is thin, |w| 6 (clamped at 5) is widest
    (hover,) = [t for t in fig.data if t.name == "weights"]
    assert len(hover.hovertext) == 9 and "x2 → layer 1 unit 2<br>weight 6.000 (click to edit)" in hover.hovertext
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:3] == ["input<br>2 units", "hidden 1<br>3 units", "output<br>1 unit"] and "x1" in titles


def test_network_diagram_of_a_diverged_run_draws_nan_weights_as_grey_links():
    weights = [WEIGHTS[0], np.array([[np.nan, np.inf, 1.0]])]
    maps = {"inputs": [np.full((2, 2), np.nan)] * 2, "hidden": [np.full((3, 2, 2), np.nan)], "output": np.zeros((2, 2))}
    fig = network_diagram(weights, maps)
    (broken,) = [t for t in fig.data if t.name == "non-finite weights"]
    assert np.isnan(broken.x).sum() == 2 and broken.line.color == "#9e9e9e"
    assert "range -1 to 1" in fig.data[-1].hovertext[0]               # an all-NaN input map still gets a range
    assert (png_pixels(fig.layout.images[0].source) == NAN_GREY).all()  # and is drawn grey


def test_network_diagram_with_maps_draws_an_image_per_node_over_it():
    maps = {"inputs": [np.full((4, 4), 3.0), np.full((4, 4), -0.5)],
            "hidden": [np.zeros((3, 4, 4))], "output": np.full((4, 4), 0.7)}
    fig = network_diagram(WEIGHTS, maps, output_range=(0.0, 1.0))
    images = fig.layout.images
    assert len(images) == 2 + 3 + 1 and not [t for t in fig.data if t.type == "heatmap"]  # no subplots to lay out
    pixels = [png_pixels(i.source) for i in images]
    assert all(p.shape == (4, 4, 3) for p in pixels)
    assert (pixels[0] == rgb(theme.CLASS_1)).all()          # each input map on its own symmetric range: 3 of 3
    assert (pixels[1] == rgb(theme.CLASS_0)).all()          # -0.5 of 0.5
    assert (pixels[2] == rgb(theme.DIVERGING[1][1])).all()  # hidden units on [-1, 1], as TF Playground: 0 mid
    assert images[-1].x == pytest.approx(2 - 0.2) and images[-1].xref == "x"  # placed over the output node
    (units,) = [t for t in fig.data if t.name == "units"]
    assert len(units.x) == 6 and "range 0 to 1" in units.hovertext[-1]


def test_a_softmax_output_draws_each_class_probability_in_its_class_colour():
    weights = [np.ones((3, 2)), np.ones((3, 3))]                  # three classes
    maps = {"inputs": [np.zeros((4, 4))] * 2, "hidden": [np.zeros((3, 4, 4))],
            "output": np.stack([np.ones((4, 4)), np.ones((4, 4)), np.zeros((4, 4))])}
    pixels = [png_pixels(i.source) for i in network_diagram(weights, maps).layout.images[-3:]]
    strongest = [tuple(p[0, 0]) for p in pixels[:2]]
    assert strongest[0] != strongest[1]                           # classes 0 and 1, both sure: two colours
    assert strongest[0] == tuple(png_pixels(class_map_png(np.zeros((1, 1)), np.ones((1, 1))))[0, 0])
    assert (pixels[2] == 255).all()                               # class 2 nowhere: white


def test_network_diagram_shows_every_units_bias_the_outputs_too():
    biases = [np.array([0.5, -2.0, 0.0]), np.array([-0.25])]
    fig = network_diagram(WEIGHTS, biases=biases)
    (squares,) = [t for t in fig.data if t.name == "biases"]
    assert list(squares.hovertext) == ["layer 1 unit 1: bias 0.5", "layer 1 unit 2: bias -2", "layer 1 unit 3: bias 0",
                                       "output: bias -0.25"]
    assert list(squares.marker.color) == [theme.POSITIVE, theme.NEGATIVE, theme.POSITIVE, theme.NEGATIVE]
    assert list(squares.marker.size) == [7.5, 10.0, 5.0, 6.25]   # larger for a larger |bias|, clamped at 1
    assert squares.x[-1] == pytest.approx(2 - 0.2 - 0.07) and squares.y[-1] == pytest.approx(-0.38 + 0.07)  # by
    # the output map's lower left corner, outside it (the maps are drawn over the traces)
    assert not [t for t in network_diagram(WEIGHTS).data if t.name == "biases"]


def test_plane_dense_biases_are_the_linear_biases_in_order(exp):
    from playground.plane import dense_biases

    biases = dense_biases(exp.model)
    linears = [m for m in exp.model.modules() if isinstance(m, torch.nn.Linear)]
    assert [b.shape for b in biases] == [(m.out_features,) for m in linears]
    assert all(np.array_equal(b, m.bias.detach().numpy()) for b, m in zip(biases, linears))


def test_node_map_images_put_row_0_at_the_bottom_like_the_decision_map():
    fig = network_diagram(WEIGHTS, {"inputs": [np.array([[-1.0, -1.0], [1.0, 1.0]])] * 2,
                                    "hidden": [np.zeros((3, 2, 2))], "output": np.zeros((2, 2))})
    top, bottom = png_pixels(fig.layout.images[0].source)  # rows as drawn
    assert (top == rgb(theme.CLASS_1)).all() and (bottom == rgb(theme.CLASS_0)).all()


# --- neuron maps: what the diagram shows, checked against the model itself ----------------------------

@pytest.fixture(scope="module")
def exp():
    e = Experiment.from_dict({"data": {"name": "xor", "features": ["x1", "x2", "x1x2"]},
                              "model": {"layers": [{"type": "dense", "units": 3, "activation": "tanh"},
                                                   {"type": "dropout", "rate": 0.2},
                                                   {"type": "dense", "units": 2, "activation": "relu"}]},
                              "train": {"epochs": 2}})
    e.fit()
    return e


def test_a_multi_class_plane_shows_each_class_and_how_sure_the_model_is():
    e = Experiment.from_dict({"data": {"name": "blobs", "noise": 0.1}, "train": {"loss": "cross_entropy", "epochs": 20,
                                                                                "optimizer": "adam", "lr": 0.03}})
    e.fit()
    grid, maps = decision_grid(e, 9, 6.0), neuron_maps(e, 9, 6.0)
    assert maps["output"].shape == (4, 9, 9) and maps["output"].sum(0) == pytest.approx(np.ones((9, 9)), abs=1e-5)
    assert (grid["z"] == maps["output"].argmax(0)).all() and grid["confidence"] == pytest.approx(maps["output"].max(0))
    points = e.data.points_train.numpy()
    fig = decision_boundary_figure(grid, points, e.data.y_train.numpy(), "multiclass")
    pixels = map_pixels(fig)[::-1]                      # row 0 at the bottom, as the grid's z
    sure = 0.6 * np.array(rgb(theme.CLASS_COLOURS[int(grid["z"][8, 8])])) + 0.4 * 255  # the top right corner:
    assert np.abs(pixels[8, 8].astype(int) - sure).max() <= 20  # one blob's, surely, paler than its points
    assert fig.layout.coloraxis.showscale is False
    colours = fig.data[1].marker.color
    assert {colours[k] for k in np.flatnonzero(e.data.y_train.numpy() == 2)} == {theme.CLASS_COLOURS[2]}
    diagram = network_diagram([np.zeros((8, 2)), np.zeros((8, 8)), np.zeros((4, 8))], maps)
    assert len(diagram.layout.images) == 2 + 8 + 8 + 4  # a map for each class's output unit


def test_neuron_maps_match_the_decision_grid_and_a_hand_computed_unit(exp):
    maps = neuron_maps(exp, resolution=7, extent=3.0)
    assert [m.shape for m in maps["inputs"]] == [(7, 7)] * 3
    assert [m.shape for m in maps["hidden"]] == [(3, 7, 7), (2, 7, 7)]  # the dropout block has no units
    grid = decision_grid(exp, 7, 3.0)
    assert maps["output"].shape == (1, 7, 7) and maps["output"][0] == pytest.approx(np.array(grid["z"]), abs=1e-6)
    axis, points = plane_points(7, 3.0)
    assert maps["axis"] == pytest.approx(axis.numpy())
    i, j = 2, 5                                             # row i is x2 = axis[i], column j is x1 = axis[j]
    x1, x2 = axis[j].item(), axis[i].item()
    assert maps["inputs"][2][i, j] == pytest.approx(x1 * x2)
    w, b = exp.model.dense_0[0].weight.detach(), exp.model.dense_0[0].bias.detach()
    expected = torch.tanh(w @ torch.tensor([x1, x2, x1 * x2]) + b)
    assert maps["hidden"][0][:, i, j] == pytest.approx(expected.numpy(), abs=1e-5)


def test_dense_weights_are_the_linear_matrices_in_order(exp):
    weights = dense_weights(exp.model)
    assert [w.shape for w in weights] == [(3, 3), (2, 3), (1, 2)]
    assert np.array_equal(weights[0], exp.model.dense_0[0].weight.detach().numpy())


def test_live_figures_are_valid_plotly_although_built_unvalidated():
    """theme.figure skips plotly's validation for speed: validating each live chart's figure here still
    catches a misspelt property or a bad value."""
    history = pd.DataFrame({"epoch": [1, 2], "step": [5, 10], "train_loss": [1.0, 0.5], "test_loss": [1.1, 0.6],
                            "train_accuracy": [0.5, 0.8], "test_accuracy": [0.4, 0.7]})
    grid = {"x1": [-1.0, 0.0, 1.0], "x2": [-1.0, 0.0, 1.0], "z": np.zeros((3, 3)).tolist()}
    points, labels = np.zeros((4, 2)), np.array([0.0, 1.0, 0.0, 1.0])
    maps = {"inputs": [np.zeros((2, 2))] * 2, "hidden": [np.zeros((3, 2, 2))], "output": np.zeros((2, 2))}
    figures = [loss_figure(history, [1.0] * 10, 1, 5, log_y=True, changes=[{"step": 3, "lr": 0.1}]),
               accuracy_figure(history), decision_boundary_figure(grid, points, labels, "binary", points, labels),
               decision_boundary_figure(grid, points, labels, "regression"),
               network_diagram(WEIGHTS, maps, biases=[np.zeros(3), np.zeros(1)])]
    for fig in figures:
        go.Figure(fig.to_dict())  # raises ValueError on an invalid property
