"""Checkpoints: weights round-trip through safetensors; pickles, damaged, foreign and huge files are refused."""
import json
import pickle

import pytest
import torch
from safetensors.torch import save as save_tensors

from playground import checkpoint
from playground.checkpoint import CheckpointError
from playground.spec import ExperimentSpec
from playground.train import Experiment


def make_spec(units: int = 6, layers: int = 1) -> ExperimentSpec:
    stack = [{"type": "dense", "units": units, "activation": "tanh"}, {"type": "batchnorm"}] * layers
    return ExperimentSpec.from_dict({"seed": 2, "data": {"name": "xor", "n_samples": 80},
                                     "model": {"layers": stack}, "train": {"epochs": 3, "device": "cpu"}})


@pytest.fixture(scope="module")
def trained() -> Experiment:
    exp = Experiment(make_spec())
    exp.fit()
    return exp


def assert_same_model(a: Experiment, b: Experiment) -> None:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.evaluate() == b.evaluate()


def test_save_to_a_directory_and_load_it_back(trained, tmp_path):
    weights = checkpoint.save(trained, tmp_path / "run")
    assert weights == tmp_path / "run" / "model.safetensors"
    document = json.loads((tmp_path / "run" / "experiment.json").read_text())
    assert document["meta"]["seed"] == 2 and document["meta"]["torch"] == torch.__version__
    assert ExperimentSpec.from_dict(document) == trained.spec
    loaded = checkpoint.load(tmp_path / "run")  # the directory, or the file itself
    assert_same_model(trained, loaded)
    assert loaded.spec == trained.spec and loaded.status == "ready"
    assert "running_mean" in " ".join(loaded.model.state_dict())  # batchnorm buffers travel too
    assert_same_model(trained, checkpoint.load(weights))


def test_a_safetensors_path_gets_its_json_beside_it(trained, tmp_path):
    weights = checkpoint.save(trained, tmp_path / "mine.safetensors")
    assert weights.is_file() and (tmp_path / "mine.json").is_file()
    assert_same_model(trained, checkpoint.load(weights))


def test_bytes_round_trip_is_the_upload_path(trained):
    data = checkpoint.checkpoint_bytes(trained)
    assert_same_model(trained, checkpoint.load_checkpoint_bytes(data, dataset=trained.data))


class RunsCode:
    """Unpickling this creates `marker`: what a malicious .pt/.pkl file does to whoever loads it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.mark.parametrize("name", ["weights.pt", "weights.pkl", "model.safetensors"])
@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_pickle_payload_is_refused_and_runs_nothing(tmp_path, name, writer):
    marker = tmp_path / "pwned"
    payload = {"dense_0.0.weight": RunsCode(marker)}
    path = tmp_path / name
    if writer == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    with pytest.raises(CheckpointError, match="not a safetensors checkpoint"):
        checkpoint.load(path, spec=make_spec())
    assert not marker.exists()
    pickle.loads(pickle.dumps(payload))["dense_0.0.weight"].close()  # the payload is live: unpickling runs it
    assert marker.exists()


def test_damaged_and_foreign_files_give_clear_errors(trained, tmp_path):
    data = checkpoint.checkpoint_bytes(trained)
    n = int.from_bytes(data[:8], "little")
    header = data[8:8 + n].decode()
    shapes_changed = header.replace("[6,2]", "[9,2]")  # tampered header, same length: data no longer fits
    assert shapes_changed != header
    cases = {
        data[:-16]: "damaged",
        data[:8 + n] + b"\0" * 3: "damaged",
        data[:8] + shapes_changed.encode() + data[8 + n:]: "damaged",
        b"garbage " * 100: "not a safetensors checkpoint",
        b"": "not a safetensors checkpoint",
        (5).to_bytes(8, "little") + b"\xff\xfe{}!": "not a safetensors checkpoint",
    }
    for bad, words in cases.items():
        with pytest.raises(CheckpointError, match=words):
            checkpoint.load_checkpoint_bytes(bad, source="upload.safetensors")


def test_tensor_shapes_are_checked_against_the_spec(trained):
    data = checkpoint.checkpoint_bytes(trained)
    with pytest.raises(CheckpointError, match=r"tensor 'dense_0.0.weight' has shape \(6, 2\) but the model needs "
                                              r"\(4, 2\)"):
        checkpoint.load_checkpoint_bytes(data, spec=make_spec(units=4))
    with pytest.raises(CheckpointError, match=r"missing tensors 'dense_2.0.weight', 'dense_2.0.bias'"):
        checkpoint.load_checkpoint_bytes(data, spec=make_spec(layers=2))


def test_weights_without_an_experiment_need_one(trained):
    bare = save_tensors({k: v.contiguous() for k, v in trained.model.state_dict().items()})
    with pytest.raises(CheckpointError, match="no experiment"):
        checkpoint.load_checkpoint_bytes(bare)
    assert_same_model(trained, checkpoint.load_checkpoint_bytes(bare, spec=trained.spec))


def test_oversized_files_are_refused_before_reading(trained, tmp_path, monkeypatch):
    weights = checkpoint.save(trained, tmp_path)
    monkeypatch.setattr(checkpoint, "MAX_CHECKPOINT_BYTES", weights.stat().st_size - 1)
    monkeypatch.setattr(type(weights), "read_bytes", lambda self: pytest.fail("read an oversized file"))
    with pytest.raises(CheckpointError, match="at most"):
        checkpoint.load(weights)
    with pytest.raises(CheckpointError, match="at most"):
        checkpoint.load_checkpoint_bytes(checkpoint.checkpoint_bytes(trained))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint.load(tmp_path / "nothing.safetensors")
