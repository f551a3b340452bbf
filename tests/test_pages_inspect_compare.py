"""AppTest: the Inspect and Compare pages, and sharing (link, JSON upload, exported code, checkpoints)."""
import base64
import json
import zlib

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from streamlit.testing.v1 import AppTest

from playground import Experiment, ExperimentSpec, Run, SpecError
from playground.checkpoint import checkpoint_bytes
from playground.telemetry import HIST_EVERY
from ui.session import FinishedRun
from ui.share import MAX_LINK_CHARS, SHARE_PARAM, decode_spec, encode_spec

TIMEOUT = 60
XOR = {"data": {"name": "xor"}}
DIGITS_CONV = {"data": {"name": "digits"},
               "model": {"layers": [{"type": "conv2d", "filters": 4}, {"type": "maxpool2d"}]},
               "train": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.01, "batch_size": 32}}


@pytest.fixture
def track():
    """Runs and apps made by a test; every Run (also those an app put in its session) is stopped at the end."""
    made = {"runs": [], "apps": []}
    yield made
    runs = made["runs"] + [a.session_state[k] for a in made["apps"] for k in ("run", "playground_run")
                           if k in a.session_state]
    for run in runs:
        run.stop()
        assert not run.thread_alive


@pytest.fixture
def trained(track):
    def make(d: dict, steps: int) -> Run:
        run = Run(Experiment.from_dict(d))
        run.step(steps)
        track["runs"].append(run)
        return run
    return make


@pytest.fixture
def app(track):
    def make(path: str, **state) -> AppTest:
        at = AppTest.from_file(f"../{path}", default_timeout=TIMEOUT)
        for key, value in state.items():
            at.session_state[key] = value
        track["apps"].append(at)
        return at.run()
    return make


def _arrays(value):
    """Plotly's JSON typed arrays ({"dtype", "bdata", "shape"}) back to numpy, recursively."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    if isinstance(value, dict):
        return {k: _arrays(v) for k, v in value.items()}
    return [_arrays(v) for v in value] if isinstance(value, list) else value


def charts(at: AppTest) -> dict[str, go.Figure]:
    """Plotly figures on the page by title (untitled ones by their position)."""
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    specs += [json.loads(c.proto.json)["figure"] for c in at.get("bidi_component")]  # live charts (ui.live_chart)
    figs = [go.Figure(_arrays(json.loads(spec))) for spec in specs]
    return {f.layout.title.text or f"#{i}": f for i, f in enumerate(figs)}


def test_inspect_without_a_run_points_to_training(app):
    at = app("views/inspect.py")
    assert not at.exception
    assert "Playground" in at.info[0].value and "Train" in at.info[0].value and not at.get("plotly_chart") \
        and not at.get("bidi_component")


def test_inspect_shows_health_histograms_and_gradient_flow(app, trained):
    run = trained({**XOR, "train": {"telemetry_every": 10}}, 75)  # three epochs
    at = app("views/inspect.py", run=run)
    assert not at.exception
    assert "epoch 3 of 100" in at.caption[0].value and "No training problems" in at.success[0].value
    figs = charts(at)
    flow = next(f for f in figs.values() if f.layout.yaxis2.title.text == "update / weight")
    assert {t.name for t in flow.data} == {"dense_0", "dense_1", "output"}
    assert {t.yaxis or "y" for t in flow.data} == {"y", "y2"} and len(flow.data[0].x) == 8  # steps 0, 10, .., 70
    hist = figs["dense_0: weight distribution over time"].data[0]
    assert hist.type == "heatmap" and list(hist.x) == list(range(0, 80, 10 * HIST_EVERY))
    weights = figs["dense_0: weights"].data[0]
    assert weights.z.shape == (8, 2) and list(weights.x) == ["x1", "x2"]  # 8 units x the 2 input features
    assert list(weights.y) == [str(i) for i in range(8)]
    assert at.get("dataframe")  # misclassified points of a flat data set, as a table
    assert "Activations for one test image" not in [h.value for h in at.subheader]  # images only

    at.button_group(key="inspect_kind").set_value("grad").run()
    at.selectbox(key="inspect_layer").select("output").run()
    assert not at.exception
    figs = charts(at)
    assert "output: grad distribution over time" in figs and figs["output: weights"].data[0].z.shape == (1, 8)
    assert list(figs["output: weights"].data[0].x) == [f"dense_1 {j}" for j in range(8)]  # the units before it


def test_inspect_follows_a_run_that_is_training(app, trained):
    run = trained({**XOR, "train": {"epochs": 100_000}}, 30).start()  # far more than the test lasts
    at = app("views/inspect.py", run=run)
    assert not at.exception and at.caption[0].value.startswith("Run running")
    run.stop()
    at.run()
    assert at.caption[0].value.startswith("Run stopped")


def test_inspect_regression_run_has_no_class_views(app, trained):
    at = app("views/inspect.py", run=trained({"data": {"name": "plane"}, "train": {"loss": "mse"}}, 30))
    headers = [h.value for h in at.subheader]
    assert not at.exception and "Gradient flow" in headers and "Confusion matrix" not in headers


def test_inspect_shows_flags_with_their_fix(app, track):
    relu = [{"type": "dense", "units": 8, "activation": "relu"}] * 2
    run = Run(Experiment.from_dict({"data": {"name": "xor"}, "model": {"layers": relu}}))
    track["runs"].append(run)
    with torch.no_grad():
        run.exp.model.dense_0[0].bias.fill_(-10.0)  # every unit of the first layer starts dead
    run.step(60)
    at = app("views/inspect.py", run=run)
    assert "Dead ReLUs" in at.error[0].value and "dense_0: 100%" in at.error[0].value
    assert "Try:" in at.error[0].value and "leaky_relu" in at.error[0].value


def test_inspect_image_run_shows_filters_activation_maps_and_confusion(app, trained):
    at = app("views/inspect.py", run=trained(DIGITS_CONV, 60))
    assert not at.exception
    figs = charts(at)
    assert figs["conv2d_0: 4 filters"].data[0].z.shape == (7, 7)      # 2x2 grid of 3x3 kernels, 1-pixel gaps
    assert figs["test image 0"].data[0].z.shape == (8, 8)
    assert figs["conv2d_0: 4 activation maps"].data[0].z.shape == (17, 17)  # 2x2 grid of 8x8 maps
    confusion = next(f for f in figs.values() if f.layout.xaxis.title.text == "predicted")
    n_test = len(at.session_state["run"].exp.data.y_test)
    assert list(confusion.data[0].x) == [str(d) for d in range(10)] and confusion.data[0].z.sum() == n_test
    labels = [a.text for f in figs.values() for a in f.layout.annotations]
    assert any(text.startswith("test #") and "→" in text for text in labels)  # the misclassified grid

    at.number_input(key="inspect_image").set_value(3).run()
    at.selectbox(key="inspect_block").select("maxpool2d_1").run()
    assert not at.exception
    assert {"test image 3", "maxpool2d_1: 4 activation maps"} <= set(charts(at))
    assert at.selectbox(key="inspect_block").options == ["conv2d_0", "maxpool2d_1", "flatten_2"]
    at.selectbox(key="inspect_block").select("flatten_2").run()
    assert charts(at)["flatten_2: 64 unit activations"].data[0].z.shape == (39, 39)  # 8x8 squares of 4, 1 apart


def finished(name: str, lr: float, epochs: int = 2) -> FinishedRun:
    exp = Experiment.from_dict({**XOR, "train": {"lr": lr}})
    exp.fit(epochs)
    return FinishedRun(name, exp.spec, exp.history_frame(), "stopped")


def test_compare_without_runs_says_how_to_get_some(app):
    at = app("views/compare.py")
    assert not at.exception and "No runs to compare" in at.info[0].value


def test_compare_two_finished_runs_and_the_current_one(app, trained):
    at = app("views/compare.py", finished_runs=[finished("run 1", 0.03), finished("run 2", 0.1, epochs=3)],
             run=trained(XOR, 25))
    assert not at.exception
    runs = at.multiselect(key="compare_runs")
    assert runs.value == ["run 1", "run 2", "current run"]
    # named by what differs; run 1 and the current run have the same settings, so they keep their names
    assert [runs.format_func(name) for name in runs.value] == ["run 1", "lr 0.1", "current run"]
    diff, metrics = (d.value for d in at.dataframe)
    assert list(diff.index) == ["train.lr"] and diff.loc["train.lr"].tolist() == ["0.03", "0.1", "0.03"]
    assert list(diff.columns) == ["run 1", "lr 0.1", "current run"]
    assert metrics["epoch"].tolist() == [2, 3, 1] and metrics["state"].tolist() == ["stopped", "stopped", "paused"]
    figures = charts(at)
    loss, accuracy = (next(f for f in figures.values() if f.layout.yaxis.title.text.startswith(m))
                      for m in ("loss", "accuracy"))
    assert [t.name for t in loss.data if t.showlegend] == ["run 1", "lr 0.1", "current run"]
    assert list(accuracy.data[2].y) == finished("run 2", 0.1, epochs=3).history["test_accuracy"].tolist()
    assert loss.layout.yaxis.type != "log"
    at.toggle(key="compare_log").set_value(True).run()
    loss = next(f for f in charts(at).values() if f.layout.yaxis.title.text.startswith("loss"))
    assert loss.layout.yaxis.type == "log"
    assert at.get("download_button")[0].proto.label.startswith("Download these runs' metrics")

    at.multiselect(key="compare_runs").set_value(["run 1"]).run()
    assert not at.exception and len(at.dataframe) == 1 and "two or more" in at.caption[0].value


# --- sharing -------------------------------------------------------------------------------------------

def share_app():
    from ui.share import apply_share_link, share_controls

    apply_share_link()
    share_controls()


@pytest.fixture
def share(track):
    def make(token: str | None = None, **state) -> AppTest:
        at = AppTest.from_function(share_app, default_timeout=TIMEOUT)
        if token is not None:
            at.query_params[SHARE_PARAM] = token
        for key, value in state.items():
            at.session_state[key] = value
        track["apps"].append(at)
        return at.run()
    return make


def pack(d: dict) -> str:
    """A share token for any JSON document (the app only makes them from valid specs)."""
    return base64.urlsafe_b64encode(zlib.compress(json.dumps(d).encode())).decode().rstrip("=")


SPEC = ExperimentSpec.from_dict({**XOR, "train": {"lr": 0.1, "optimizer": "adam"}})


def test_share_token_round_trip_and_bounds():
    assert decode_spec(encode_spec(SPEC)) == SPEC
    assert len(encode_spec(SPEC)) < 600
    for bad in ("", "%%%", encode_spec(SPEC)[:-12], "x" * (MAX_LINK_CHARS + 1),
                pack({"x": " " * 2_000_000})):  # the last inflates past the size bound
        with pytest.raises(SpecError) as e:
            decode_spec(bad)
        assert e.value.field == "experiment"
    with pytest.raises(SpecError) as e:
        decode_spec(pack({"train": {"lr": -1}}))
    assert e.value.field == "train.lr"


def test_a_valid_link_loads_its_experiment(share):
    at = share(encode_spec(SPEC))
    assert not at.exception and not at.warning
    assert at.session_state["spec"] == SPEC and "Loaded the experiment" in at.toast[0].value


@pytest.mark.parametrize("token, names", [("garbled-!!", "damaged"), (pack({"train": {"lr": -1}}), "train.lr")])
def test_a_bad_link_warns_and_keeps_the_defaults(share, token, names):
    at = share(token)
    assert not at.exception
    assert names in at.warning[0].value and at.session_state["spec"] == ExperimentSpec()
    assert decode_spec(at.query_params[SHARE_PARAM]) == ExperimentSpec()  # the address bar shows what is loaded


def test_the_address_bar_follows_the_experiment(share):
    at = share(spec=SPEC)
    assert decode_spec(at.query_params[SHARE_PARAM]) == SPEC


def test_uploading_a_bad_spec_names_the_field_and_changes_nothing(share):
    at = share(spec=SPEC)
    at.file_uploader(key="share_upload_json").set_value(("bad.json", b'{"train": {"lr": -1}}', "application/json"))
    at.run()
    assert not at.exception and "train.lr" in at.error[0].value and "bad.json" in at.error[0].value
    assert at.session_state["spec"] == SPEC

    good = ExperimentSpec.from_dict({"data": {"name": "circle"}, "seed": 3})
    at.file_uploader(key="share_upload_json").set_value(("good.json", good.to_json().encode(), "application/json"))
    at.run()
    assert not at.exception and at.session_state["spec"] == good and "good.json" in at.success[0].value


def test_export_code_and_json_download(share):
    at = share(spec=SPEC)
    code = [c.value for c in at.code]
    assert any("import torch" in c and "Adam" in c for c in code)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download experiment (JSON)", "Download train_script.py",
                      "Download notebook (.ipynb)"]  # no run yet: no checkpoint


def test_checkpoint_download_and_upload(share, trained):
    source = trained(XOR, 50)
    at = share(run=trained(XOR, 5))
    assert "Download checkpoint (.safetensors)" in [b.proto.label for b in at.get("download_button")]

    binary = "application/octet-stream"
    at.file_uploader(key="share_upload_ckpt").set_value(("pickle.safetensors", b"\x80\x04junk", binary))
    at.run()
    assert "not a safetensors checkpoint" in at.error[0].value and at.session_state["run"].exp.step_count == 5

    at.file_uploader(key="share_upload_ckpt").set_value(("model.safetensors", checkpoint_bytes(source.exp), binary))
    at.run()
    loaded = at.session_state["run"].exp.model.state_dict()
    assert not at.exception and "model.safetensors" in at.success[0].value
    assert all(torch.equal(t, loaded[k]) for k, t in source.exp.model.state_dict().items())
    assert at.session_state["finished_runs"][-1].name == "run 1"  # the replaced run is kept for Compare


def test_the_app_loads_a_shared_link_into_the_page_it_opens(track):
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    track["apps"].append(at)
    at.query_params[SHARE_PARAM] = encode_spec(ExperimentSpec.from_dict({"data": {"name": "gauss"}}))
    at.run()
    assert not at.exception and at.session_state["playground_spec"].data.name == "gauss"


def test_a_stale_token_in_a_later_run_never_undoes_the_users_settings(share):
    """Quick clicks: a rerun may arrive with the token the session wrote one change earlier."""
    at = share(spec=SPEC)
    older = at.query_params[SHARE_PARAM]
    newer = SPEC.replace(seed=SPEC.seed + 1)
    at.session_state["spec"] = newer          # the user's next change
    at.query_params[SHARE_PARAM] = older       # ...and a rerun that still carries the older address
    at.run()
    assert not at.exception and not at.toast
    assert at.session_state["spec"] == newer and decode_spec(at.query_params[SHARE_PARAM]) == newer
