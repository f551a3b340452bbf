"""The exported script: it runs as is and reproduces Experiment.fit()'s per-epoch losses; every option exports."""
import json
import re
import subprocess
import sys

import pytest
import torch

from playground import registry
from playground.data import load_dataset
from playground.export import export_script, module_code
from playground.layers import LAYERS
from playground.modules import Sine
from playground.spec import DataSpec, ExperimentSpec, LayerSpec, ModelSpec, TrainSpec
from playground.train import Experiment

TOLERANCE = 1e-5
EPOCH_LINE = re.compile(r"^epoch\s+(\d+)\s+train_loss (\S+)\s+test_loss (\S+)", re.M)


def run_script(source: str, tmp_path) -> list[tuple[int, float, float]]:
    """Run the script in a fresh interpreter; (epoch, train_loss, test_loss) for each line it prints."""
    path = tmp_path / "train_script.py"
    path.write_text(source)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return [(int(e), float(a), float(b)) for e, a, b in EPOCH_LINE.findall(done.stdout)]


def assert_same_losses(rows: list[tuple[int, float, float]], history) -> None:
    assert [r[0] for r in rows] == history["epoch"].tolist()
    for (epoch, train_loss, test_loss), (_, row) in zip(rows, history.iterrows()):
        assert abs(train_loss - row.train_loss) <= TOLERANCE, f"epoch {epoch} train loss"
        assert abs(test_loss - row.test_loss) <= TOLERANCE, f"epoch {epoch} test loss"


def assert_reproduces_in_process(spec: ExperimentSpec) -> None:
    """The script's main() run here (fast enough for every combination of options) against Experiment.fit()."""
    namespace = {"__name__": "exported"}
    exec(compile(export_script(spec), "train_script.py", "exec"), namespace)
    threads = torch.get_num_threads()
    try:
        rows = [(r["epoch"], r["train_loss"], r["test_loss"]) for r in namespace["main"]()]
    finally:
        torch.set_num_threads(threads)
    assert_same_losses(rows, Experiment(spec).fit())


def assert_reproduces(spec: ExperimentSpec, tmp_path) -> Experiment:
    exp = Experiment(spec)
    history = exp.fit()
    assert_same_losses(run_script(export_script(spec), tmp_path), history)
    return exp


@pytest.mark.slow
def test_toy_run_with_penalty_schedule_and_early_stopping_is_reproduced(tmp_path):
    spec = ExperimentSpec.from_dict({
        "seed": 3, "data": {"name": "spiral", "n_samples": 200, "noise": 0.1, "features": ["x1", "x2", "sin_x1"]},
        "model": {"layers": [{"type": "dense", "units": 8, "activation": "tanh"},
                             {"type": "dense", "units": 6, "activation": "tanh"}]},
        "train": {"optimizer": "adam", "lr": 0.1, "regularization": "l2", "reg_rate": 0.001, "schedule": "step",
                  "lr_step_size": 3, "epochs": 30, "early_stopping_patience": 2, "device": "cpu"}})
    exp = assert_reproduces(spec, tmp_path)
    assert exp.status == "early_stopped" and exp.epoch < 30  # the script stopped at the same epoch


@pytest.mark.slow
def test_regression_run_with_batchnorm_l1_nesterov_cosine_and_a_skipped_batch_is_reproduced(tmp_path):
    spec = ExperimentSpec.from_dict({
        "data": {"name": "multi_gauss", "n_samples": 150, "noise": 0.2},
        "model": {"layers": [{"type": "dense", "units": 6, "activation": "relu"}, {"type": "batchnorm"},
                             {"type": "dense", "units": 4, "activation": "elu"}]},
        "train": {"loss": "huber", "optimizer": "sgd", "momentum": 0.9, "nesterov": True, "regularization": "l1",
                  "reg_rate": 0.001, "schedule": "cosine", "batch_size": 37, "epochs": 4, "device": "cpu"}})
    exp = assert_reproduces(spec, tmp_path)
    assert len(exp.data.x_train) == 75 and exp.steps_per_epoch == 2  # 37 + 37, the trailing single is skipped


def write_table(path, with_text_column: bool) -> None:
    """61 rows: features of very different scales, a true/false column, a text label, a numeric value."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(61, 3, generator=g) * torch.tensor([1.0, 100.0, 0.01]) + torch.tensor([0.0, 50.0, 3.0])
    rows = [["a", " b", "c", "flag", "kind", "value"]]  # " b": a space after the comma, as people type
    for a, b, c in x.tolist():
        rows.append([f"{a:.6f}", f" {b:.4f}", f"{c:.7g}", "true" if a > 0.3 else "false",
                     ["cat", "dog", "eel"][(a > 0) + (c > 3)], f"{2 * a + c:.5f}"])
    keep = range(6) if with_text_column else (0, 1, 2, 3, 5)  # only the target may hold text
    path.write_text("\n".join(",".join(row[i] for i in keep) for row in rows) + "\n")


@pytest.mark.parametrize("target,loss,task", [("kind", "cross_entropy", "multiclass"), ("flag", "mse", "binary"),
                                              ("value", "mae", "regression")])
@pytest.mark.slow
def test_csv_run_is_reproduced(tmp_path, target, loss, task):
    csv_path = tmp_path / "table.csv"
    write_table(csv_path, with_text_column=target == "kind")
    spec = ExperimentSpec.from_dict({
        "data": {"name": "csv", "path": str(csv_path), "target": target, "test_fraction": 0.3},
        "train": {"loss": loss, "optimizer": "rmsprop", "momentum": 0.5, "lr": 0.01, "batch_size": 8,
                  "epochs": 3, "schedule": "exponential", "device": "cpu"}})
    exp = assert_reproduces(spec, tmp_path)
    assert exp.data.task == task


@pytest.mark.slow
def test_digits_conv_net_with_dropout_and_batchnorm_is_reproduced(tmp_path):
    spec = ExperimentSpec.from_dict({
        "data": {"name": "digits", "max_samples": 200},
        "model": {"layers": [{"type": "conv2d", "filters": 4}, {"type": "batchnorm"}, {"type": "maxpool2d"},
                             {"type": "dropout", "rate": 0.2}, {"type": "dense", "units": 16, "activation": "gelu"}]},
        "train": {"loss": "cross_entropy", "optimizer": "adamw", "weight_decay": 0.01, "lr": 0.01,
                  "batch_size": 32, "epochs": 2, "device": "cpu"}})
    assert_reproduces(spec, tmp_path)
    assert "scikit-learn" in export_script(spec).split('"""')[1]  # the header says what to install


# --- every option exports to code that compiles and builds the same thing -------------------------------

@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataSpec(name="digits", max_samples=50), seed=0)


def _layer_spec(kind: str) -> ExperimentSpec:
    image = kind in ("conv2d", "maxpool2d", "avgpool2d", "flatten")
    layers = [LayerSpec(kind, **LAYERS[kind].params), LayerSpec("dense", units=5, activation="sigmoid")]
    data = DataSpec(name="digits", max_samples=50) if image else DataSpec(name="xor", n_samples=40)
    return ExperimentSpec(data=data, model=ModelSpec(tuple(layers)))


@pytest.mark.parametrize("kind", list(LAYERS))
def test_every_layer_kind_exports_the_same_network(kind, digits):
    spec = _layer_spec(kind)
    data = digits if spec.data.name == "digits" else None
    source = export_script(spec, data)
    namespace = {"__name__": "exported"}
    exec(compile(source, "train_script.py", "exec"), namespace)
    torch.manual_seed(spec.seed)
    exported = namespace["build_model"]()
    exp = Experiment(spec, data)
    mine = [(tuple(t.shape), t) for t in exp.model.state_dict().values()]
    theirs = [(tuple(t.shape), t) for t in exported.state_dict().values()]
    assert [s for s, _ in mine] == [s for s, _ in theirs]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(mine, theirs))  # same modules, same order, same init


@pytest.mark.parametrize("activation", list(registry.ACTIVATIONS))
@pytest.mark.parametrize("optimizer", list(registry.OPTIMIZERS))
def test_every_activation_and_optimizer_exports(activation, optimizer):
    spec = ExperimentSpec.from_dict({"data": {"name": "circle", "n_samples": 40},
                                     "model": {"layers": [{"type": "dense", "units": 3, "activation": activation}]},
                                     "train": {"optimizer": optimizer, "weight_decay": 0.01, "epochs": 2,
                                               "device": "cpu"}})
    assert_reproduces_in_process(spec)


@pytest.mark.parametrize("schedule", list(registry.SCHEDULES))
@pytest.mark.parametrize("loss", registry.LOSSES)
@pytest.mark.parametrize("regularization", registry.REGULARIZATIONS)
def test_every_loss_schedule_and_penalty_exports(schedule, loss, regularization):
    spec = ExperimentSpec.from_dict({"data": {"name": "gauss", "n_samples": 40},
                                     "train": {"loss": loss, "schedule": schedule, "regularization": regularization,
                                               "reg_rate": 0.01, "early_stopping_patience": 1, "lr": 0.3,
                                               "lr_step_size": 1, "epochs": 4, "device": "cpu"}})
    assert_reproduces_in_process(spec)


@pytest.mark.parametrize("name", ["blobs", "spiral3"])
def test_a_multi_class_toy_set_exports_the_same_run(name):
    spec = ExperimentSpec.from_dict({"data": {"name": name, "n_samples": 90, "noise": 0.1},
                                     "model": {"layers": [{"type": "dense", "units": 5}]},
                                     "train": {"loss": "cross_entropy", "epochs": 2, "device": "cpu"}})
    assert_reproduces_in_process(spec)


@pytest.mark.parametrize("labels", [(0, 1, 1), (0, 1, 2), (-0.5, 0.25, 1.0)])   # binary, classes, values
def test_drawn_points_export_the_same_run_and_the_script_carries_them(labels):
    points = [[x, y, labels[(i + j) % 3]] for i, x in enumerate((-4.5, -1.5, 1.5, 4.5))
              for j, y in enumerate((-4.5, -1.5, 1.5, 4.5))]
    loss = {0: "bce", 2: "cross_entropy"}.get(max(labels), "mse")
    spec = ExperimentSpec.from_dict({"data": {"name": "points", "points": points, "features": ["x1", "x2", "x1x2"]},
                                     "model": {"layers": [{"type": "dense", "units": 4}]},
                                     "train": {"loss": loss, "epochs": 3, "device": "cpu"}})
    assert "POINTS = [[-4.5, -4.5," in export_script(spec)
    assert_reproduces_in_process(spec)


@pytest.mark.parametrize("init", list(registry.INITS))
def test_every_initialisation_exports_the_same_run(init):
    spec = ExperimentSpec.from_dict({"data": {"name": "circle", "n_samples": 60},
                                     "model": {"init": init, "layers": [{"type": "dense", "units": 4}]},
                                     "train": {"epochs": 2, "device": "cpu"}})
    assert_reproduces_in_process(spec)


def test_module_code_round_trips_and_drops_defaults():
    modules = [torch.nn.Linear(3, 4), torch.nn.Conv2d(1, 2, 3, stride=2, padding=1), torch.nn.BatchNorm1d(5),
               torch.nn.MaxPool2d(2, 2), torch.nn.Dropout(0.3), torch.nn.LeakyReLU()]
    modules += [cls() for cls in registry.ACTIVATIONS.values()]
    for m in modules:
        code = module_code(m)
        assert repr(eval(code, {"nn": torch.nn, "Sine": Sine})) == repr(m), code
    assert module_code(torch.nn.Linear(3, 4)) == "nn.Linear(in_features=3, out_features=4)"
    assert module_code(torch.nn.BatchNorm2d(6)) == "nn.BatchNorm2d(6)"


@pytest.mark.slow
def test_a_reset_runs_weights_seed_is_reproduced(tmp_path):
    spec = ExperimentSpec.from_dict({"seed": 4, "init_seed": 123456, "data": {"name": "circle", "n_samples": 100},
                                     "model": {"layers": [{"type": "dense", "units": 4, "activation": "tanh"}]},
                                     "train": {"epochs": 3, "device": "cpu"}})
    exp = assert_reproduces(spec, tmp_path)
    same_data = Experiment(spec.replace(init_seed=None))
    assert torch.equal(exp.data.x_train, same_data.data.x_train)  # the data still comes from `seed`
    assert not torch.equal(Experiment(spec).model.output[0].weight, same_data.model.output[0].weight)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", list(registry.OPTIMIZERS))
def test_every_optimizers_script_reproduces_the_engine(tmp_path, optimizer):
    """Not only that the script names the optimizer: it trains to the same losses (a new registry entry is
    exported right without touching export.py)."""
    spec = ExperimentSpec.from_dict({"data": {"name": "xor", "n_samples": 80},
                                     "model": {"layers": [{"type": "dense", "units": 4, "activation": "tanh"}]},
                                     "train": {"optimizer": optimizer, "lr": 0.05, "weight_decay": 0.001,
                                               "momentum": 0.5 if registry.applies("momentum", TrainSpec(
                                                   optimizer=optimizer)) else 0.0, "epochs": 3, "device": "cpu"}})
    assert_reproduces(spec, tmp_path)


def test_a_csv_script_carries_the_engines_own_reader(tmp_path):
    """Copied from the source, so the script cannot read a table differently from the app (a hand-written
    twin once renamed duplicate headers and crashed)."""
    import inspect

    from playground.data import tabular

    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    script = export_script(ExperimentSpec.from_dict({"data": {"name": "csv", "path": str(path), "target": "y"}}))
    for function in (tabular.read_csv_bytes, tabular.dataset_from_frame, tabular._numeric_column, tabular._target):
        assert inspect.getsource(function).strip() in script
    assert "shared_csv_dir" not in script and "load_csv_dataset" not in script  # the app's, not the script's


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom_in_a_fresh_kernel_and_reproduces_the_engine(tmp_path):
    import nbclient
    import nbformat

    from playground.export import export_notebook

    spec = ExperimentSpec.from_dict({"seed": 2, "data": {"name": "circle", "n_samples": 80},
                                     "model": {"layers": [{"type": "dense", "units": 4, "activation": "tanh"}]},
                                     "train": {"optimizer": "adam", "regularization": "l2", "reg_rate": 0.001,
                                               "schedule": "step", "lr_step_size": 2, "epochs": 4, "device": "cpu"}})
    notebook = nbformat.reads(export_notebook(spec), as_version=4)
    nbformat.validate(notebook)
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    rows = [(int(e), float(a), float(b)) for e, a, b in EPOCH_LINE.findall(printed)]
    assert_same_losses(rows, Experiment(spec).fit())
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)  # the loss chart was drawn
    titles = [c.source.splitlines()[0] for c in notebook.cells if c.cell_type == "markdown"]
    assert titles[1:] == ["## The experiment", "## Settings, from the experiment", "## Data",
                          "## Model: the hidden stack, then an output layer sized to the task",
                          "## Loss and evaluation", "## The optimizer and the training loop", "## Train",
                          "## The loss curves"]
    assert json.loads(notebook.cells[2].source.split("```json")[1].split("```")[0]) == spec.to_dict()
