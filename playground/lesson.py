"""Lessons: a preset experiment, the controls it hides or locks, a goal on the run's history, a prompt,
an optional question to answer before training, hints, and an optional solution (DESIGN.md's lesson file).

A lesson is one JSON document, validated like an experiment: every bad key raises SpecError whose field is
its path in the lesson (`goal.metric: unknown metric ...`, `experiment.train.lr: ...`). `Goal.status` reads a
run's history: progress while it trains, and the epoch the goal was reached.
"""
from __future__ import annotations

import json
import operator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

from .play_settings import PLAYGROUND_CONTROLS
from .quoting import quote
from .spec import (MAX_SPEC_BYTES, DataSpec, ExperimentSpec, SpecError, TrainSpec, _fail, _is_number, _known_keys,
                   load_json)
from .train import METRIC_COLUMNS

COURSE_DIR = Path(__file__).parent / "lessons"
GOAL_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
GOAL_METRICS = tuple(c for c in METRIC_COLUMNS if c not in ("epoch", "step"))
MAX_TEXT = {"title": 120, "prompt": 2_000, "question": 500, "hint": 500}
MAX_HINTS = 10
LESSON_PAGES = ("playground", "train")   # where a lesson runs: the Playground, or Build and Train


def control_names() -> tuple[str, ...]:
    """The names `hide` and `lock` take: every setting's spec path, and the Playground's own controls."""
    paths = ["seed", "init_seed", "model.layers", "model.init"]
    paths += [f"data.{f.name}" for f in fields(DataSpec)] + [f"train.{f.name}" for f in fields(TrainSpec)
                                                             if f.name not in ("changes", "weight_edits")]
    return tuple(paths) + PLAYGROUND_CONTROLS


def controls_match(rule: str, control: str) -> bool:
    """Whether the rule `data.features` (a name from control_names) covers the control `data.features.x1`."""
    return control == rule or control.startswith((rule + ".", rule + "["))


@dataclass(frozen=True)
class GoalStatus:
    reached_at: int | None    # the first epoch at which the goal held (within its epochs), None if not yet
    current: float | None     # the metric's latest value
    best: float | None        # its best value so far (lowest for <, highest for >)
    params_ok: bool           # the network is within the goal's parameter budget

    @property
    def reached(self) -> bool:
        return self.reached_at is not None and self.params_ok


@dataclass(frozen=True)
class Goal:
    metric: str                       # a history column: test_loss, test_accuracy, ...
    op: str                           # one of GOAL_OPS
    value: float
    within_epochs: int | None = None  # reached by this epoch, or not at all
    max_params: int | None = None     # with a network of at most this many parameters
    at_end: bool = False              # judged at the run's last epoch, once it has ended (early stopping's goals)

    @classmethod
    def from_dict(cls, d: Any, path: str = "goal") -> "Goal":
        _known_keys(path, d, cls)
        metric, op, value = d.get("metric"), d.get("op"), d.get("value")
        if metric not in GOAL_METRICS:
            _fail(f"{path}.metric", f"unknown metric {quote(metric)}; choose one of {', '.join(GOAL_METRICS)}")
        if op not in GOAL_OPS:
            _fail(f"{path}.op", f"unknown comparison {quote(op)}; choose one of {', '.join(GOAL_OPS)}")
        if not _is_number(value):
            _fail(f"{path}.value", f"must be a number, got {quote(value)}")
        for name in ("within_epochs", "max_params"):
            v = d.get(name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                _fail(f"{path}.{name}", f"must be a positive integer, got {quote(v)}")
        if not isinstance(d.get("at_end", False), bool):
            _fail(f"{path}.at_end", f"must be true or false, got {quote(d['at_end'])}")
        return cls(metric, op, float(value), d.get("within_epochs"), d.get("max_params"), d.get("at_end", False))

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) not in (None, False)}

    def describe(self) -> str:
        """"test loss ≤ 0.1 within 300 epochs, with at most 50 parameters"."""
        words = f"{self.metric.replace('_', ' ')} {self.op.replace('<=', '≤').replace('>=', '≥')} {self.value:g}"
        if self.at_end:
            words += " when the run ends"
        if self.within_epochs:
            words += f" within {self.within_epochs:,} epochs"
        if self.max_params:
            words += f", with at most {self.max_params:,} parameters"
        return words

    def status(self, history: pd.DataFrame, n_params: int, ended: bool = False) -> GoalStatus:
        """Where a run with this per-epoch `history` (metrics.csv's columns) stands against the goal; `ended`:
        the run will train no more (an `at_end` goal is judged only then, on its last epoch)."""
        rows = history if self.within_epochs is None else history[history["epoch"] <= self.within_epochs]
        values = pd.to_numeric(rows[self.metric], errors="coerce") if len(rows) else pd.Series(dtype=float)
        values = values.dropna()
        judged = values.iloc[-1:] if self.at_end and ended and len(rows) == len(history) else values.iloc[:0]
        met = (judged if self.at_end else values)
        met = met[[GOAL_OPS[self.op](v, self.value) for v in met]]
        reached = int(rows.loc[met.index[0], "epoch"]) if len(met) else None
        best = (values.min() if self.op in ("<=", "<") else values.max()) if len(values) else None
        current = float(values.iloc[-1]) if len(values) else None
        return GoalStatus(reached, current, None if best is None else float(best),
                          self.max_params is None or n_params <= self.max_params)


@dataclass(frozen=True)
class Lesson:
    title: str
    experiment: ExperimentSpec
    goal: Goal
    prompt: str = ""
    question: str | None = None            # to answer before the first Play
    hints: tuple[str, ...] = ()            # revealed one by one
    hide: tuple[str, ...] = ()             # controls not shown (their values stay the experiment's)
    lock: tuple[str, ...] = ()             # controls shown but not changeable
    solution: ExperimentSpec | None = None  # an experiment that meets the goal
    page: str | None = None                # "playground" or "train"; default: the Playground if it can show it

    @classmethod
    def from_dict(cls, d: Any) -> "Lesson":
        _known_keys("", d, cls)
        for key in ("title", "experiment", "goal"):
            if key not in d:
                _fail(key, "is missing; a lesson needs a title, an experiment and a goal")
        values = {"title": _text("title", d["title"], MAX_TEXT["title"]),
                  "prompt": _text("prompt", d.get("prompt", ""), MAX_TEXT["prompt"]),
                  "question": None if d.get("question") is None else _text("question", d["question"],
                                                                           MAX_TEXT["question"]),
                  "experiment": _experiment("experiment", d["experiment"]), "goal": Goal.from_dict(d["goal"]),
                  "solution": None if d.get("solution") is None else _experiment("solution", d["solution"])}
        page = d.get("page")
        if page is not None and page not in LESSON_PAGES:
            _fail("page", f"unknown page {quote(page)}; choose one of {', '.join(LESSON_PAGES)}")
        values["page"] = page
        hints = d.get("hints", [])
        if not isinstance(hints, list) or len(hints) > MAX_HINTS:
            _fail("hints", f"must be a list of at most {MAX_HINTS} texts")
        values["hints"] = tuple(_text(f"hints[{i}]", h, MAX_TEXT["hint"]) for i, h in enumerate(hints))
        known = control_names()
        for key in ("hide", "lock"):
            names = d.get(key, [])
            if not isinstance(names, list):
                _fail(key, "must be a list of setting names, like [\"data.name\", \"train.lr\"]")
            for i, name in enumerate(names):
                if name not in known:
                    _fail(f"{key}[{i}]", f"unknown setting {quote(name)}; name settings by their paths, "
                                         f"e.g. {', '.join(known[:3])}, train.lr, activation")
            values[key] = tuple(names)
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "Lesson":
        if len(text) > 2 * MAX_SPEC_BYTES:
            _fail("lesson", f"is {len(text):,} bytes; a lesson is at most {2 * MAX_SPEC_BYTES:,}")
        return cls.from_dict(load_json(text, "lesson", "a lesson"))

    @classmethod
    def from_file(cls, path: str | Path) -> "Lesson":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def to_dict(self) -> dict:
        d = {"title": self.title, "experiment": self.experiment.to_dict(), "goal": self.goal.to_dict(),
             "prompt": self.prompt, "hints": list(self.hints), "hide": list(self.hide), "lock": list(self.lock)}
        if self.question is not None:
            d["question"] = self.question
        if self.solution is not None:
            d["solution"] = self.solution.to_dict()
        if self.page is not None:
            d["page"] = self.page
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def restricts(self, control: str, how: str) -> bool:
        """Whether this lesson hides (`how="hide"`) or locks (`"lock"`) the control named `control`."""
        return any(controls_match(rule, control) for rule in (self.hide if how == "hide" else self.lock))


def course() -> dict[str, Lesson]:
    """The built-in course, by lesson id (its file name), in order."""
    return {path.stem: Lesson.from_file(path) for path in sorted(COURSE_DIR.glob("*.json"))}


def _experiment(path: str, d: Any) -> ExperimentSpec:
    try:
        return ExperimentSpec.from_dict(d)
    except SpecError as e:
        raise SpecError(f"{path}.{e.field}" if e.field != "experiment" else path, e.reason) from None


def _text(path: str, v: Any, limit: int) -> str:
    if not isinstance(v, str):
        _fail(path, f"must be text, got {quote(v)}")
    if len(v) > limit:
        _fail(path, f"is {len(v):,} characters; at most {limit:,}")
    return v
