"""The Python API contract of DESIGN.md: names, constructors, fit's columns, the experiment file's keys."""
import json

import pandas as pd
import pytest
from torch import nn

import playground
from playground import DataError, Experiment, ExperimentSpec, Run, Snapshot, SpecError, TrainingDiverged

DESIGN_EXAMPLE = """{
  "seed": 0,
  "data":  {"name": "spiral", "n_samples": 500, "noise": 0.0, "test_fraction": 0.5,
            "features": ["x1", "x2"]},
  "model": {"layers": [
              {"type": "dense", "units": 8, "activation": "tanh"},
              {"type": "dense", "units": 8, "activation": "tanh"}]},
  "train": {"loss": "bce", "optimizer": "sgd", "lr": 0.03, "momentum": 0.0,
            "weight_decay": 0.0, "regularization": "none", "reg_rate": 0.0,
            "batch_size": 10, "epochs": 100, "schedule": "none",
            "early_stopping_patience": null, "device": "auto"}
}"""
METRICS_CSV_COLUMNS = ["epoch", "step", "train_loss", "test_loss", "train_accuracy", "test_accuracy", "lr", "seconds"]


def test_public_names():
    from playground import run, spec, train

    homes = {"Experiment": train, "StepMetrics": train, "TrainingDiverged": train, "Run": run, "Snapshot": run}
    for name in playground.__all__:  # each public name is the engine's own object, not a stand-in
        assert getattr(playground, name) is getattr(homes.get(name, spec), name, None) or name == "DataError"
    assert playground.DataError is playground.data.DataError
    assert issubclass(SpecError, ValueError) and issubclass(DataError, ValueError)
    assert issubclass(TrainingDiverged, RuntimeError)


def test_the_design_example_file_trains(tmp_path):
    path = tmp_path / "experiment.json"
    path.write_text(DESIGN_EXAMPLE)
    exp = Experiment.from_file(path)
    assert exp.spec == ExperimentSpec.from_dict(json.loads(DESIGN_EXAMPLE))
    history = exp.fit(2)
    assert isinstance(history, pd.DataFrame) and list(history.columns) == METRICS_CSV_COLUMNS
    assert history["epoch"].tolist() == [1, 2] and history["step"].tolist() == [25, 50]
    assert isinstance(exp.model, nn.Module) and isinstance(exp.summary(), pd.DataFrame)
    assert exp.summary()["layer"].tolist() == ["input", "dense_0", "dense_1", "output"]


def test_the_package_docstring_example():
    exp = Experiment.from_dict({"data": {"name": "xor"}, "train": {"epochs": 50}})
    history = exp.fit()
    assert len(history) == 50 and exp.status == "finished"
    assert history["test_accuracy"].iloc[-1] > history["test_accuracy"].iloc[0]


def test_an_experiment_file_with_the_engines_meta_key_loads_again(tmp_path):
    exp = Experiment.from_dict({"data": {"name": "xor", "n_samples": 40}, "train": {"epochs": 1}})
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps({**exp.spec.to_dict(), "meta": exp.metadata()}))
    assert Experiment.from_file(path).spec == exp.spec


def test_bad_files_raise_spec_errors(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"model": {"layers": [{"type": "dense", "units": 0}]}}')
    with pytest.raises(SpecError, match=r"^model.layers\[0\].units: must be a positive integer, got 0$"):
        Experiment.from_file(path)


def test_run_surface(make_exp):
    run = Run(make_exp(epochs=1))
    for method in ("start", "pause", "resume", "step", "stop", "wait", "snapshot", "read"):
        assert callable(getattr(run, method))
    run.step(2)
    snap = run.snapshot()
    assert isinstance(snap, Snapshot) and snap.step == 2 and list(snap.history.columns) == METRICS_CSV_COLUMNS
    run.stop()
    assert not run.thread_alive
