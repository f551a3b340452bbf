"""Playground, Build and Train pages under AppTest: widgets -> spec -> run -> charts, and bad input.

Runs train in their background threads as in the app; a test waits for the progress it needs (with a
generous timeout, never asserting how long it took) and the `app` fixture stops every run afterwards.
"""
import base64
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from playground import DataSpec, ExperimentSpec, ModelSpec, TrainSpec
from playground.data import DataError, images
from playground.play_settings import PlaySettings
from ui import build
from ui.share import encode_spec

ROOT = Path(__file__).resolve().parent.parent
RUN_KEYS = ("run", "playground_run")


@pytest.fixture
def app():
    """Open a page of the app (path from the repo root) under AppTest; stops its Run threads at the end."""
    opened = []

    def open_page(path: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).switch_page(path)
        opened.append(at)
        return at

    yield open_page
    for at in opened:
        for key in RUN_KEYS:
            if key in at.session_state:
                at.session_state[key].stop()
                assert not at.session_state[key].thread_alive


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the run did not get there in time"
        time.sleep(0.05)


def _decode(value):
    """Plotly's JSON with its typed arrays ({"dtype", "bdata"[, "shape"]}) turned back into numpy arrays."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return array.reshape([int(n) for n in str(value["shape"]).split(",")]) if "shape" in value else array
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def chart(at: AppTest, key: str) -> dict:
    """The figure of the chart drawn with `key` (st.plotly_chart, or a live chart: ui.live_chart), as the
    browser receives it."""
    static = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key)]
    if static:
        (element,) = static
        return _decode(json.loads(element.proto.spec))
    (element,) = [c for c in at.get("bidi_component") if c.proto.id.endswith(key)]
    assert element.proto.component_name == "playground_live_chart"
    return _decode(json.loads(json.loads(element.proto.json)["figure"]))


def trace(figure: dict, name: str) -> dict:
    (found,) = [t for t in figure["data"] if t.get("name") == name]
    return found


def epoch_shown(at: AppTest) -> int:
    (metric,) = [m for m in at.metric if m.label == "Epoch"]
    return int(metric.value.replace(",", ""))


# --- Playground -------------------------------------------------------------------------------------

def test_playground_opens_ready_to_train_with_diagram_map_and_thumbnails(app):
    at = app("views/play.py").run()
    assert not at.exception
    run = at.session_state["playground_run"]
    assert run.state == "ready" and run.exp.spec.data.name == "circle"
    assert epoch_shown(at) == 0 and at.button(key="pg_play").label == "Play"
    diagram = chart(at, "pg_diagram")
    assert len(diagram["layout"]["images"]) == 2 + 4 + 2 + 1  # a map per node: inputs, 4 and 2 units, output
    assert len(trace(chart(at, "pg_boundary"), "train")["x"]) == 250       # the training half of 500 points
    names = list(at.radio(key="playground:data.name").options)
    thumbnails = chart(at, "pg_thumbnails")["layout"]
    assert [a["text"] for a in thumbnails["annotations"]] == names[:-1]              # all but drawing your own
    assert len(thumbnails["images"]) == len(names) - 1                              # each set drawn as an image
    assert names[-1] == "points: draw your own"


def test_playground_play_trains_live_and_pause_stops_at_once(app):
    at = app("views/play.py").run()
    at.radio(key="playground:data.name").set_value("xor").run()
    at.select_slider(key="playground:train.lr").set_value(0.1).run()
    at.button(key="pg_play").click().run()
    run = at.session_state["playground_run"]
    assert run.state == "running" and run.exp.spec.data.name == "xor" and run.exp.spec.train.lr == 0.1
    assert at.button(key="pg_play").label == "Pause"
    wait_for(lambda: run.snapshot().epoch >= 3)
    at.button(key="pg_play").click().run()
    assert run.state == "paused"
    epochs = run.snapshot().epoch
    assert epoch_shown(at) == epochs >= 3
    loss = chart(at, "pg_loss")
    assert len(trace(loss, "train loss")["x"]) == epochs
    assert len(trace(loss, "batch loss")["y"]) >= min(run.snapshot().step, 500)  # long curves are thinned
    assert any(re.match(r"Test loss \*\*\d\.\d{3}\*\* · Training loss \*\*\d\.\d{3}", m.value) for m in at.markdown)


def test_playground_speed_paces_the_run_and_max_lets_it_go(app):
    at = app("views/play.py").run()
    run = at.session_state["playground_run"]
    assert at.select_slider(key="pg_speed").value == "10" and run.pace == 10.0   # watch it learn, as TF Playground
    at.select_slider(key="pg_speed").set_value("max").run()
    assert run.pace is None
    at.button(key="pg_reset").click().run()                  # a new run keeps the chosen speed
    assert at.session_state["playground_run"] is not run and at.session_state["playground_run"].pace is None


def test_playground_step_trains_one_epoch_and_reset_archives_and_stops_the_thread(app):
    at = app("views/play.py").run()
    at.radio(key="playground:data.name").set_value("xor").run()
    at.button(key="pg_step").click().run()
    assert epoch_shown(at) == 1
    old = at.session_state["playground_run"]
    old.start()
    wait_for(lambda: old.snapshot().epoch >= 2)
    revision = chart(at, "pg_loss")["layout"]["uirevision"]
    at.button(key="pg_reset").click().run()
    assert not old.thread_alive and old.state == "stopped"
    assert chart(at, "pg_loss")["layout"]["uirevision"] != revision   # not drawn in the old run's axes
    new = at.session_state["playground_run"]
    assert new is not old and new.state == "ready" and epoch_shown(at) == 0
    assert new.exp.spec.replace(init_seed=None) == old.exp.spec  # same settings, fresh run, new weights:
    assert new.exp.spec.init_seed is not None                      # their seed is in the spec (and the link)
    w_old, w_new = (r.exp.model.dense_0[0].weight for r in (old, new))
    assert not torch.equal(w_old, w_new)
    (epoch_metric,) = [m for m in at.metric if m.label == "Epoch"]
    assert f"weights seed {new.exp.spec.init_seed}" in epoch_metric.help   # shown with the epoch
    (archived,) = at.session_state["finished_runs"]
    assert archived.spec.data.name == "xor" and len(archived.history) >= 2

    before = {k: v.clone() for k, v in new.exp.model.state_dict().items()}
    new.step(5)
    at.button(key="pg_restart").click().run()                  # the same starting weights again
    again = at.session_state["playground_run"]
    assert again is not new and again.exp.spec == new.exp.spec and again.snapshot().step == 0
    assert all(torch.equal(before[k], v) for k, v in again.exp.model.state_dict().items())


def test_playground_plus_and_minus_buttons_shape_the_network_and_the_init_select_sets_its_weights(app):
    at = app("views/play.py").run()
    layers = lambda: [l.units for l in at.session_state["playground_spec"].model.layers]  # noqa: E731
    assert layers() == [4, 2]
    at.button(key="pg_units_1_plus").click().run()
    at.button(key="pg_units_0_minus").click().run()
    assert layers() == [3, 3] and at.session_state["playground_run"].exp.spec.model.layers[1].units == 3
    at.button(key="pg_layers_minus").click().run()
    assert layers() == [3] and at.button(key="pg_units_0_plus").disabled is False
    for _ in range(2):
        at.button(key="pg_units_0_minus").click().run()
    assert layers() == [1] and at.button(key="pg_units_0_minus").disabled  # one neuron at least
    at.button(key="pg_layers_minus").click().run()
    assert layers() == [] and at.button(key="pg_layers_minus").disabled
    at.button(key="pg_layers_plus").click().run()
    assert layers() == [4] and not at.exception
    at.selectbox(key="playground:model.init").select("zeros").run()
    run = at.session_state["playground_run"]
    assert run.exp.spec.model.init == "zeros"
    assert all(int((p != 0).sum()) == 0 for p in run.exp.model.parameters())  # zeros are zeros


def test_playground_activation_per_layer(app):
    at = app("views/play.py").run()
    assert not at.selectbox(key="playground:activation").disabled
    at.checkbox(key="pg_per_layer").check().run()
    assert at.selectbox(key="playground:activation").disabled  # each layer has its own now
    at.selectbox(key="playground:model.layers[1].activation").select("relu").run()
    layers = at.session_state["playground_run"].exp.spec.model.layers
    assert [l.activation for l in layers] == ["tanh", "relu"] and not at.exception
    at.checkbox(key="pg_per_layer").uncheck().run()
    assert [l.activation for l in at.session_state["playground_run"].exp.spec.model.layers] == ["tanh", "tanh"]


def test_playground_changing_a_setting_starts_a_new_run_and_keeps_the_settings(app):
    at = app("views/play.py").run()
    at.radio(key="playground:data.name").set_value("spiral").run()
    at.button(key="pg_step").click().run()
    first = at.session_state["playground_run"]
    at.slider(key="playground:data.noise_percent").set_value(20).run()
    at.checkbox(key="playground:data.features.sin_x1").check().run()
    at.button(key="pg_layers_plus").click().run()                # TF Playground's + beside "hidden layers"
    run = at.session_state["playground_run"]
    assert run is not first and run.state == "ready"
    data, layers = run.exp.spec.data, run.exp.spec.model.layers
    assert (data.name, data.noise, data.features) == ("spiral", 0.2, ("x1", "x2", "sin_x1"))
    assert [l.units for l in layers] == [4, 2, 4] and {l.activation for l in layers} == {"tanh"}
    assert len(at.session_state["finished_runs"]) == 1        # the trained one is kept; untrained ones are not
    assert at.radio(key="playground:data.name").value == "spiral"


def test_playground_with_no_feature_warns_and_keeps_the_last_network(app):
    at = app("views/play.py").run()
    at.checkbox(key="playground:data.features.x1").uncheck().run()
    run = at.session_state["playground_run"]
    assert run.exp.spec.data.features == ("x2",)
    at.checkbox(key="playground:data.features.x2").uncheck().run()
    assert not at.exception and "Pick at least one input feature" in at.warning[0].value
    assert at.session_state["playground_run"] is run
    assert not at.checkbox(key="playground:data.features.x2").value   # what the user set is what they see


def test_playground_regression_set_uses_mse_and_says_so(app):
    at = app("views/play.py").run()
    at.radio(key="playground:data.name").set_value("plane").run()
    assert any("regression" in m.value for m in at.sidebar.markdown)
    at.button(key="pg_step").click().run()
    run = at.session_state["playground_run"]
    assert run.exp.spec.train.loss == "mse" and run.snapshot().history["train_accuracy"].isna().all()
    assert at.checkbox(key="pg_discretize").disabled


def test_playground_diverged_run_says_so_and_reset_starts_over(app):
    at = app("views/play.py").run()
    at.radio(key="playground:data.name").set_value("plane").run()
    at.select_slider(key="playground:train.lr").set_value(10.0).run()
    at.button(key="pg_play").click().run()
    run = at.session_state["playground_run"]
    assert run.wait(60) and run.state == "diverged"
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("Diverged: the loss became")
    assert at.button(key="pg_play").disabled and at.button(key="pg_step").disabled
    at.button(key="pg_reset").click().run()
    assert at.session_state["playground_run"].state == "ready" and not at.button(key="pg_play").disabled


# --- Build ------------------------------------------------------------------------------------------

def test_build_flat_data_shows_summary_and_the_spec_train_will_use(app):
    at = app("views/build.py").run()
    assert not at.exception and not at.error
    summary = at.dataframe[0].value
    assert list(summary["layer"]) == ["input", "dense_0", "dense_1", "output"]
    assert list(summary["params"]) == [0, 2 * 8 + 8, 8 * 8 + 8, 8 + 1]


def test_build_conv_on_flat_data_names_the_layer_and_keeps_the_stack(app):
    at = app("views/build.py").run()
    spec_before = at.session_state["spec"]
    at.selectbox(key="build_add_type").set_value("conv2d").run()
    at.button(key="build_add").click().run()
    assert not at.exception
    assert "**Layer 2**: conv2d needs image input, but each example of this dataset is a flat vector" \
        in at.error[0].value
    assert [l["type"] for l in at.session_state["main:layers"]] == ["dense", "dense", "conv2d"]
    assert at.session_state["spec"] == spec_before            # Train keeps the last valid network

    at.selectbox(key="main:data.name").set_value("digits").run()
    assert "**Layer 2**" in at.error[0].value                  # the dense layers flatten the images first
    conv_id = at.session_state["main:layers"][2]["id"]
    at.button(key=f"build_{conv_id}_up").click().run()
    at.button(key=f"build_{conv_id}_up").click().run()
    assert not at.error
    summary = at.dataframe[0].value
    assert list(summary["layer"][:3]) == ["input", "conv2d_0", "flatten_1"]
    assert list(summary["output shape"][:2]) == ["(1, 8, 8)", "(16, 8, 8)"]
    spec = at.session_state["spec"]
    assert spec.data.name == "digits" and spec.model.layers[0].type == "conv2d"
    assert spec.train.loss == "cross_entropy"                   # bce was the toy set's; digits has 10 classes


def test_build_layer_params_come_from_the_registry_and_removing_keeps_the_others(app):
    at = app("views/build.py").run()
    at.selectbox(key="build_add_type").set_value("dropout").run()
    at.button(key="build_add").click().run()
    dropout_id = at.session_state["main:layers"][2]["id"]
    at.number_input(key=f"main:layer{dropout_id}.rate").set_value(0.3).run()
    first_id = at.session_state["main:layers"][0]["id"]
    at.number_input(key=f"main:layer{first_id}.units").set_value(5).run()
    at.button(key=f"build_{first_id}_remove").click().run()
    layers = at.session_state["spec"].model.layers
    assert [(l.type, l.units, l.rate) for l in layers] == [("dense", 8, None), ("dropout", None, 0.3)]


def test_build_regression_data_switches_a_classification_loss(app):
    at = app("views/build.py").run()
    at.selectbox(key="main:data.name").set_value("linear").run()
    assert at.session_state["spec"].train.loss == "mse"


def test_build_image_set_not_downloaded_says_what_to_do(app, tmp_path, monkeypatch):
    monkeypatch.setenv(images.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(images, "can_reach", lambda url, timeout=0: False)
    build.data_info.clear()
    at = app("views/build.py").run()
    at.selectbox(key="main:data.name").set_value("mnist").run()
    assert "needs download" in at.info[0].value and "digits" in at.info[0].value
    at.button(key="build_download").click().run()
    assert not at.exception
    assert "cannot reach" in at.error[0].value and "digits" in at.error[0].value
    assert len(at.session_state["main:layers"]) == 2


CSV = b"a,b,label\n" + b"".join(f"{i % 7},{(i * 3) % 5},{'yes' if i % 2 else 'no'}\n".encode() for i in range(40))


def test_build_csv_upload_trains_on_the_chosen_target(app):
    at = app("views/build.py").run()
    at.selectbox(key="main:data.name").set_value("csv").run()
    assert "Upload a CSV" in at.info[0].value
    at.file_uploader(key="build_csv_upload").set_value(("table.csv", CSV, "text/csv")).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="main:data.target").value == "label"
    spec = at.session_state["spec"]
    assert spec.data.name == "csv" and spec.data.target == "label" and Path(spec.data.path).read_bytes() == CSV
    summary = at.dataframe[0].value
    assert summary["output shape"].iloc[0] == "(2)" and summary["output shape"].iloc[-1] == "(1)"


def test_build_another_csv_offers_its_own_columns(app):
    at = app("views/build.py").run()
    at.selectbox(key="main:data.name").set_value("csv").run()
    at.file_uploader(key="build_csv_upload").set_value(("table.csv", CSV, "text/csv")).run()
    other = b"u,v,w\n" + b"".join(f"{i},{i % 3},{i * 0.5}\n".encode() for i in range(30))
    at.file_uploader(key="build_csv_upload").set_value(("other.csv", other, "text/csv")).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="main:data.target").options == ["u", "v", "w"]
    assert at.session_state["spec"].data.target == "w" and Path(at.session_state["spec"].data.path).read_bytes() == other


def test_build_csv_with_a_text_feature_names_the_cell(app):
    at = app("views/build.py").run()
    at.selectbox(key="main:data.name").set_value("csv").run()
    at.file_uploader(key="build_csv_upload").set_value(("bad.csv", CSV, "text/csv")).run()
    at.selectbox(key="main:data.target").set_value("a").run()
    assert "column 'label': row 2 has 'no'" in at.error[0].value
    assert at.session_state["spec"].data.target == "label"     # the last valid choice is what Train uses


def test_save_upload_names_by_content_and_replaces_the_previous_file(tmp_path):
    first = build.save_upload(b"x,y\n1,2\n", tmp_path)
    assert build.save_upload(b"x,y\n1,2\n", tmp_path) == first
    second = build.save_upload(b"x,y\n3,4\n", tmp_path)
    assert second != first and not first.exists() and second.read_bytes() == b"x,y\n3,4\n"
    with pytest.raises(DataError, match="limit"):
        build.save_upload(b"0" * (build.MAX_CSV_BYTES + 1), tmp_path)


# --- Train ------------------------------------------------------------------------------------------

def train_page(app, **train) -> AppTest:
    at = app("views/train.py")
    at.session_state["spec"] = ExperimentSpec(
        data=DataSpec("xor", n_samples=200), model=ModelSpec.from_dict({"layers": [
            {"type": "dense", "units": 6, "activation": "tanh"}]}), train=TrainSpec(**train))
    return at.run()


def test_train_start_runs_to_finished_with_curves_and_progress(app):
    at = train_page(app, epochs=50)
    at.number_input(key="main:train.epochs").set_value(4).run()
    at.button(key="train_start").click().run()
    run = at.session_state["run"]
    assert run.exp.spec.train.epochs == 4
    assert run.wait(60)
    at.run()
    assert not at.exception
    assert at.success[0].value == "Done: finished 4 epochs."
    assert at.get("progress")[0].value == 100
    figure = chart(at, "train_loss_chart")
    assert list(trace(figure, "train loss")["x"]) == [1, 2, 3, 4]
    assert len(trace(figure, "batch loss")["y"]) == run.snapshot().step
    assert trace(chart(at, "train_accuracy_chart"), "test accuracy")["y"][-1] > 0


def test_train_pause_resume_stop_act_at_once(app):
    at = train_page(app, epochs=100_000)
    at.button(key="train_start").click().run()
    run = at.session_state["run"]
    wait_for(lambda: run.snapshot().step > 0)
    at.button(key="train_pause").click().run()
    assert run.state == "paused" and at.button(key="train_resume").disabled is False
    at.button(key="train_resume").click().run()
    assert run.state == "running"
    at.button(key="train_stop").click().run()
    assert run.state == "stopped" and not run.thread_alive
    assert "Stopped at epoch" in at.warning[0].value


def test_train_step_takes_one_step(app):
    at = train_page(app)
    at.button(key="train_step").click().run()
    run = at.session_state["run"]
    assert run.snapshot().step == 1 and run.state == "paused" and not run.thread_alive


def test_train_unavailable_device_is_a_clear_error(app):
    missing = [d for d, ok in (("mps", torch.backends.mps.is_available()), ("cuda", torch.cuda.is_available()))
               if not ok]
    if not missing:
        pytest.skip("this machine has both cuda and mps")
    at = train_page(app)
    at.selectbox(key="main:train.device").set_value(missing[0]).run()
    at.button(key="train_start").click().run()
    assert not at.exception
    assert f"train.device: {missing[0]} was asked for but this machine has none" in at.error[0].value
    assert "run" not in at.session_state


def test_train_invalid_combination_names_the_field_and_disables_start(app):
    at = train_page(app)
    at.checkbox(key="main:train.nesterov").check().run()
    assert "**Nesterov momentum** needs optimizer sgd with momentum > 0" in at.error[0].value
    assert at.button(key="train_start").disabled
    at.number_input(key="main:train.momentum").set_value(0.9).run()
    assert not at.error and at.session_state["spec"].train.nesterov


def test_train_divergence_shows_the_engine_message(app):
    at = app("views/train.py")
    at.session_state["spec"] = ExperimentSpec(data=DataSpec("linear", n_samples=100),
                                              train=TrainSpec(loss="mse", lr=10.0, epochs=20))
    at.run()
    at.button(key="train_start").click().run()
    run = at.session_state["run"]
    assert run.wait(60)
    at.run()
    assert run.state == "diverged" and at.error[0].value.startswith("Diverged: the loss became")


# --- the app ----------------------------------------------------------------------------------------

def test_app_opens_on_the_playground_and_reaches_build_and_train():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception and "playground_run" in at.session_state
    for page in ("views/build.py", "views/train.py", "views/play.py"):
        at.switch_page(page).run()
        assert not at.exception, page


def test_playground_settings_and_run_survive_a_visit_to_another_page(app):
    at = app("views/play.py").run()
    at.radio(key="playground:data.name").set_value("gauss").run()
    at.slider(key="playground:data.train_percent").set_value(70).run()
    at.select_slider(key="playground:train.lr").set_value(0.3).run()
    at.button(key="pg_step").click().run()
    run = at.session_state["playground_run"]
    at.switch_page("views/build.py").run()
    at.switch_page("views/play.py").run()
    assert not at.exception
    assert at.session_state["playground_run"] is run and epoch_shown(at) == 1
    assert at.radio(key="playground:data.name").value == "gauss"
    assert at.slider(key="playground:data.train_percent").value == 70
    assert at.select_slider(key="playground:train.lr").value == 0.3


def test_playground_draws_its_own_data_from_the_set_on_screen_and_trains_on_it(app):
    at = app("views/play.py").run()
    at.radio(key="playground:data.name").set_value("points").run()
    assert not at.exception
    board = at.session_state["playground:board"]
    assert len(board) == 500 and {p[2] for p in board} == {0, 1}        # the circle's points, to draw over
    assert "500 of 1,000 points" in [m.value for m in at.markdown]
    run = at.session_state["playground_run"]
    assert run.exp.spec.data.points == board and len(trace(chart(at, "pg_boundary"), "test")["x"]) == 250
    at.button(key="pg_clear").click().run()                             # too few to train: said by the pen
    assert any("at least 3 points" in i.value for i in at.info) and not at.warning
    at.session_state["playground:board"] = ((-3.0, 3.0, 2), (3.0, 3.0, 1), (3.0, -3.0, 0), (-3.0, -3.0, 1))
    at.run()                                                            # what four clicks on the map leave
    run = at.session_state["playground_run"]
    assert run.exp.data.task == "multiclass" and run.exp.spec.train.loss == "cross_entropy"
    assert "Problem type: **classification**" in [m.value for m in at.markdown]
    at.button(key="pg_step").click().run()
    wait_for(lambda: run.snapshot().epoch == 1)


def test_playground_a_clicked_links_weight_is_shown_and_a_typed_one_set_exactly_and_recorded(app):
    at = app("views/play.py").run()
    run = at.session_state["playground_run"]
    weight = run.exp.model.dense_layers()[1].weight
    at.session_state["pg_link"], at.session_state["pg_link_value"] = (1, 1, 3), 0.0   # what a click on it sets
    at.run()
    assert f"**layer 1 unit 4 → layer 2 unit 2** · weight now **{weight[1, 3].item():.3f}**" in [
        m.value for m in at.markdown]
    at.number_input(key="pg_link_value").set_value(-1.234567).run()
    at.button(key="pg_link_set").click().run()
    assert weight[1, 3].item() == torch.tensor(-1.234567).item()          # the model's parameter, exactly
    assert at.session_state["playground_spec"].train.weight_edits[-1].to_dict() == {
        "step": 0, "layer": 1, "unit": 1, "source": 3, "value": -1.234567}
    at.button(key="pg_play").click().run()
    wait_for(lambda: run.snapshot().epoch >= 2)
    at.number_input(key="pg_link_value").set_value(250.0).run()
    at.button(key="pg_link_set").click().run()
    assert any("**New weight** must be a number from -100 to 100" in e.value for e in at.error)
    assert at.session_state["playground_run"] is run and run.state == "running"   # it trained on, edit kept


def test_playground_step_by_step_shows_each_phase_of_one_step_then_takes_it(app):
    at = app("views/play.py").run()
    run = at.session_state["playground_run"]
    at.toggle(key="pg_anatomy").set_value(True).run()
    shown = []
    for _ in range(4):
        at.button(key="pg_anatomy_next").click().run()
        assert not at.exception
        shown.append(next(m.value for m in at.markdown if re.match(r"\*\*\d · ", m.value)))
        diagram = chart(at, "pg_diagram")
        assert run.snapshot().step == (1 if len(shown) == 4 else 0)      # the step is taken at the update only
    assert [text.split("**")[1] for text in shown] == ["1 · Forward pass", "2 · Loss", "3 · Gradients", "4 · Update"]
    assert "output **" in shown[0] and "bce of the 10 outputs" in shown[1]
    assert trace(diagram, "weights")["hovertext"][0].split("<br>")[1].startswith("change ")   # links by change
    assert epoch_shown(at) == 0 and "Paused at epoch 0, step 1." in [c.value for c in at.caption]
    at.button(key="pg_anatomy_next").click().run()                      # and on to the next step's forward pass
    assert "of step 2" in next(m.value for m in at.markdown if m.value.startswith("**1 · Forward pass"))


def opened_with(**query: str) -> AppTest:
    """The app as a session opened from an address with these query parameters (a share link, a lesson's)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for name, value in query.items():
        at.query_params[name] = value
    return at.run()


def test_a_link_to_drawn_data_opens_its_points_on_the_board():
    points = ((-3.0, 3.0, 0.5), (3.0, 3.0, -0.25), (3.0, -3.0, 1.0))
    spec = PlaySettings(dataset="points", points=points).to_spec(ExperimentSpec())
    at = opened_with(exp=encode_spec(spec))
    try:
        assert not at.exception
        assert at.radio(key="playground:data.name").value == "points"
        assert at.session_state["playground:board"] == points
        assert at.session_state["playground_run"].exp.spec == spec and spec.train.loss == "mse"  # values: regression
        assert "Problem type: **regression**" in [m.value for m in at.markdown]
    finally:
        at.session_state["playground_run"].stop()


def test_share_link_opens_the_playground_with_its_experiment():
    spec = ExperimentSpec(data=DataSpec("xor", noise=0.1, features=("x1", "x2", "x1x2")),
                          model=ModelSpec.from_dict({"layers": [{"type": "dense", "units": 3, "activation": "relu"}]}),
                          train=TrainSpec(lr=0.3, epochs=10_000))
    at = opened_with(exp=encode_spec(spec))
    try:
        assert not at.exception
        assert at.radio(key="playground:data.name").value == "xor"
        assert "**3**" in [m.value for m in at.markdown]  # layer 1's neuron count, between its - and +
        assert at.session_state["playground_run"].exp.spec == spec
    finally:
        at.session_state["playground_run"].stop()


def test_a_click_that_reaches_the_server_twice_acts_once(monkeypatch):
    """Streamlit 1.67 now and then runs a button's callback twice for one click (seen in Chromium while the
    live view reruns): the echo is ignored, and Play/Pause does what its label said, not a toggle."""
    import streamlit as st

    from ui import play, session
    monkeypatch.setattr(st, "session_state", {})
    clock = iter([100.0, 100.01, 100.2, 100.21, 100.22])
    monkeypatch.setattr(session.time, "monotonic", lambda: next(clock))
    calls = []
    click = session.once_a_click("pg_play", calls.append)
    click("pause")
    click("pause")       # 10 ms later, before the click's page run ended: the same click again, an echo
    click("pause")       # 200 ms later: a second click
    session.page_run_done()
    click("pause")       # 10 ms later, but after a page run: a click of its own (as AppTest clicks)
    click("play")        # 10 ms later, no page run between: the button said Play by then, a click of its own
    assert calls == ["pause", "pause", "pause", "play"]

    class Paused:
        state = "paused"
        def pause(self): self.state = "paused"
        def start(self): self.state = "running"
    run = Paused()
    monkeypatch.setattr(session, "current_run", lambda slot=None: run)
    play._play_or_pause("play")
    play._play_or_pause("play")   # an echo that got through still leaves it running, as the user asked
    assert run.state == "running"
