"""What ui.live_chart sends for a figure: the JSON plotly's own `to_json` writes, however it gets there."""
import json

import numpy as np
import plotly.graph_objects as go
import pytest

from playground import Experiment, ExperimentSpec
from playground.charts import decision_boundary_figure, loss_figure, network_diagram
from playground.play_settings import PlaySettings
from playground.plane import plane_view
from playground.run import Run
from ui.live_chart import figure_json


def plotly_json(fig: go.Figure, key: str) -> dict:
    fig.layout["uirevision"] = f"{key}:None"
    return json.loads(fig.to_json())


def playground_figures() -> dict[str, go.Figure]:
    """The Playground's three live figures after a few epochs, as its page builds them."""
    run = Run(Experiment(PlaySettings().to_spec(ExperimentSpec())))
    run.step(40)
    snap, view = run.snapshot(), run.read(plane_view, 10, 30)
    data = view.points
    return {"diagram": network_diagram(view.weights, view.maps, data.feature_names, data.output_range, 400,
                                       view.biases),
            "boundary": decision_boundary_figure(view.grid, data.train, data.train_labels, data.task, data.test,
                                                 data.test_labels, discretize=True, height=360),
            "loss": loss_figure(snap.history, snap.step_losses, snap.loss_stride, snap.steps_per_epoch, height=200,
                                changes=[{"step": 20, "lr": 0.1}])}


@pytest.mark.parametrize("name", ["diagram", "boundary", "loss"])
def test_a_live_figure_is_sent_as_plotly_writes_it(name):
    fig = playground_figures()[name]
    assert json.loads(figure_json(fig, name)) == plotly_json(fig, name)


def test_arrays_are_typed_as_plotly_types_them_and_a_nan_outside_an_array_still_makes_valid_json():
    fig = go.Figure({"data": [{"type": "heatmap", "z": np.arange(6, dtype=np.float32).reshape(2, 3),
                               "x": np.arange(3, dtype=np.int64), "y": np.array([0, 2**40], dtype=np.int64),
                               "customdata": np.array([True, False])}],
                     "layout": {"xaxis": {"range": np.array([0.0, 2.0])}}}, _validate=False)
    sent = json.loads(figure_json(fig, "k"))
    assert sent == plotly_json(fig, "k")
    trace = sent["data"][0]
    assert trace["z"]["dtype"] == "f4" and trace["z"]["shape"] == "2, 3" and trace["x"]["dtype"] == "i1"
    assert trace["y"] == [0, 2**40] and sent["layout"]["xaxis"]["range"] == [0.0, 2.0]
    with_nan = go.Figure({"data": [{"type": "scatter", "x": [0, 1], "y": [1.0, float("nan")]}]}, _validate=False)
    text = figure_json(with_nan, "k")
    assert "NaN" not in text and json.loads(text)["data"][0]["y"] == [1.0, None]
