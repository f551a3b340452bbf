"""The experiment spec: every kind of bad input names its field; good input round-trips through JSON."""
import json
import re

import pytest

from playground import registry
from playground.data import DATASETS, TOY_FEATURES
from playground.layers import LAYERS
from playground.spec import MAX_SPEC_BYTES, ExperimentSpec, LayerSpec, SpecError, TrainSpec


def raises_at(field: str, d: dict):
    """Assert that from_dict(d) fails on `field`, with the message starting with that path."""
    with pytest.raises(SpecError, match="^" + re.escape(field) + ": ") as info:
        ExperimentSpec.from_dict(d)
    assert info.value.field == field
    return str(info.value)


def stack(*layers: dict) -> dict:
    return {"model": {"layers": list(layers)}}


DENSE = {"type": "dense", "units": 8, "activation": "tanh"}


# --- bad input --------------------------------------------------------------------------------------

def test_negative_units_message_is_exact():
    message = raises_at("model.layers[2].units", stack(DENSE, DENSE, {**DENSE, "units": -3}))
    assert message == "model.layers[2].units: must be a positive integer, got -3"


@pytest.mark.parametrize("d, field", [
    ({"bogus": 1}, "bogus"),
    ({"data": {"bogus": 1}}, "data.bogus"),
    ({"model": {"bogus": 1}}, "model.bogus"),
    ({"train": {"bogus": 1}}, "train.bogus"),
    (stack({**DENSE, "bogus": 1}), "model.layers[0].bogus"),
])
def test_unknown_keys_are_named_and_known_keys_listed(d, field):
    message = raises_at(field, d)
    assert "unknown key; known keys are" in message


@pytest.mark.parametrize("bad", ["lstm", "Dense", None, ["dense"]])
def test_unknown_layer_type_lists_every_kind(bad):
    message = raises_at("model.layers[0].type", stack({"type": bad} if bad is not None else {}))
    assert all(kind in message for kind in LAYERS)


@pytest.mark.parametrize("bad", ["swish", "ReLU", "", 3])
def test_bad_activation_lists_every_activation(bad):
    message = raises_at("model.layers[1].activation", stack(DENSE, {**DENSE, "activation": bad}))
    assert all(name in message for name in registry.ACTIVATIONS)


@pytest.mark.parametrize("kind, param", [(k, p) for k, kind in LAYERS.items() for p in kind.params
                                         if p in ("units", "filters", "kernel_size", "stride")])
@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True])
def test_every_positive_int_layer_param_rejects_bad_values(kind, param, bad):
    message = raises_at(f"model.layers[0].{param}", stack({"type": kind, param: bad}))
    assert message.endswith(f"must be a positive integer, got {bad!r}")


@pytest.mark.parametrize("kind", list(LAYERS))
def test_a_param_the_kind_does_not_take_is_refused(kind):
    foreign = next(p for p in ("units", "filters", "rate") if p not in LAYERS[kind].params)
    message = raises_at(f"model.layers[0].{foreign}", stack({"type": kind, foreign: 1}))
    assert f"{kind} does not take this" in message


@pytest.mark.parametrize("layer, field", [
    ({"type": "conv2d", "padding": -1}, "model.layers[0].padding"),
    ({"type": "dropout", "rate": 1.0}, "model.layers[0].rate"),
    ({"type": "dropout", "rate": -0.1}, "model.layers[0].rate"),
])
def test_other_layer_params_are_range_checked(layer, field):
    raises_at(field, stack(layer))


@pytest.mark.parametrize("key, options", [
    ("loss", registry.LOSSES), ("optimizer", list(registry.OPTIMIZERS)), ("regularization", registry.REGULARIZATIONS),
    ("schedule", list(registry.SCHEDULES)), ("device", registry.DEVICES),
])
def test_unknown_train_choices_list_the_options(key, options):
    message = raises_at(f"train.{key}", {"train": {key: "bogus"}})
    assert all(option in message for option in options)


@pytest.mark.parametrize("key, bad", [
    ("lr", 0), ("lr", -0.1), ("lr", 11), ("lr", float("nan")), ("lr", "0.1"), ("momentum", 1.0),
    ("weight_decay", -1), ("reg_rate", float("inf")), ("batch_size", 0), ("epochs", 1.5), ("lr_step_size", 0),
    ("lr_gamma", 0), ("early_stopping_patience", 0), ("telemetry_every", -1), ("nesterov", "yes"),
])
def test_bad_train_numbers(key, bad):
    raises_at(f"train.{key}", {"train": {key: bad}})


@pytest.mark.parametrize("train", [
    {"nesterov": True},                                            # momentum defaults to 0
    {"nesterov": True, "momentum": 0.9, "optimizer": "adam"},      # nesterov is sgd's
])
def test_nesterov_needs_sgd_with_momentum(train):
    message = raises_at("train.nesterov", {"train": train})
    assert "needs optimizer sgd with momentum > 0" in message


@pytest.mark.parametrize("data, field", [
    ({"name": "half_moons"}, "data.name"),
    ({"n_samples": 3}, "data.n_samples"),
    ({"n_samples": -5}, "data.n_samples"),
    ({"noise": 0.6}, "data.noise"),
    ({"test_fraction": 1.0}, "data.test_fraction"),
    ({"features": "x1"}, "data.features"),
    ({"features": []}, "data.features"),
    ({"features": ["x1", "x3"]}, "data.features[1]"),
    ({"features": ["x1", "x1"]}, "data.features"),
    ({"name": "csv"}, "data.path"),
    ({"name": "csv", "path": "t.csv"}, "data.target"),
    ({"name": "digits", "max_samples": 0}, "data.max_samples"),
])
def test_bad_data(data, field):
    raises_at(field, {"data": data})


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0", 2**64])
def test_bad_seed(seed):
    raises_at("seed", {"seed": seed})


@pytest.mark.parametrize("d, field", [
    ([], "experiment"), ({"data": []}, "data"), ({"model": {"layers": {}}}, "model.layers"),
    (stack(5), "model.layers[0]"), ({"model": {"layers": [DENSE] * 65}}, "model.layers"),
])
def test_wrong_json_types(d, field):
    raises_at(field, d)


@pytest.mark.parametrize("text, says", [
    ('{"seed": 0,}', "is not valid JSON"),
    ("", "is not valid JSON"),
    ("[" * 100_000, "nested too deeply"),
    (" " * (MAX_SPEC_BYTES + 1), "an experiment is at most"),
])
def test_bad_json_text(text, says):
    with pytest.raises(SpecError, match="^experiment: .*" + says):
        ExperimentSpec.from_json(text)


def test_oversized_and_missing_files(tmp_path):
    big = tmp_path / "big.json"
    big.write_text('{"seed": 0}' + " " * MAX_SPEC_BYTES)
    with pytest.raises(SpecError, match=r"^experiment: .* is \d+ bytes; an experiment is at most"):
        ExperimentSpec.from_file(big)
    with pytest.raises(SpecError, match="^experiment: file not found"):
        ExperimentSpec.from_file(tmp_path / "absent.json")


# --- good input -------------------------------------------------------------------------------------

def test_empty_dict_gives_the_defaults_and_meta_is_ignored():
    assert ExperimentSpec.from_dict({}) == ExperimentSpec()
    assert ExperimentSpec.from_dict({"meta": {"torch": "x"}}) == ExperimentSpec()


def test_a_full_spec_round_trips_through_dict_json_and_file(tmp_path):
    spec = ExperimentSpec.from_dict({
        "seed": 7, "data": {"name": "digits", "test_fraction": 0.25, "max_samples": 100},
        "model": {"layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3, "stride": 1, "padding": 0},
                             {"type": "maxpool2d"}, {"type": "batchnorm"}, {"type": "flatten"},
                             {"type": "dropout", "rate": 0.2}, {"type": "dense", "units": 5, "activation": "gelu"}]},
        "train": {"loss": "cross_entropy", "optimizer": "sgd", "momentum": 0.9, "nesterov": True,
                  "schedule": "cosine", "early_stopping_patience": 3, "regularization": "l2", "reg_rate": 0.01}})
    assert ExperimentSpec.from_dict(spec.to_dict()) == spec
    assert ExperimentSpec.from_json(spec.to_json()) == spec
    path = tmp_path / "exp.json"
    path.write_text(spec.to_json())
    assert ExperimentSpec.from_file(path) == spec
    assert json.loads(spec.to_json())["model"]["layers"][1] == {"type": "maxpool2d", "kernel_size": 2, "stride": 2}


@pytest.mark.parametrize("kind", list(LAYERS))
def test_each_layer_kind_fills_its_defaults(kind):
    layer = LayerSpec.from_dict({"type": kind})
    assert layer.to_dict() == {"type": kind, **LAYERS[kind].params}


@pytest.mark.parametrize("key, values", [
    ("loss", registry.LOSSES), ("optimizer", list(registry.OPTIMIZERS)),
    ("regularization", registry.REGULARIZATIONS), ("schedule", list(registry.SCHEDULES)), ("device", registry.DEVICES),
])
def test_every_registered_choice_is_accepted(key, values):
    for value in values:
        assert getattr(ExperimentSpec.from_dict({"train": {key: value}}).train, key) == value


def test_every_activation_dataset_and_feature_is_accepted():
    for act in registry.ACTIVATIONS:
        assert ExperimentSpec.from_dict(stack({**DENSE, "activation": act})).model.layers[0].activation == act
    for name in DATASETS:
        extra = {"csv": {"path": "t.csv", "target": "y"}, "points": {"points": [[0, 0, 0], [1, 1, 1], [2, 2, 1]]}}.get(
            name, {})
        assert ExperimentSpec.from_dict({"data": {"name": name, **extra}}).data.name == name
    assert ExperimentSpec.from_dict({"data": {"features": list(TOY_FEATURES)}}).data.features == tuple(TOY_FEATURES)


def test_replace_keeps_the_rest():
    spec = ExperimentSpec()
    changed = spec.replace(seed=3)
    assert changed.seed == 3 and changed.train == spec.train and spec.seed == 0
    assert TrainSpec().lr == 0.03 and TrainSpec().batch_size == 10
