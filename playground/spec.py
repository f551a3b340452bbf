"""The experiment spec: frozen dataclasses for data, model and training, JSON in and out.

`ExperimentSpec.from_dict` validates every field and raises `SpecError` whose message starts with the
field's path (`model.layers[2].units: must be a positive integer, got -3`), so the CLI, the UI and tests
all show the user which field to fix. Shape checks that need the data live in model.py.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from . import registry
from .layers import LAYERS
from .quoting import quote
from .registry import RANGES

MAX_SPEC_BYTES = 1_000_000  # an experiment file is a few KB; refuse anything absurd before parsing
MAX_MESSAGE_CHARS = 1_000   # a last guard: messages quote user values through quoting.quote already


class SpecError(ValueError):
    """A bad experiment. `field` is the dotted path of the offending key, `reason` what is wrong with it
    (the message is both: `model.layers[2].units: must be a positive integer, got -3`)."""

    def __init__(self, field_path: str, message: str):
        message = message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS] + "…"
        super().__init__(f"{field_path}: {message}")
        self.field = field_path
        self.reason = message

    def __reduce__(self):  # crosses a pipe (playground.workers) as it was raised
        return SpecError, (self.field, self.reason)


def _fail(path: str, message: str) -> None:
    raise SpecError(path, message)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _in_range(path: str, v: Any, setting: str) -> None:
    """Check `v` against registry.RANGES[setting]; the message names the range (and the value, quoted)."""
    r = RANGES[setting]
    if r.whole:
        if _is_int(v) and v in r:
            return
        if r.lo in (0, 1) and (not _is_int(v) or v < r.lo):
            kind = "positive" if r.lo == 1 else "non-negative"
            _fail(path, f"must be a {kind} integer, got {quote(v)}")
        if _is_int(v) and v > r.hi:
            _fail(path, f"must be at most {r.hi:,}, got {quote(v)}")
        _fail(path, f"must be an integer from {r.lo:,} to {r.hi:,}, got {quote(v)}")
    if not _is_number(v) or v not in r:
        bound = f"more than {r.lo:g} and at most {r.hi:g}" if r.lo_open else f"from {r.lo:g} to {r.hi:g}"
        _fail(path, f"must be a number {bound}, got {quote(v)}")


def check_seed(v: Any, path: str = "seed") -> None:
    """A seed (the data's, or init_seed for the weights) is an integer in registry.RANGES["seed"]."""
    _in_range(path, v, "seed")


def _key_path(path: str, key: Any) -> str:
    """`path.key` with a user's key shortened, for a message about that key."""
    shown = key if isinstance(key, str) and len(key) <= 40 else quote(key, 40)
    return f"{path}.{shown}" if path else shown


def _text(path: str, v: Any) -> None:
    if not isinstance(v, str):
        _fail(path, f"must be text, got {quote(v)}")


def _choice(path: str, v: Any, options) -> None:
    if not isinstance(v, str) or v not in options:
        _fail(path, f"unknown value {quote(v)}; choose one of {', '.join(options)}")


def _known_keys(path: str, d: Any, cls) -> None:
    if not isinstance(d, dict):
        _fail(path, f"must be a JSON object, got {type(d).__name__}")
    names = {f.name for f in fields(cls)}
    for key in d:
        if key not in names:
            _fail(_key_path(path, key), f"unknown key; known keys are {', '.join(sorted(names))}")


@dataclass(frozen=True)
class DataSpec:
    name: str = "spiral"                    # a key of playground.data.DATASETS
    n_samples: int = 500                    # toy sets: points generated (TF Playground: 500, 1200 for regression)
    noise: float = 0.0                      # toy sets: 0..0.5, TF Playground's 0..50 %
    test_fraction: float = 0.5              # share held out for the test curve
    features: tuple[str, ...] = ("x1", "x2")  # toy sets: inputs computed from (x1, x2)
    path: str | None = None                 # csv: file to read
    target: str | None = None               # csv: column to predict
    max_samples: int | None = None          # image sets: use at most this many training images (None: all)
    points: tuple[tuple[float, float, float], ...] | None = None  # drawn data: (x1, x2, label) each

    def validate(self, path: str = "data") -> None:
        from .data import DATASETS, DRAWN, TOY_FEATURES  # data imports spec for DataSpec's type only

        _choice(f"{path}.name", self.name, list(DATASETS))
        if self.name == DRAWN:
            _check_points(f"{path}.points", self.points)
        elif self.points is not None:
            _fail(f"{path}.points", f"only drawn data (name \"{DRAWN}\") takes points; {self.name} makes its own")
        if _is_int(self.n_samples) and 1 <= self.n_samples < 4:
            _fail(f"{path}.n_samples", f"must be at least 4 so both splits get points, got {self.n_samples}")
        _in_range(f"{path}.n_samples", self.n_samples, "data.n_samples")
        _in_range(f"{path}.noise", self.noise, "data.noise")
        _in_range(f"{path}.test_fraction", self.test_fraction, "data.test_fraction")
        if not isinstance(self.features, tuple) or not self.features:
            _fail(f"{path}.features", "must be a non-empty list of feature names")
        for i, f in enumerate(self.features):
            _choice(f"{path}.features[{i}]", f, list(TOY_FEATURES))
        if len(set(self.features)) != len(self.features):
            _fail(f"{path}.features", f"lists a feature twice: {list(self.features)}")
        for name in ("path", "target"):
            if getattr(self, name) is not None:
                _text(f"{path}.{name}", getattr(self, name))
        if self.name == "csv":
            if not self.path:
                _fail(f"{path}.path", "csv data needs a file path")
            if not self.target:
                _fail(f"{path}.target", "csv data needs the name of the column to predict")
        if self.max_samples is not None:
            _in_range(f"{path}.max_samples", self.max_samples, "data.max_samples")

    def check_path_under(self, folders: list[Path], path: str = "data") -> None:
        """For a spec from outside (a share link, an upload, a checkpoint): refuse, without opening it, a
        CSV path that is not inside one of `folders` (symlinks and `..` resolved first)."""
        if self.name != "csv" or self.path is None:
            return
        target = Path(self.path).resolve()
        if not any(target.is_relative_to(Path(f).resolve()) for f in folders):
            _fail(f"{path}.path", "names a file on the server, which a shared or uploaded experiment may not "
                                  "read; upload your CSV file on the Build page instead")


def _check_points(path: str, points: Any) -> None:
    from .data import MAX_DRAWN_POINTS, MIN_DRAWN_POINTS
    from .data.toy import PLANE_HALF_WIDTH

    if not points or len(points) < MIN_DRAWN_POINTS:
        _fail(path, f"needs at least {MIN_DRAWN_POINTS} points (two to train on, one to test): click the "
                    "Playground's map to draw them")
    if len(points) > MAX_DRAWN_POINTS:
        _fail(path, f"has {len(points):,} points; at most {MAX_DRAWN_POINTS:,} can be drawn")
    for i, p in enumerate(points):
        shown = quote(list(p) if isinstance(p, tuple) else p)  # as the JSON wrote it
        if not isinstance(p, tuple) or len(p) != 3 or not all(_is_number(v) for v in p):
            _fail(f"{path}[{i}]", f"must be [x1, x2, label], three numbers, got {shown}")
        if max(abs(p[0]), abs(p[1])) > PLANE_HALF_WIDTH:
            _fail(f"{path}[{i}]", f"lies off the plane: x1 and x2 go from -{PLANE_HALF_WIDTH:g} to "
                                  f"{PLANE_HALF_WIDTH:g}, got {shown}")


@dataclass(frozen=True)
class LayerSpec:
    """One hidden layer. Only the parameters its kind takes are set (see layers.LAYERS)."""

    type: str
    units: int | None = None          # dense: neurons
    activation: str | None = None     # dense, conv2d: applied after the layer
    filters: int | None = None        # conv2d: output channels
    kernel_size: int | None = None    # conv2d, pools: window size
    stride: int | None = None         # conv2d, pools
    padding: int | None = None        # conv2d: zeros added on each side
    rate: float | None = None         # dropout: probability of zeroing a unit

    @classmethod
    def from_dict(cls, d: Any, path: str = "layer") -> "LayerSpec":
        _known_keys(path, d, cls)
        kind_name = d.get("type")
        _choice(f"{path}.type", kind_name, list(LAYERS))
        kind = LAYERS[kind_name]
        for key in d:
            if key != "type" and key not in kind.params:
                takes = ", ".join(kind.params) or "no parameters"
                _fail(f"{path}.{key}", f"{kind_name} does not take this; it takes {takes}")
        spec = cls(type=kind_name, **{**kind.params, **{k: v for k, v in d.items() if k != "type"}})
        spec.validate(path)
        return spec

    def to_dict(self) -> dict:
        return {"type": self.type, **{k: getattr(self, k) for k in LAYERS[self.type].params}}

    def validate(self, path: str = "layer") -> None:
        params = LAYERS[self.type].params
        for name in ("units", "filters", "kernel_size", "stride", "padding", "rate"):
            if name in params:
                _in_range(f"{path}.{name}", getattr(self, name), f"layer.{name}")
        if "activation" in params:
            _choice(f"{path}.activation", self.activation, list(registry.ACTIVATIONS))


@dataclass(frozen=True)
class ModelSpec:
    layers: tuple[LayerSpec, ...] = (
        LayerSpec("dense", units=8, activation="tanh"),
        LayerSpec("dense", units=8, activation="tanh"),
    )

    init: str = "default"             # how weights start (registry.INITS): default, zeros, xavier, he, normal

    MAX_LAYERS = 64

    @classmethod
    def from_dict(cls, d: Any, path: str = "model") -> "ModelSpec":
        _known_keys(path, d, cls)
        layers = d.get("layers", [])
        if not isinstance(layers, list):
            _fail(f"{path}.layers", f"must be a list of layers, got {type(layers).__name__}")
        if len(layers) > cls.MAX_LAYERS:
            _fail(f"{path}.layers", f"has {len(layers)} layers; at most {cls.MAX_LAYERS} are allowed")
        init = d.get("init", cls.init)
        _choice(f"{path}.init", init, list(registry.INITS))
        return cls(tuple(LayerSpec.from_dict(l, f"{path}.layers[{i}]") for i, l in enumerate(layers)), init)

    def to_dict(self) -> dict:
        return {"layers": [l.to_dict() for l in self.layers], "init": self.init}


@dataclass(frozen=True)
class Change:
    """Settings changed by hand while the run trained, applied after `step` steps (before the next one).
    JSON: `{"step": 120, "lr": 0.1}`."""
    step: int
    values: tuple[tuple[str, float], ...]   # (setting, value), settings from registry.LIVE_SETTINGS

    @classmethod
    def from_dict(cls, d: Any, path: str) -> "Change":
        if not isinstance(d, dict):
            _fail(path, f"must be an object like {{\"step\": 10, \"lr\": 0.1}}, got {quote(d)}")
        step = d.get("step")
        if not _is_int(step) or step < 0:
            _fail(f"{path}.step", f"must be a non-negative integer, got {quote(step)}")
        values = tuple((k, v) for k, v in d.items() if k != "step")
        if not values:
            _fail(path, f"changes nothing; give one or more of {', '.join(registry.LIVE_SETTINGS)}")
        for key, value in values:
            if key not in registry.LIVE_SETTINGS:
                _fail(_key_path(path, key), f"cannot change while training; the settings that can are "
                                            f"{', '.join(registry.LIVE_SETTINGS)}")
            _in_range(f"{path}.{key}", value, f"train.{key}")
        return cls(step, values)

    def to_dict(self) -> dict:
        return {"step": self.step, **dict(self.values)}


@dataclass(frozen=True)
class WeightEdit:
    """A weight typed in by hand while the run trained, set after `step` steps (before the next one): the
    weight from input `source` to unit `unit` of dense layer `layer` (0 is the first Linear layer, the
    output layer is the last). JSON: `{"step": 40, "layer": 0, "unit": 2, "source": 1, "value": 0.5}`."""
    step: int
    layer: int
    unit: int
    source: int
    value: float

    @classmethod
    def from_dict(cls, d: Any, path: str) -> "WeightEdit":
        _known_keys(path, d, cls)
        for name in ("step", "layer", "unit", "source"):
            if not _is_int(d.get(name)) or d[name] < 0:
                _fail(f"{path}.{name}", f"must be a non-negative integer, got {quote(d.get(name))}")
        _in_range(f"{path}.value", d.get("value"), "weight")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainSpec:
    loss: str = "bce"                 # see registry.LOSSES
    optimizer: str = "sgd"            # see registry.OPTIMIZERS
    lr: float = 0.03                  # learning rate
    momentum: float = 0.0             # for the optimizers registry.APPLIES_TO lists
    nesterov: bool = False            # Nesterov momentum (needs momentum > 0; see APPLIES_TO)
    weight_decay: float = 0.0         # decoupled for adamw, L2-in-gradient for the others (torch semantics)
    regularization: str = "none"      # explicit penalty added to the loss: none, l1, l2
    reg_rate: float = 0.0             # its strength
    batch_size: int = 10
    epochs: int = 100
    schedule: str = "none"            # lr schedule, stepped once per epoch
    lr_step_size: int = 30            # step: epochs between decays
    lr_gamma: float = 0.5             # decay factor (exponential: per epoch; see APPLIES_TO)
    early_stopping_patience: int | None = None  # stop after this many epochs without a better test loss
    device: str = "auto"
    telemetry_every: int = 25         # steps between weight/gradient/activation samples (0: never)
    num_threads: int = 1              # CPU threads torch trains with: the app, the CLI and the exported
                                      # script all use it, since results depend on it (summation order)
    changes: tuple[Change, ...] = ()  # settings changed while it trained, in step order (DESIGN.md)
    weight_edits: tuple[WeightEdit, ...] = ()  # weights typed in while it trained, in step order

    def latest(self) -> "TrainSpec":
        """The settings in force after every change, with no changes (nor weight edits) left: what a new run
        would start from."""
        values = {k: v for change in self.changes for k, v in change.values}
        return replace(self, changes=(), weight_edits=(), **values)

    def validate(self, path: str = "train") -> None:
        _choice(f"{path}.loss", self.loss, registry.LOSSES)
        _choice(f"{path}.optimizer", self.optimizer, list(registry.OPTIMIZERS))
        if not isinstance(self.nesterov, bool):
            _fail(f"{path}.nesterov", f"must be true or false, got {quote(self.nesterov)}")
        for name in ("lr", "momentum", "weight_decay", "reg_rate", "batch_size", "epochs", "lr_step_size",
                     "lr_gamma", "telemetry_every", "num_threads"):
            _in_range(f"{path}.{name}", getattr(self, name), f"train.{name}")
        if self.nesterov and (not registry.applies("nesterov", self) or self.momentum == 0):
            _fail(f"{path}.nesterov", f"needs optimizer {_choices_of('nesterov')} with momentum > 0")
        _choice(f"{path}.regularization", self.regularization, registry.REGULARIZATIONS)
        _choice(f"{path}.schedule", self.schedule, list(registry.SCHEDULES))
        if self.early_stopping_patience is not None:
            _in_range(f"{path}.early_stopping_patience", self.early_stopping_patience, "train.early_stopping_patience")
        _choice(f"{path}.device", self.device, registry.DEVICES)
        for name in ("changes", "weight_edits"):
            _check_in_step_order(f"{path}.{name}", getattr(self, name))
        for i, change in enumerate(self.changes):
            if dict(change.values).get("momentum") and not registry.applies("momentum", self):
                _fail(f"{path}.changes[{i}].momentum", f"{self.optimizer} has no momentum; it is "
                                                       f"{_choices_of('momentum')}'s")


def _check_in_step_order(path: str, entries: tuple) -> None:
    """Changes or weight edits: at most registry.MAX_CHANGES of them, listed in step order."""
    if len(entries) > registry.MAX_CHANGES:
        _fail(path, f"has {len(entries):,} entries; at most {registry.MAX_CHANGES:,}")
    for i, entry in enumerate(entries):
        if i and entry.step < entries[i - 1].step:
            _fail(f"{path}[{i}].step", f"comes before the entry above it ({entry.step} < {entries[i - 1].step}); "
                                       "list them in step order")


@dataclass(frozen=True)
class ExperimentSpec:
    seed: int = 0                     # the data, its split and the batch order (and the weights, by default)
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    init_seed: int | None = None      # the initial weights, if not from `seed`: the Playground's Reset draws one

    @property
    def weights_seed(self) -> int:
        return self.seed if self.init_seed is None else self.init_seed

    @classmethod
    def from_dict(cls, d: Any) -> "ExperimentSpec":
        """Build and validate a spec from the experiment JSON's dict. Missing keys take defaults."""
        if not isinstance(d, dict):
            _fail("experiment", f"must be a JSON object, got {type(d).__name__}")
        d = {k: v for k, v in d.items() if k != "meta"}  # run metadata, written by the engine, not an input
        _known_keys("", d, cls)
        seed, init_seed = d.get("seed", 0), d.get("init_seed")
        check_seed(seed)
        if init_seed is not None:
            check_seed(init_seed, "init_seed")
        data_d = d.get("data", {})
        _known_keys("data", data_d, DataSpec)
        if "features" in data_d:
            if not isinstance(data_d["features"], list):
                _fail("data.features", "must be a list of feature names")
            data_d = {**data_d, "features": tuple(data_d["features"])}
        if data_d.get("points") is not None:
            if not isinstance(data_d["points"], list):
                _fail("data.points", f"must be a list of [x1, x2, label] points, got {quote(data_d['points'])}")
            data_d = {**data_d, "points": tuple(tuple(p) if isinstance(p, list) else p for p in data_d["points"])}
        data = DataSpec(**data_d)
        data.validate()
        model = ModelSpec.from_dict(d.get("model", {"layers": [l.to_dict() for l in ModelSpec().layers]}))
        train_d = d.get("train", {})
        _known_keys("train", train_d, TrainSpec)
        for name, cls_ in (("changes", Change), ("weight_edits", WeightEdit)):
            if name in train_d:
                entries = train_d[name]
                if not isinstance(entries, list):
                    _fail(f"train.{name}", f"must be a list, got {type(entries).__name__}")
                train_d = {**train_d, name: tuple(cls_.from_dict(c, f"train.{name}[{i}]")
                                                  for i, c in enumerate(entries))}
        train = TrainSpec(**train_d)
        train.validate()
        return cls(seed=seed, data=data, model=model, train=train, init_seed=init_seed)

    @classmethod
    def from_json(cls, text: str) -> "ExperimentSpec":
        if len(text) > MAX_SPEC_BYTES:
            _fail("experiment", f"file is {len(text)} bytes; an experiment is at most {MAX_SPEC_BYTES}")
        return cls.from_dict(load_json(text, "experiment", "an experiment"))

    @classmethod
    def from_file(cls, path: str | Path) -> "ExperimentSpec":
        p = Path(path)
        if not p.is_file():
            _fail("experiment", f"file not found: {p}")
        if p.stat().st_size > MAX_SPEC_BYTES:
            _fail("experiment", f"{p} is {p.stat().st_size} bytes; an experiment is at most {MAX_SPEC_BYTES}")
        return cls.from_json(p.read_text(encoding="utf-8"))

    def to_dict(self) -> dict:
        data = asdict(self.data)
        data["features"] = list(self.data.features)
        if self.data.points is not None:
            data["points"] = [list(p) for p in self.data.points]
        train = {**asdict(self.train), "changes": [c.to_dict() for c in self.train.changes],
                 "weight_edits": [e.to_dict() for e in self.train.weight_edits]}
        return {"seed": self.seed, "init_seed": self.init_seed, "data": data, "model": self.model.to_dict(),
                "train": train}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def latest(self) -> "ExperimentSpec":
        """This experiment with its live changes folded in (see TrainSpec.latest)."""
        return replace(self, train=self.train.latest())

    def live_difference(self, other: "ExperimentSpec") -> dict[str, float] | None:
        """The live settings (registry.LIVE_SETTINGS) to change to make this experiment `other`, if nothing
        else differs; None if something else does (a new run) or nothing does. Changes are folded in first."""
        a, b = self.latest(), other.latest()
        diff = {k: getattr(b.train, k) for k in registry.LIVE_SETTINGS if getattr(a.train, k) != getattr(b.train, k)}
        return diff if diff and replace(a, train=replace(a.train, **diff)) == b else None

    def replace(self, **changes) -> "ExperimentSpec":
        """A copy with top-level fields changed: `spec.replace(train=replace(spec.train, lr=0.1))`."""
        return replace(self, **changes)


def _choices_of(setting: str) -> str:
    """"sgd" or "sgd and rmsprop": the choices a setting applies to, for a message."""
    return " and ".join(registry.APPLIES_TO[setting][1])


def load_json(text: str, field_path: str, noun: str) -> Any:
    """A JSON document from outside (its size already bounded), parsed strictly: a key given twice is refused
    (JSON would keep the last one silently), and anything else wrong is a SpecError on `field_path` in words
    (`noun`: "an experiment", "a lesson")."""
    def unique_keys(pairs: list[tuple[str, Any]]) -> dict:
        d = {}
        for key, value in pairs:
            if key in d:
                _fail(field_path, f"gives the key {quote(key, 40)} twice in one object; keep one of them")
            d[key] = value
        return d

    try:
        return json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as e:
        _fail(field_path, f"is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})")
    except RecursionError:
        _fail(field_path, f"is nested too deeply to be {noun}")
    except ValueError as e:  # Python refuses integers of more than 4,300 digits (int_max_str_digits)
        if isinstance(e, SpecError):
            raise
        _fail(field_path, "holds a number with thousands of digits; no setting takes one")
