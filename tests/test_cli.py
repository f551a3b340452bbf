"""`python -m playground`: exit codes, messages naming the field, the files `train --out` writes."""
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground import checkpoint
from playground.cli import main
from playground.spec import ExperimentSpec

ROOT = Path(__file__).resolve().parents[1]
REGRESSION = {"data": {"name": "plane", "n_samples": 120}, "model": {"layers": [{"type": "dense", "units": 4}]},
              "train": {"loss": "mse", "epochs": 3, "device": "cpu"}}
CLASSIFICATION = {"data": {"name": "xor", "n_samples": 120}, "train": {"epochs": 20, "device": "cpu"}}
BAD_UNITS = {"model": {"layers": [{"type": "dense", "units": 4}, {"type": "dense", "units": 4},
                                  {"type": "dense", "units": -3}]}}


def write(tmp_path, name: str, document) -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def playground(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "playground", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.slow
def test_validate_accepts_a_good_experiment(tmp_path):
    done = playground("validate", write(tmp_path, "ok.json", REGRESSION), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ok:" in done.stdout and "plane (regression)" in done.stdout and "output" in done.stdout


@pytest.mark.slow
def test_a_bad_field_exits_2_naming_it_without_a_traceback(tmp_path):
    done = playground("train", write(tmp_path, "bad.json", BAD_UNITS), cwd=tmp_path)
    assert done.returncode == 2
    assert "model.layers[2].units: must be a positive integer, got -3" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize("command", ["validate", "train", "export"])
@pytest.mark.parametrize("document,words", [
    (BAD_UNITS, "model.layers[2].units: must be a positive integer"),
    ("{not json", "experiment: is not valid JSON"),
    (None, "experiment: file not found"),
    ({"data": {"name": "plane"}, "train": {"loss": "bce"}}, "train.loss: bce is for classification"),
    ({"data": {"name": "csv", "path": "missing.csv", "target": "y"}}, "CSV file not found: 'missing.csv'"),
    ({"data": {"name": "xor"}, "model": {"layers": [{"type": "conv2d"}]}}, "model.layers[0]: conv2d needs image"),
])
def test_bad_experiments_exit_2_with_the_message(tmp_path, capsys, command, document, words):
    path = tmp_path / "missing.json" if document is None else write(tmp_path, "exp.json", document)
    assert main([command, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err


def test_non_utf8_file_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"seed": "é"}'.encode("latin-1"))
    assert main(["validate", str(path)]) == 2
    assert "not UTF-8" in capsys.readouterr().err


@pytest.mark.slow
def test_train_out_writes_metrics_experiment_and_weights(tmp_path):
    done = playground("train", write(tmp_path, "exp.json", REGRESSION), "--epochs", 4, "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "finished" and summary["epochs"] == 4 and summary["device"] == "cpu"
    assert summary["train_accuracy"] is None and summary["out"] == "run"
    run = tmp_path / "run"
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "step", "train_loss", "test_loss", "train_accuracy", "test_accuracy", "lr",
                             "seconds"]
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]  # --epochs overrides the file's 3
    assert all(r["train_accuracy"] == "" and r["test_accuracy"] == "" for r in rows)  # regression: empty cells
    assert float(rows[-1]["test_loss"]) == summary["test_loss"]
    document = json.loads((run / "experiment.json").read_text())
    assert document["train"]["epochs"] == 4 and document["meta"]["device"] == "cpu"
    loaded = checkpoint.load(run / "model.safetensors")  # the saved weights are the trained ones
    assert loaded.spec == ExperimentSpec.from_dict(document)
    assert loaded.evaluate()[0] == pytest.approx(summary["test_loss"], abs=1e-7)
    assert "epoch 4/4" in done.stderr


def test_train_classification_reports_accuracy_and_some_progress(tmp_path, capsys):
    assert main(["train", str(write(tmp_path, "exp.json", CLASSIFICATION)), "--out", str(tmp_path / "run")]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert 0 <= summary["test_accuracy"] <= 1 and summary["epochs"] == 20
    progress = [line for line in err.splitlines() if line.startswith("epoch ")]
    assert progress[-1].startswith("epoch 20/20") and len(progress) == 10  # every 10 % of the run
    with open(tmp_path / "run" / "metrics.csv", newline="") as f:
        assert all(r["test_accuracy"] != "" for r in csv.DictReader(f))


def test_divergence_exits_3_and_keeps_what_was_recorded(tmp_path, capsys):
    spec = {"data": {"name": "linear", "n_samples": 200}, "train": {"loss": "mse", "lr": 10, "device": "cpu"}}
    assert main(["train", str(write(tmp_path, "exp.json", spec)), "--out", str(tmp_path / "run")]) == 3
    out, err = capsys.readouterr()
    assert "the loss became" in err and json.loads(out.strip().splitlines()[-1])["status"] == "diverged"
    assert (tmp_path / "run" / "metrics.csv").read_text().startswith("epoch,step,train_loss")
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_override_is_validated_like_the_file(tmp_path, capsys):
    assert main(["train", str(write(tmp_path, "exp.json", REGRESSION)), "--epochs", "0"]) == 2
    assert "train.epochs: must be a positive integer, got 0" in capsys.readouterr().err


@pytest.mark.slow
def test_export_writes_a_script_or_prints_it(tmp_path):
    path = write(tmp_path, "exp.json", REGRESSION)
    done = playground("export", path, "-o", "train_script.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    script = (tmp_path / "train_script.py").read_text()
    compile(script, "train_script.py", "exec")
    assert "def main():" in script and "nn.Linear(in_features=2, out_features=4)" in script


def test_export_without_output_prints_the_script(tmp_path, capsys):
    assert main(["export", str(write(tmp_path, "exp.json", REGRESSION))]) == 0
    assert capsys.readouterr().out.startswith('"""Train a 1-layer network on plane (regression).')


def test_export_notebook_writes_a_valid_notebook_with_the_scripts_code(tmp_path, capsys):
    import nbformat

    path = write(tmp_path, "exp.json", REGRESSION)
    assert main(["export", str(path), "--notebook", "-o", str(tmp_path / "train.ipynb")]) == 0
    assert "open it in Jupyter" in capsys.readouterr().err
    notebook = nbformat.read(tmp_path / "train.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    compile(code, "train.ipynb", "exec")
    assert "nn.Linear(in_features=2, out_features=4)" in code and code.rstrip().endswith("figure.show()")


@pytest.mark.slow
def test_datasets_lists_what_is_available(tmp_path):
    done = playground("datasets", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    header, rule, *rows = done.stdout.splitlines()
    assert header.split()[:3] == ["name", "kind", "task"] and set(rule) == {"-", " "}
    names = [line.split()[0] for line in rows]
    assert {"digits", "mnist", "spiral", "csv"} <= set(names)
    assert "works offline" in done.stdout


class _Terminal:
    """stderr as a terminal: what `train` draws its progress bar on."""

    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass

    def isatty(self):
        return True


def test_train_draws_a_progress_bar_on_a_terminal_and_plain_lines_otherwise(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, "exp.json", CLASSIFICATION)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["train", str(path)]) == 0
    assert "20/20 epochs" in terminal.text and "steps/s" in terminal.text and "100%|" in terminal.text
    assert "\r" in terminal.text  # redrawn in place
    json.loads(capsys.readouterr().out.splitlines()[-1])  # the summary is still the last line of stdout

    for args, stream in ((["--quiet"], terminal), ([], io.StringIO())):  # asked for plain lines, or no terminal
        monkeypatch.setattr(sys, "stderr", stream)
        terminal.text = ""
        assert main(["train", str(path), *args]) == 0
        lines = (terminal.text if args else stream.getvalue()).splitlines()
        assert [line.split()[1] for line in lines] == [f"{e}/20" for e in range(2, 21, 2)]  # about ten lines
        assert all("test_accuracy" in line and "steps/s" in line for line in lines)


def test_train_tensorboard_logs_read_back_with_tensorboards_reader(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from playground import telemetry

    spec = {**CLASSIFICATION, "train": {**CLASSIFICATION["train"], "epochs": 4, "telemetry_every": 5}}
    assert main(["train", str(write(tmp_path, "exp.json", spec)), "--tensorboard", str(tmp_path / "tb")]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0, "histograms": 0}).Reload()
    tags = events.Tags()
    steps_per_epoch = summary["steps"] // 4
    epoch_steps = [steps_per_epoch * e for e in range(1, 5)]
    for tag in ("loss/train", "loss/test", "accuracy/train", "accuracy/test", "lr"):
        assert [e.step for e in events.Scalars(tag)] == epoch_steps, tag
    assert events.Scalars("accuracy/test")[-1].value == pytest.approx(summary["test_accuracy"])
    layers = ["dense_0", "dense_1", "output"]
    samples = list(range(0, summary["steps"], 5))
    for stat in ("weight_norm", "grad_norm", "update_ratio"):
        for layer in layers:
            assert [e.step for e in events.Scalars(f"{stat}/{layer}")] == samples, (stat, layer)
    for kind in telemetry.KINDS:
        for layer in layers:
            histograms = events.Histograms(f"{kind}/{layer}")
            assert [h.step for h in histograms] == samples[::telemetry.HIST_EVERY]
            assert len(histograms[0].histogram_value.bucket) == telemetry.HIST_BINS
    assert set(tags["scalars"]) >= {"loss/train", "grad_norm/output"}


def test_train_tensorboard_without_the_package_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    assert main(["train", str(write(tmp_path, "exp.json", REGRESSION)), "--tensorboard", str(tmp_path / "tb")]) == 2
    err = capsys.readouterr().err
    assert "pip install tensorboard" in err and "Traceback" not in err and not (tmp_path / "tb").exists()


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.json")),
                         ids=lambda p: p.name)
def test_every_example_experiment_is_valid(path, capsys):
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"ok: {path}")
