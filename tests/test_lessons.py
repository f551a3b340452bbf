"""Lessons (playground.lesson): the built-in course is solvable and not solved from the start; bad lessons are named."""
import json
import re

import pandas as pd
import pytest

from playground import Experiment, SpecError
from playground.lesson import COURSE_DIR, Goal, Lesson, control_names, course

COURSE = course()


def test_the_course_has_at_least_eight_lessons_each_with_a_solution():
    assert len(COURSE) >= 8 and all(lesson.solution is not None for lesson in COURSE.values())


def reaches(lesson: Lesson, spec) -> bool:
    exp = Experiment(spec)
    history = exp.fit(lesson.goal.within_epochs or 300)
    return lesson.goal.status(history, exp.model.num_params(), exp.done).reached


@pytest.mark.parametrize("name", list(COURSE))
def test_each_lessons_solution_reaches_its_goal_and_its_start_does_not(name):
    lesson = COURSE[name]
    assert reaches(lesson, lesson.solution), "the solution must meet the goal"
    assert not reaches(lesson, lesson.experiment), "the starting preset must not meet the goal already"


def test_a_lesson_round_trips_through_json():
    lesson = COURSE["02-features"]
    assert Lesson.from_json(lesson.to_json()) == lesson
    assert lesson.restricts("model.layers", "lock") and lesson.restricts("model.layers[0].units", "lock")
    assert not lesson.restricts("data.features.x1", "lock")


def test_a_goal_at_the_end_is_judged_on_the_last_epoch_once_the_run_has_ended():
    history = pd.DataFrame({"epoch": [1, 2, 3], "test_loss": [0.5, 0.1, 0.6]})
    goal = Goal("test_loss", "<=", 0.2, within_epochs=10, at_end=True)
    assert not goal.status(history.iloc[:2], 10, ended=False).reached     # 0.1, but the run goes on
    assert goal.status(history.iloc[:2], 10, ended=True).reached_at == 2  # it stopped there
    assert not goal.status(history, 10, ended=True).reached               # it ended at 0.6
    assert not goal.status(pd.concat([history] * 4, ignore_index=True).assign(epoch=range(1, 13)), 10,
                           ended=True).reached                            # ended after its 10 epochs


def test_goal_status_gives_the_first_epoch_within_the_budget_and_the_best_value():
    history = pd.DataFrame({"epoch": [1, 2, 3, 4], "test_loss": [0.5, 0.3, 0.09, 0.05]})
    goal = Goal("test_loss", "<=", 0.1, within_epochs=3)
    status = goal.status(history, n_params=10)
    assert status.reached and status.reached_at == 3 and status.best == 0.09 and status.current == 0.09
    assert not Goal("test_loss", "<=", 0.1, within_epochs=2).status(history, 10).reached
    assert not Goal("test_loss", "<=", 0.1, max_params=5).status(history, 10).reached    # too many parameters
    assert Goal("test_loss", "<", 0.5).status(history.iloc[:0], 10).best is None         # no epoch yet


BASE = json.loads((COURSE_DIR / "01-hidden-layers.json").read_text())


@pytest.mark.parametrize("change,field,words", [
    ({"goal": {"metric": "accuracy", "op": ">=", "value": 0.9}}, "goal.metric", "unknown metric 'accuracy'"),
    ({"goal": {"metric": "test_loss", "op": "=<", "value": 0.9}}, "goal.op", "unknown comparison '=<'"),
    ({"goal": {"metric": "test_loss", "op": "<=", "value": "low"}}, "goal.value", "must be a number"),
    ({"goal": {"metric": "test_loss", "op": "<=", "value": 1, "within_epochs": 0}}, "goal.within_epochs",
     "must be a positive integer"),
    ({"hide": ["train.learning_rate"]}, "hide[0]", "unknown setting 'train.learning_rate'"),
    ({"lock": "data.name"}, "lock", "must be a list of setting names"),
    ({"experiment": {"train": {"lr": -1}}}, "experiment.train.lr", "must be a number"),
    ({"solution": {"data": {"name": "nope"}}}, "solution.data.name", "unknown value 'nope'"),
    ({"title": "x" * 121}, "title", "is 121 characters; at most 120"),
    ({"hints": ["a"] * 11}, "hints", "must be a list of at most 10 texts"),
    ({"colour": "red"}, "colour", "unknown key"),
])
def test_bad_lessons_name_the_field(change, field, words):
    with pytest.raises(SpecError, match=f"^{re.escape(field)}: {re.escape(words)}"):
        Lesson.from_dict({**BASE, **change})


def test_a_lesson_without_a_goal_says_what_it_needs():
    with pytest.raises(SpecError, match="^goal: is missing"):
        Lesson.from_dict({k: v for k, v in BASE.items() if k != "goal"})


def test_control_names_cover_the_spec_and_the_playgrounds_own():
    names = control_names()
    assert {"data.name", "train.lr", "model.layers", "activation", "data.noise_percent"} <= set(names)
