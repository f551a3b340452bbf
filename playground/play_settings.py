"""The Playground's settings as its controls show them (TF Playground's units), and their two conversions.

One typed object instead of values passed around by where they sit on the screen: `from_spec` reads an
experiment (a loaded link, the run's) into what the controls show; `to_spec` makes the experiment they
describe. The percent scales and the task's loss are converted here and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .data import DATASETS, DRAWN, task_of
from .registry import DEFAULT_LOSS
from .spec import ExperimentSpec, LayerSpec, ModelSpec

MAX_HIDDEN_LAYERS, MAX_UNITS = 6, 8   # TF Playground's limits
# The Playground's controls that have no spec path of their own (a lesson hides or locks them by these names;
# the others go by their spec paths: data.name, train.lr, model.layers, ...)
PLAYGROUND_CONTROLS = ("activation", "data.train_percent", "data.noise_percent")
PLAYGROUND_EPOCHS = 10_000            # TF Playground's Play never ends; ours stops here


def fits_playground(spec: ExperimentSpec) -> bool:
    """Whether the Playground can show `spec` as it is: toy or drawn data and a small stack of dense layers."""
    layers = spec.model.layers
    return (DATASETS[spec.data.name].kind in ("toy", "drawn") and len(layers) <= MAX_HIDDEN_LAYERS
            and all(layer.type == "dense" and layer.units <= MAX_UNITS for layer in layers))


@dataclass(frozen=True)
class PlaySettings:
    dataset: str = "circle"
    train_percent: int = 50                     # "Ratio of training to test data", 10..90
    noise_percent: int = 0                      # 0..50
    batch_size: int = 10
    features: tuple[str, ...] = ("x1", "x2")
    hidden: tuple[int, ...] = (4, 2)            # neurons per hidden layer
    activation: str = "tanh"                    # one for all layers, as in TF Playground
    layer_activations: tuple[str, ...] = ()     # or one per hidden layer (the option TF Playground lacks)
    init: str = "default"                       # how the weights start (registry.INITS)
    lr: float = 0.03
    regularization: str = "none"
    reg_rate: float = 0.0
    points: tuple[tuple[float, float, float], ...] | None = None  # the drawn set (dataset DRAWN), if any

    @classmethod
    def from_spec(cls, spec: ExperimentSpec) -> "PlaySettings":
        """What the controls show for `spec`: its dense layers (at most MAX_HIDDEN_LAYERS) and its toy data."""
        dense = [layer for layer in spec.model.layers if layer.type == "dense"][:MAX_HIDDEN_LAYERS]
        t = spec.train
        return cls(dataset=spec.data.name, train_percent=round(100 * (1 - spec.data.test_fraction)),
                   noise_percent=round(100 * spec.data.noise), batch_size=t.batch_size,
                   features=tuple(spec.data.features), hidden=tuple(min(layer.units, MAX_UNITS) for layer in dense),
                   activation=dense[0].activation if dense else cls.activation,
                   layer_activations=_per_layer(tuple(layer.activation for layer in dense)), init=spec.model.init,
                   lr=t.lr, regularization=t.regularization, reg_rate=t.reg_rate, points=spec.data.points)

    @property
    def task(self) -> str:
        """binary, multiclass or regression: the dataset's (drawn points': their labels')."""
        return task_of(self.dataset, self.points)

    def activation_of(self, layer: int) -> str:
        """Hidden layer `layer`'s activation: its own if set, else the one for all."""
        own = self.layer_activations
        return own[layer] if layer < len(own) else self.activation

    def to_spec(self, base: ExperimentSpec) -> ExperimentSpec:
        """The experiment these settings describe, keeping the rest of `base` (seeds, other train settings);
        the loss follows the dataset's task."""
        data = replace(base.data, name=self.dataset, noise=self.noise_percent / 100,
                       test_fraction=round(1 - self.train_percent / 100, 2), features=self.features,
                       points=self.points if self.dataset == DRAWN else None)
        layers = tuple(LayerSpec("dense", units=units, activation=self.activation_of(i))
                       for i, units in enumerate(self.hidden))
        model = ModelSpec(layers, self.init)
        train = replace(base.train, loss=DEFAULT_LOSS[self.task], lr=self.lr,
                        regularization=self.regularization, reg_rate=self.reg_rate, batch_size=self.batch_size,
                        epochs=PLAYGROUND_EPOCHS)
        return base.replace(data=data, model=model, train=train)


def _per_layer(activations: tuple[str, ...]) -> tuple[str, ...]:
    """Per-layer activations only where the layers differ: one for all reads as TF Playground's."""
    return activations if len(set(activations)) > 1 else ()
