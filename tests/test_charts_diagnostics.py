"""Diagnostic charts and comparison helpers: structure and numbers of the figures and tables."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from playground import Experiment, ExperimentSpec
from playground.charts import diagnostics as dg
from playground.charts import theme
from playground.telemetry import capture_activations


def annotation_texts(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations]


def test_histogram_over_time_regrids_samples_with_different_ranges():
    hist = pd.DataFrame([{"step": 0, "counts": [4, 0, 0, 4], "lo": 0.0, "hi": 1.0},
                         {"step": 10, "counts": [0, 2, 2, 0], "lo": 8.0, "hi": 10.0}])
    fig = dg.histogram_over_time(hist, "w")
    heat = fig.data[0]
    z, y = np.asarray(heat.z), np.asarray(heat.y)
    assert z.shape == (dg.HIST_GRID, 2) and list(heat.x) == [0, 10]
    assert z.sum(0) == pytest.approx([1.0, 1.0])                  # each column is one sample's shares
    assert z[y < 1.0, 0].sum() == pytest.approx(1.0)              # first sample lives in [0, 1]
    assert z[(y > 8.5) & (y < 9.5), 1].sum() == pytest.approx(1.0)  # second in its middle bins [8.5, 9.5]
    assert y.min() > 0.0 and y.max() < 10.0 and fig.layout.title.text == "w"


def test_histogram_over_time_of_a_real_run():
    exp = Experiment.from_dict({"data": {"name": "xor"}, "train": {"epochs": 2}})
    exp.fit()
    hist = exp.telemetry.histogram_frame("dense_0", "grad")
    z = np.asarray(dg.histogram_over_time(hist).data[0].z)
    assert z.shape == (dg.HIST_GRID, len(hist)) and z.sum(0) == pytest.approx(np.ones(len(hist)))


def test_empty_inputs_give_a_message_not_an_error():
    assert "no samples yet" in annotation_texts(dg.histogram_over_time(pd.DataFrame()))[0]
    assert "no telemetry yet" in annotation_texts(dg.gradient_flow(pd.DataFrame()))[0]
    assert "2-D" in annotation_texts(dg.weight_heatmap(np.zeros(3)))[0]
    assert "4-D" in annotation_texts(dg.filter_grid(np.zeros((2, 2))))[0]


def test_gradient_flow_has_both_measures_per_layer_on_one_step_axis():
    tele = pd.DataFrame([{"step": s, "layer": layer, "grad_norm": g * (s + 1), "update_ratio": 1e-3}
                         for s in range(3) for layer, g in (("dense_0", 0.1), ("output", 1.0))])
    fig = dg.gradient_flow(tele)
    axes = [(t.name, t.yaxis or "y") for t in fig.data]
    assert axes == [("dense_0", "y"), ("dense_0", "y2"), ("output", "y"), ("output", "y2")]
    assert [t.showlegend is not False for t in fig.data] == [True, False, True, False]  # one legend entry a layer
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color
    assert list(fig.data[2].y) == [1.0, 2.0, 3.0]
    assert fig.layout.xaxis.matches == "x2"                                      # shared step axis
    assert fig.layout.yaxis.type == fig.layout.yaxis2.type == "log"
    assert [s.y0 for s in fig.layout.shapes] == [1e-3] and fig.layout.shapes[0].yref == "y2"


def test_gradient_flow_explains_gradients_that_are_all_zero_instead_of_a_blank_log_chart():
    tele = pd.DataFrame({"step": [0, 10], "layer": ["dense_0"] * 2, "grad_norm": [0.0, 0.0],
                         "update_ratio": [0.0, 0.0]})
    fig = dg.gradient_flow(tele)
    assert not fig.data and "Every gradient has been exactly zero" in annotation_texts(fig)[0]
    tele.loc[1, "grad_norm"] = 1e-3
    assert len(dg.gradient_flow(tele).data) == 2  # one non-zero gradient: the chart is drawn


def test_weight_heatmap_is_symmetric_around_zero():
    w = np.array([[0.5, -2.0, 1.0], [0.0, 0.1, -0.3]])
    heat = dg.weight_heatmap(torch.tensor(w)).data[0]
    assert np.asarray(heat.z) == pytest.approx(w) and (heat.zmin, heat.zmax) == (-2.0, 2.0)
    assert heat.colorscale[0][1] == theme.NEGATIVE and heat.colorscale[-1][1] == theme.POSITIVE
    assert list(heat.x) == ["0", "1", "2"] and list(heat.y) == ["0", "1"]  # numbered, not -0.5 .. 2.5 ticks
    named = dg.weight_heatmap(w, inputs=["x1", "x2", "x1^2"], units=["cat", "dog"])
    assert list(named.data[0].x) == ["x1", "x2", "x1^2"] and named.layout.xaxis.type == "category"


def test_tile_lays_maps_out_with_blank_gaps():
    maps = np.arange(3 * 2 * 2).reshape(3, 2, 2)
    mosaic = dg.tile(maps)
    assert mosaic.shape == (5, 5)                          # 2x2 grid of 2x2 tiles, 1-pixel gaps
    assert mosaic[0:2, 0:2] == pytest.approx(maps[0]) and mosaic[0:2, 3:5] == pytest.approx(maps[1])
    assert mosaic[3:5, 0:2] == pytest.approx(maps[2])
    assert np.isnan(mosaic[2]).all() and np.isnan(mosaic[:, 2]).all() and np.isnan(mosaic[3:, 3:]).all()


def test_filter_grid_averages_input_channels():
    w = np.stack([np.full((2, 3, 3), v) for v in (1.0, -1.0, 3.0, 0.0)])  # 4 filters, 2 input channels
    w[0, 1] = 3.0                                                          # filter 0: channels 1 and 3 -> 2
    z = np.asarray(dg.filter_grid(w).data[0].z, dtype=float)
    assert z.shape == (7, 7) and z[0, 0] == 2.0 and z[0, 4] == -1.0 and z[4, 0] == 3.0 and z[4, 4] == 0.0


def test_activation_maps_of_a_real_conv_net_and_its_input():
    exp = Experiment.from_dict({"data": {"name": "digits"}, "model": {"layers": [{"type": "conv2d", "filters": 4}]},
                                "train": {"loss": "cross_entropy"}})
    maps = capture_activations(exp.model, exp.data.x_test[:1])["conv2d_0"][0]   # relu: non-negative
    fig = dg.activation_maps(maps, "maps")
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (17, 17) and np.isnan(z[8]).all() and np.isnan(z[:, 8]).all()  # maps a blank line apart
    assert fig.data[0].colorscale[0][1] != "#ffffff"  # a zero is not drawn like the blank between maps
    signed = dg.activation_maps(np.array([-1.0, 2.0, 0.5]))  # units: squares of UNIT_PIXELS, 2 a row
    z = np.asarray(signed.data[0].z, dtype=float)
    side = 2 * dg.UNIT_PIXELS + 1
    assert z.shape == (side, side) and signed.data[0].zmin == -2.0
    assert z[0, 0] == -1.0 and z[0, dg.UNIT_PIXELS + 1] == 2.0 and z[dg.UNIT_PIXELS + 1, 0] == 0.5
    grey = dg.image_figure(exp.data.x_test[0]).data[0]
    assert grey.type == "heatmap" and np.asarray(grey.z).shape == (8, 8)
    assert dg.image_figure(np.ones((3, 4, 4))).data[0].type == "image"


def test_predicted_labels_and_confusion_matrix():
    assert list(dg.predicted_labels(np.array([[0.3], [-1.0]]))) == [1, 0]
    assert list(dg.predicted_labels(torch.tensor([[0.1, 2.0, 0.3], [5.0, 0.0, 0.0]]))) == [1, 0]
    y_true, y_pred = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0]
    heat = dg.confusion_matrix_figure(y_true, y_pred, ["a", "b", "c"]).data[0]
    assert np.asarray(heat.z).tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]] and list(heat.x) == ["a", "b", "c"]
    assert list(dg.misclassified(y_true, y_pred)) == [1, 5]


def test_misclassified_grid_and_table():
    images = np.random.default_rng(0).random((3, 1, 8, 8))
    fig = dg.misclassified_grid(images, [1, 2, 0], [0, 0, 2], ["zero", "one", "two"], ids=[7, 11, 40])
    z = np.asarray(fig.data[0].z, dtype=float)
    assert len(fig.data) == 1 and fig.data[0].type == "heatmap" and z.shape == (14, 26)  # 3 tiles, a label band
    assert z[:8, :8] == pytest.approx(images[0, 0]) and z[:8, 18:] == pytest.approx(images[2, 0])
    assert np.isnan(z[8:]).all()                                                          # room for the labels
    assert annotation_texts(fig) == ["test #7<br>one → zero", "test #11<br>two → zero", "test #40<br>zero → two"]
    assert (fig.layout.annotations[1].x, fig.layout.annotations[1].y) == (12.5, 10.5)    # under the middle tile
    rgb = dg.misclassified_grid(np.ones((2, 3, 4, 4)) * 0.5, [0, 1], [1, 0], ["a", "b"]).data[0]
    rgb_z = np.asarray(rgb.z)
    assert rgb.type == "image" and rgb_z.shape == (8, 9, 3) and rgb_z[7, 0].tolist() == [255] * 3  # gaps white
    long_names = ["T-shirt/top", "Ankle boot"]  # a 24-character caption: fewer columns, so captions fit
    wide = dg.misclassified_grid(np.zeros((8, 1, 4, 4)), [0] * 8, [1] * 8, long_names)
    assert np.asarray(wide.data[0].z).shape[1] == 4 * 5 - 1
    none_wrong = dg.misclassified_grid(np.zeros((0, 1, 8, 8)), [], [], ["a"])
    assert annotation_texts(none_wrong) == ["no misclassified examples"]
    table = dg.misclassified_table([[0.5, -1.0]], [1], [0], ["x1", "x2"], ["0", "1"], ids=[12])
    assert table.to_dict("index") == {12: {"x1": 0.5, "x2": -1.0, "true": "1", "predicted": "0"}}


def history(losses: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"epoch": range(1, len(losses) + 1), "train_loss": losses,
                         "test_loss": [v + 0.1 for v in losses], "train_accuracy": 0.5, "test_accuracy": 0.6})


def test_run_curves_overlay_runs_loss_or_accuracy_on_a_linear_or_log_axis():
    fig = dg.run_curves({"a": history([1.0, 0.5]), "b": history([0.9, 0.8, 0.7])})
    assert [t.name for t in fig.data] == ["a", "a", "b", "b"] and [t.showlegend for t in fig.data[:2]] == [True, False]
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color
    assert list(fig.data[3].y) == [0.9, 0.8, 0.7] and fig.data[1].line.dash == "dot"
    assert fig.layout.yaxis.type is None and fig.layout.yaxis.title.text == "loss (test solid, train dotted)"
    assert dg.run_curves({"a": history([1.0, 20.0])}, log=True).layout.yaxis.type == "log"
    accuracy = dg.run_curves({"a": history([1.0, 0.5])}, "accuracy")
    assert list(accuracy.data[0].y) == [0.6, 0.6] and accuracy.layout.yaxis.title.text.startswith("accuracy")


def test_run_labels_name_runs_by_what_differs():
    base = ExperimentSpec().to_dict()
    fast = ExperimentSpec.from_dict({"train": {"lr": 0.1}}).to_dict()
    relu = ExperimentSpec.from_dict({"train": {"lr": 0.1}, "model": {"layers": [
        {"type": "dense", "units": 4, "activation": "relu"}, {"type": "dense", "units": 2, "activation": "relu"}]}})
    labels = dg.run_labels({"run 1": base, "run 2": fast, "run 3": relu.to_dict()})
    assert labels == {"run 1": "layer 0 units 8, lr 0.03, +3 more", "run 2": "layer 0 units 8, lr 0.1, +3 more",
                      "run 3": "layer 0 units 4, lr 0.1, +3 more"}  # the fewest settings that tell them apart
    playground = {"a": base, "b": ExperimentSpec.from_dict({"data": {"name": "xor"}, "init_seed": 5}).to_dict(),
                  "c": ExperimentSpec.from_dict({"init_seed": 7, "train": {"lr": 0.1}}).to_dict()}
    assert dg.run_labels(playground) == {"a": "data spiral, lr 0.03, +1 more", "b": "data xor, lr 0.03, +1 more",
                                         "c": "data spiral, lr 0.1, +1 more"}  # a seed names a run last
    assert dg.run_labels({"run 1": base, "run 2": fast}) == {"run 1": "lr 0.03", "run 2": "lr 0.1"}
    assert dg.run_labels({"run 1": base}) == {"run 1": "run 1"}  # nothing differs: its own name
    assert dg.run_labels({"a": base, "b": base, "c": fast}) == {"a": "a", "b": "b", "c": "lr 0.1"}
    data = ExperimentSpec.from_dict({"data": {"name": "xor"}, "init_seed": 5}).to_dict()
    assert dg.run_labels({"a": base, "b": data}) == {"a": "data spiral, +1 more", "b": "data xor, +1 more"}


def test_settings_diff_lists_only_what_differs():
    base = ExperimentSpec()
    faster = ExperimentSpec.from_dict({"train": {"lr": 0.1}, "data": {"features": ["x1", "x2", "x1x2"]}})
    shallow = ExperimentSpec.from_dict({"model": {"layers": [{"type": "dense", "units": 4, "activation": "tanh"}]}})
    diff = dg.settings_diff({"base": base.to_dict(), "faster": faster.to_dict(), "shallow": shallow.to_dict()})
    assert list(diff.columns) == ["base", "faster", "shallow"]
    assert set(diff.index) == {"data.features", "train.lr", "model.layers[0].units", "model.layers[1].type",
                               "model.layers[1].units", "model.layers[1].activation"}
    assert diff.loc["train.lr"].tolist() == [0.03, 0.1, 0.03]
    assert diff.loc["data.features", "faster"] == "x1, x2, x1x2"
    assert diff.loc["model.layers[1].units", "shallow"] == "—"
    assert dg.settings_diff({"a": base.to_dict(), "b": base.to_dict()}).empty


def test_final_metrics_and_csv():
    runs = {"a": history([1.0, 0.5]), "b": history([0.9, 0.3, 0.7])}
    table = dg.final_metrics(runs)
    assert table.loc["a", "epoch"] == 2 and table["epoch"].dtype.kind == "i"
    assert table.loc["b", "test_loss"] == pytest.approx(0.8)
    assert table.loc["b", "best_test_loss"] == pytest.approx(0.4)
    lines = dg.metrics_csv(runs).splitlines()
    assert lines[0].startswith("run,epoch,train_loss,test_loss") and len(lines) == 6 and lines[3].startswith("b,1,0.9")
    assert math.isnan(dg.final_metrics({"empty": history([])}).loc["empty", "best_test_loss"])
