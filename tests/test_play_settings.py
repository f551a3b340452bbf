"""The Playground's settings object: the two conversions to and from the experiment are each other's inverse."""
import pytest

from playground import ExperimentSpec
from playground.play_settings import MAX_HIDDEN_LAYERS, PLAYGROUND_EPOCHS, PlaySettings

BASE = ExperimentSpec()


@pytest.mark.parametrize("settings", [
    PlaySettings(),
    PlaySettings(dataset="spiral", train_percent=70, noise_percent=35, batch_size=3, features=("x1", "sin_x2"),
                 hidden=(8, 1, 3), activation="relu", lr=0.3, regularization="l2", reg_rate=0.01),
    PlaySettings(dataset="plane", hidden=(), lr=1.0),
    PlaySettings(hidden=(3, 2), activation="relu", layer_activations=("relu", "sine"), init="he"),
])
def test_settings_round_trip_through_the_spec(settings):
    spec = settings.to_spec(BASE)
    assert PlaySettings.from_spec(spec) == settings
    assert spec.train.epochs == PLAYGROUND_EPOCHS and spec.seed == BASE.seed


def test_percent_scales_and_the_tasks_loss_are_converted_once_here():
    spec = PlaySettings(dataset="multi_gauss", train_percent=80, noise_percent=15).to_spec(BASE)
    assert spec.data.test_fraction == 0.2 and spec.data.noise == 0.15 and spec.train.loss == "mse"
    assert PlaySettings(dataset="xor").to_spec(BASE).train.loss == "bce"


def test_a_loaded_spec_shows_what_the_playground_can_draw():
    spec = ExperimentSpec.from_dict({"model": {"layers": [{"type": "dense", "units": 64, "activation": "gelu"},
                                                          {"type": "dropout"}] + [{"type": "dense", "units": 2}] * 8}})
    settings = PlaySettings.from_spec(spec)
    assert settings.hidden == (8,) + (2,) * (MAX_HIDDEN_LAYERS - 1) and settings.activation == "gelu"


def test_one_activation_for_all_unless_the_layers_differ():
    same = PlaySettings(hidden=(3, 2), layer_activations=("relu", "relu")).to_spec(BASE)
    assert [l.activation for l in same.model.layers] == ["relu", "relu"]
    assert PlaySettings.from_spec(same).layer_activations == () and PlaySettings.from_spec(same).activation == "relu"
    grown = PlaySettings(hidden=(3, 2, 4), activation="tanh", layer_activations=("relu", "elu"))
    assert [l.activation for l in grown.to_spec(BASE).model.layers] == ["relu", "elu", "tanh"]  # a new layer: all's
