"""The classroom: the store (playground.classroom) on SQLite, and the Classroom page driven by AppTest: a
teacher, three students in two sessions each, runs appearing, the ranking, and a run opened exactly."""
import os
import re

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from streamlit.testing.v1 import AppTest

from playground import Experiment
from playground.classroom import CODE_LENGTH, ClassError, Store, clean_name
from playground.lesson import course
from test_pages_core import opened_with
from ui.share import encode_json

LESSON = course()["01-hidden-layers"]
ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


POSTGRES_ENV = "PLAYGROUND_TEST_POSTGRES_URL"   # set by .ci/run, which starts Debian's PostgreSQL


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Store:
    """A fresh store on SQLite, and on a real PostgreSQL where one is given (CI starts one)."""
    if request.param == "sqlite":
        return Store(f"sqlite:///{tmp_path / 'class.sqlite'}")
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_ENV} is not set: .ci/run starts PostgreSQL and sets it", pytrace=False)
        pytest.skip(f"no PostgreSQL ({POSTGRES_ENV} unset); .ci/run starts one")
    engine = create_engine(url)
    with engine.begin() as connection:   # an empty database: the store's migrations make every table
        connection.execute(text("DROP TABLE IF EXISTS runs, students, classes, alembic_version"))
    engine.dispose()
    return Store(url)


def trained(spec, epochs: int):
    exp = Experiment(spec)
    history = exp.fit(epochs)
    return exp.spec, history, LESSON.goal.status(history, exp.model.num_params())


def test_a_class_code_is_random_and_the_teachers_key_is_needed(store):
    codes = {store.create_class(LESSON)[0] for _ in range(20)}
    assert len(codes) == 20 and all(len(c) == CODE_LENGTH and c.isalnum() for c in codes)
    code, key = store.create_class(LESSON)
    assert store.lesson_of(code.lower()) == LESSON          # typed in lower case, with spaces: still found
    with pytest.raises(ClassError, match="not the teacher's key"):
        store.class_runs(code, "guess")
    with pytest.raises(ClassError, match="no class with this code"):
        store.join("AAAAAAAA", "Ada")


def test_students_see_only_their_own_runs_and_rejoin_only_with_their_key(store):
    code, key = store.create_class(LESSON)
    ada, bob = store.join(code, "Ada"), store.join(code, "Bob")
    with pytest.raises(ClassError, match="already called Ada"):
        store.join(code, "Ada")                              # someone else picking Ada's name
    again = store.join(code, "Ada", ada.secret)              # Ada from another browser
    assert again.student_id == ada.student_id
    store.record_run(ada, "a1", *trained(LESSON.solution, 60))
    store.record_run(bob, "b1", *trained(LESSON.experiment, 5))
    assert [r.student for r in store.my_runs(again)] == ["Ada"] and [r.student for r in store.my_runs(bob)] == ["Bob"]
    _, names, runs = store.class_runs(code, key)
    assert names == ["Ada", "Bob"] and {r.student: r.reached_at for r in runs} == {"Ada": 57, "Bob": None}
    assert store.run_experiment(code, key, runs[0].run_id) == LESSON.solution


def test_an_older_database_is_migrated_in_place_and_keeps_its_classes(tmp_path):
    from alembic import command
    from alembic.config import Config

    from playground.classroom import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    engine = create_engine(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")                      # a class store as the first release made it
        connection.execute(text("INSERT INTO classes (code, lesson_json, teacher_key_hash, created_at) "
                                "VALUES ('OLDCLASS', :lesson, 'x', '2026-12-01 10:00:00')"),
                           {"lesson": LESSON.to_json()})
    store = Store(url)                                       # opening it brings it up to date
    assert store.lesson_of("OLDCLASS") == LESSON and store.solution_shown("OLDCLASS") is False


def test_a_database_from_a_newer_version_is_refused_in_words(tmp_path):
    url = f"sqlite:///{tmp_path / 'newer.sqlite'}"
    Store(url)
    with create_engine(url).begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(ClassError, match="cannot be used by this version of the app"):
        Store(url)


def test_a_run_reported_again_is_updated_and_its_curve_thinned(store):
    code, key = store.create_class(LESSON)
    ada = store.join(code, "Ada")
    spec, history, status = trained(LESSON.experiment, 3)
    store.record_run(ada, "a1", spec, history, status)
    long = pd.concat([history] * 200, ignore_index=True).assign(epoch=lambda t: range(1, len(t) + 1))
    store.record_run(ada, "a1", spec, long, status)
    (run,) = store.class_runs(code, key)[2]
    assert run.epochs == 600 and len(run.curve) <= 201 and run.curve["epoch"].iloc[-1] == 600


@pytest.mark.parametrize("name,stored", [("  Ada   Lovelace ", "Ada Lovelace"), ("<b>Bob</b>", "<b>Bob</b>"),
                                         ("Eve\u0000\u200b!", "Eve!")])
def test_display_names_are_cleaned_text(name, stored):
    assert clean_name(name) == stored


@pytest.mark.parametrize("name", ["", "   ", "x" * 41])
def test_bad_display_names_are_refused(name):
    with pytest.raises(ClassError):
        clean_name(name)


# --- the pages --------------------------------------------------------------------------------------

def page(path: str = "views/classroom.py") -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).switch_page(path).run()


def student_session(code: str, name: str, secret: str = "") -> AppTest:
    at = page()
    at.text_input(key="class_join_code").input(code)
    at.text_input(key="class_join_name").input(name)
    at.text_input(key="class_join_secret").input(secret)
    at.button(key="class_join_submit").click().run()
    assert not at.exception and "class_ticket" in at.session_state
    return at.switch_page("views/play.py").run()   # where the join took the browser (AppTest reruns its own page)


def train_in(at: AppTest, epochs: int, solution: bool) -> None:
    """What a student does: answer the question, maybe load the solution (once the teacher shows it), train;
    the live view reports it."""
    at.text_input(key="lesson_answer").input("no").run()
    if solution:
        at.run()
        at.button(key="lesson_solution").click().run()
    run = at.session_state["playground_run"]
    run.step(epochs * run.steps_to_epoch_end())
    at.run()
    run.stop()


def test_a_teacher_sees_three_students_in_two_sessions_each_ranked_and_opens_a_run_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATABASE_URL", f"sqlite:///{tmp_path / 'class.sqlite'}")
    teacher = page()
    teacher.button(key="class_start").click().run()
    code = re.search(r"\*\*(\w+)\*\*", teacher.success[0].value).group(1)
    key = re.search(r"shown only now: \*\*(\S+)\*\*", teacher.warning[0].value).group(1)
    epochs = {"Ada": (60, 3), "Bob": (4, 2), "Cy": (2, 1)}     # Ada reaches the goal in her first session
    for name, (first, second) in epochs.items():
        at = student_session(code, name)
        assert ("lesson_solution" in [b.key for b in at.button]) == (name != "Ada")   # hidden until shown
        if name == "Ada":
            teacher.toggle(key="class_solution").set_value(True).run()          # the teacher shows it
        assert at.session_state["lesson"] == LESSON and at.radio(key="playground:data.name").disabled  # locked
        train_in(at, first, solution=name == "Ada")
        secret = at.session_state["class_ticket"].secret
        train_in(student_session(code, name, secret), second, solution=False)
    teacher.run()
    assert not teacher.exception
    (table,) = teacher.dataframe
    frame = table.value
    assert sorted(frame["student"]) == ["Ada", "Ada", "Bob", "Bob", "Cy", "Cy"]
    assert frame["student"].iloc[0] == "Ada" and frame["reached at epoch"].iloc[0] == 57     # best first
    assert [m.value for m in teacher.metric][:2] == ["3", "1 of 3"]
    ada_run = int(frame["run"].iloc[0])
    teacher.selectbox(key="class_pick").set_value(ada_run).run()
    teacher.button(key="class_open").click().run()
    teacher.run()
    assert teacher.session_state["playground_spec"] == LESSON.solution   # the run's experiment, exactly
    again = page()                                                         # the key, from another browser
    again.text_input(key="class_open_code").input(code.lower())
    again.text_input(key="class_open_key").input(key)
    again.button(key="class_open_submit").click().run()
    assert not again.exception and len(again.dataframe[0].value) == 6


def test_a_wrong_teachers_key_opens_nothing():
    at = page()
    at.text_input(key="class_open_code").input("AAAAAAAA")
    at.text_input(key="class_open_key").input("nope")
    at.button(key="class_open_submit").click().run()
    assert any("Could not open the class" in e.value for e in at.error) and "class_teacher" not in at.session_state


def test_a_lesson_link_runs_to_its_goal_and_says_so():
    at = opened_with(course="02-features")
    assert not at.exception and at.session_state["lesson"] == course()["02-features"]
    assert at.button(key="pg_play").disabled and at.button(key="pg_layers_plus").disabled   # question; locked
    assert at.checkbox(key="playground:data.features.x1").value and not at.checkbox(
        key="playground:data.features.x1").disabled                                        # features are free
    at.checkbox(key="playground:data.features.x1").uncheck()
    at.checkbox(key="playground:data.features.x2").uncheck()
    at.checkbox(key="playground:data.features.x1^2").check()
    at.checkbox(key="playground:data.features.x2^2").check()
    at.text_input(key="lesson_answer").input("the distance from the centre").run()
    assert not at.button(key="pg_play").disabled
    run = at.session_state["playground_run"]
    run.step(12 * run.steps_to_epoch_end())
    at.run()
    try:
        assert [s.value for s in at.success] == ["Goal reached at epoch 9: test accuracy ≥ 0.95 within 50 epochs, "
                                                 "with at most 3 parameters."]
    finally:
        run.stop()


def test_a_train_page_lesson_opens_on_build_and_train_with_its_locks():
    at = opened_with(course="10-schedules")
    assert not at.exception
    assert any("runs on the Build and Train pages" in i.value for i in at.info)     # said on the Playground
    assert at.session_state["spec"] == course()["10-schedules"].experiment
    at.switch_page("views/train.py").run()
    assert not at.exception and at.number_input(key="main:train.lr").disabled       # locked: the rate stays 3
    assert not at.selectbox(key="main:train.schedule").disabled                      # what the lesson is about
    assert at.button(key="train_start").disabled                                     # the question first


@pytest.mark.parametrize("query,words", [
    ({"course": "../../etc/passwd"}, "course: has no lesson '../../etc/passwd'"),
    ({"lesson": "not-a-token"}, "lesson: the share link is damaged"),
    ({"lesson": "x" * 20_000}, "lesson: the link holds 20000 characters"),
    ({"join": "AAAAAAAA", "name": "Eve"}, "there is no class with this code"),
    ({"join": "AAAAAAAA", "name": "x" * 80}, "a display name has at most 40 characters"),
])
def test_a_bad_lesson_or_class_link_warns_in_words_and_changes_nothing(query, words, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATABASE_URL", f"sqlite:///{tmp_path / 'class.sqlite'}")
    at = opened_with(**query)
    try:
        assert not at.exception
        assert any(words in w.value for w in at.warning), [w.value for w in at.warning]
        assert "lesson" not in at.session_state and "class_ticket" not in at.session_state
        assert at.session_state["playground_spec"] == session_default()
    finally:
        at.session_state["playground_run"].stop()


def session_default():
    from ui.session import DEFAULT_SPECS, PLAYGROUND
    return DEFAULT_SPECS[PLAYGROUND]


@pytest.mark.parametrize("part", ["experiment", "solution"])
def test_a_lesson_link_naming_a_server_file_is_refused_unopened(part):
    lesson = {**course()["01-hidden-layers"].to_dict(),
              part: {"data": {"name": "csv", "path": "/etc/passwd", "target": "root"}}}
    at = opened_with(lesson=encode_json(lesson))
    try:
        assert not at.exception and "lesson" not in at.session_state
        assert any("names a file on the server" in w.value for w in at.warning)
    finally:
        at.session_state["playground_run"].stop()


def test_the_migrations_make_exactly_the_tables_the_models_describe(store):
    """Alembic's autogenerate finds nothing to change between a migrated database and models.py: the two
    descriptions of the schema cannot drift apart unnoticed."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from playground.classroom.models import Base

    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_a_database_the_app_cannot_use_is_said_on_the_page(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'newer.sqlite'}"
    Store(url)
    with create_engine(url).begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    monkeypatch.setenv("PLAYGROUND_DATABASE_URL", url)
    teacher = page()
    teacher.button(key="class_start").click().run()
    assert not teacher.exception
    assert any("Could not start the class — the class database cannot be used" in e.value for e in teacher.error)
