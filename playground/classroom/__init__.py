"""The classroom store: a teacher's class doing one lesson, its students, and each student's runs, in a real
database through SQLAlchemy (SQLite in the data folder by default; any SQLAlchemy URL through
$PLAYGROUND_DATABASE_URL, e.g. PostgreSQL, so several server processes or machines share one class). The
schema is Alembic's (migrations/), brought up to date when a store opens.

What keeps a class safe: a class code is random (32^8 codes: not found by counting), the teacher's key and
each student's rejoin key are shown once and kept only as hashes, a display name is bounded text, and a
student reads only their own runs. Callers show names as plain text, never as markup.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from alembic import command
from alembic.config import Config
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ..lesson import GoalStatus, Lesson
from ..spec import ExperimentSpec
from .models import MAX_NAME_CHARS, ClassRow, RunRow, StudentRow

DATABASE_ENV = "PLAYGROUND_DATABASE_URL"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   # no 0/O or 1/I to misread on a projector
CODE_LENGTH = 8
CURVE_POINTS = 200        # per-epoch points a run keeps for the teacher's chart
MAX_RUNS_PER_STUDENT = 200
MIGRATIONS = Path(__file__).parent / "migrations"


class ClassError(ValueError):
    """A class that cannot be joined or viewed; the message says why in the user's words."""


@dataclass(frozen=True)
class Ticket:
    """A student's membership, kept by their browser session: who they are, and the key to rejoin."""
    class_code: str
    student_id: int
    name: str
    secret: str


@dataclass(frozen=True)
class RunRecord:
    run_id: int
    student: str
    epochs: int
    metric: float | None
    best: float | None
    reached_at: int | None
    updated_at: datetime
    curve: pd.DataFrame          # epoch, train_loss, test_loss (thinned)


def database_url() -> str:
    """$PLAYGROUND_DATABASE_URL, or SQLite in the data folder ($PLAYGROUND_DATA_DIR)."""
    from ..data.images import cache_dir

    if url := os.environ.get(DATABASE_ENV):
        return url
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'classroom.sqlite'}"


_STORES: dict[str, "Store"] = {}
_STORES_LOCK = threading.Lock()
_MIGRATE_LOCK = threading.Lock()  # one migration at a time: Alembic's context is process-global


def open_store(url: str | None = None) -> "Store":
    """The store at `url` (default: database_url()), one per process and URL, migrated to the newest schema."""
    url = url or database_url()   # raises ClassError (a database it cannot use), opening nothing
    with _STORES_LOCK:
        if url not in _STORES:
            _STORES[url] = Store(url)
        return _STORES[url]


def _database_errors_said(method):
    """A store method whose database failure (unreachable, locked too long) is a ClassError in plain words."""
    @functools.wraps(method)
    def call(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except OperationalError as e:
            raise ClassError(f"the class's database did not answer ({str(e.orig)[:80]}); try again in a moment") \
                from None
    return call


class Store:
    def __init__(self, url: str):
        self.engine = _engine(url)
        migrate(self.engine)

    @_database_errors_said
    def create_class(self, lesson: Lesson) -> tuple[str, str]:
        """A new class doing `lesson`: (its code, the teacher's key). The key is not stored: show it once."""
        key = secrets.token_urlsafe(18)
        with Session(self.engine) as db:
            for _ in range(5):   # a code already taken (about never): draw another
                code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
                db.add(ClassRow(code=code, lesson_json=lesson.to_json(), teacher_key_hash=_hash(key),
                                created_at=_now()))
                try:
                    db.commit()
                    return code, key
                except IntegrityError:
                    db.rollback()
        raise ClassError("no free class code was found; try again")

    @_database_errors_said
    def lesson_of(self, code: str) -> Lesson:
        with Session(self.engine) as db:
            return Lesson.from_json(self._class(db, code).lesson_json)

    @_database_errors_said
    def solution_shown(self, code: str) -> bool:
        """Whether the teacher has revealed the lesson's solution to the class."""
        with Session(self.engine) as db:
            return self._class(db, code).solution_shown

    @_database_errors_said
    def show_solution(self, code: str, teacher_key: str, shown: bool) -> None:
        with Session(self.engine) as db:
            self._teacher_class(db, code, teacher_key).solution_shown = shown
            db.commit()

    @_database_errors_said
    def join(self, code: str, name: str, secret: str | None = None) -> Ticket:
        """Join class `code` as `name`; a name already taken in the class needs its rejoin key (`secret`)."""
        name = clean_name(name)
        with Session(self.engine) as db:
            row = self._class(db, code)
            student = db.scalar(select(StudentRow).where(StudentRow.class_id == row.id, StudentRow.name == name))
            if student is not None:
                if secret is None or not hmac.compare_digest(student.secret_hash, _hash(secret)):
                    raise ClassError(f"someone in this class is already called {name}: pick another name, or give "
                                     "the rejoin key you were shown when you joined")
                return Ticket(row.code, student.id, name, secret)
            secret = secrets.token_urlsafe(9)
            student = StudentRow(class_id=row.id, name=name, secret_hash=_hash(secret), joined_at=_now())
            db.add(student)
            try:
                db.commit()
            except IntegrityError:   # the same name joined a moment ago from elsewhere
                db.rollback()
                raise ClassError(f"someone in this class is already called {name}: pick another name") from None
            return Ticket(row.code, student.id, name, secret)

    @_database_errors_said
    def record_run(self, ticket: Ticket, run_key: str, spec: ExperimentSpec, history: pd.DataFrame,
                   status: GoalStatus) -> None:
        """Save (or update) one of the student's runs: its experiment, its thinned curve and its goal status."""
        values = dict(experiment_json=spec.to_json(), curve_json=_curve_json(history), epochs=len(history),
                      metric=status.current, best=status.best, reached_at=status.reached_at if status.reached else None,
                      updated_at=_now())
        with Session(self.engine) as db:
            row = db.scalar(select(RunRow).where(RunRow.student_id == ticket.student_id, RunRow.run_key == run_key))
            if row is None:
                count = db.query(RunRow).filter(RunRow.student_id == ticket.student_id).count()
                if count >= MAX_RUNS_PER_STUDENT:
                    return
                db.add(RunRow(student_id=ticket.student_id, run_key=run_key, **values))
            else:
                for key, value in values.items():
                    setattr(row, key, value)
            db.commit()

    @_database_errors_said
    def my_runs(self, ticket: Ticket) -> list[RunRecord]:
        """The student's own runs, and no one else's."""
        with Session(self.engine) as db:
            rows = db.execute(select(RunRow, StudentRow.name).join(StudentRow)
                              .where(RunRow.student_id == ticket.student_id).order_by(RunRow.id)).all()
            return [_record(run, name) for run, name in rows]

    @_database_errors_said
    def class_runs(self, code: str, teacher_key: str) -> tuple[Lesson, list[str], list[RunRecord]]:
        """The teacher's view: (the lesson, every student's name, every run), with the teacher's key only."""
        with Session(self.engine) as db:
            row = self._teacher_class(db, code, teacher_key)
            names = list(db.scalars(select(StudentRow.name).where(StudentRow.class_id == row.id)
                                    .order_by(StudentRow.id)))
            runs = db.execute(select(RunRow, StudentRow.name).join(StudentRow)
                              .where(StudentRow.class_id == row.id).order_by(RunRow.id)).all()
            return Lesson.from_json(row.lesson_json), names, [_record(run, name) for run, name in runs]

    @_database_errors_said
    def run_experiment(self, code: str, teacher_key: str, run_id: int) -> ExperimentSpec:
        """A run's experiment, exactly as it ran (the teacher opens it in their own playground)."""
        with Session(self.engine) as db:
            row = self._teacher_class(db, code, teacher_key)
            run = db.scalar(select(RunRow).join(StudentRow).where(RunRow.id == run_id, StudentRow.class_id == row.id))
            if run is None:
                raise ClassError("this class has no such run")
            return ExperimentSpec.from_json(run.experiment_json)

    def _class(self, db: Session, code: str) -> ClassRow:
        row = db.scalar(select(ClassRow).where(ClassRow.code == normal_code(code)))
        if row is None:
            raise ClassError("there is no class with this code: check it with your teacher")
        return row

    def _teacher_class(self, db: Session, code: str, teacher_key: str) -> ClassRow:
        row = self._class(db, code)
        if not hmac.compare_digest(row.teacher_key_hash, _hash(teacher_key or "")):
            raise ClassError("this is not the teacher's key for this class")
        return row


def clean_name(name: str) -> str:
    """A display name as stored: printable, single-spaced, 1 to MAX_NAME_CHARS characters; else ClassError."""
    text = " ".join("".join(c for c in str(name) if unicodedata.category(c)[0] != "C").split())
    if not text:
        raise ClassError("type a display name")
    if len(text) > MAX_NAME_CHARS:
        raise ClassError(f"a display name has at most {MAX_NAME_CHARS} characters")
    return text


def normal_code(code: str) -> str:
    return "".join(str(code).split()).upper()[:CODE_LENGTH * 2]


def migrate(engine: Engine) -> None:
    """Bring the schema to Alembic's newest revision (a new database gets every table)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with _MIGRATE_LOCK, engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except (CommandError, RevisionError) as e:   # e.g. a database a newer version of the app migrated further
        raise ClassError(f"the class database cannot be used by this version of the app ({e}); update the app, "
                         f"or point {DATABASE_ENV} at another database") from None


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(connection, _record) -> None:   # readers and one writer at once: a class writes while it reads
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA foreign_keys=ON")
    return engine


def _curve_json(history: pd.DataFrame) -> str:
    rows = history[["epoch", "train_loss", "test_loss"]]
    stride = max(1, -(-len(rows) // CURVE_POINTS))
    thinned = pd.concat([rows.iloc[:-1:stride], rows.iloc[-1:]]) if len(rows) else rows
    return json.dumps({k: [None if pd.isna(v) else float(v) for v in thinned[k]] for k in thinned})


def _record(run: RunRow, name: str) -> RunRecord:
    return RunRecord(run.id, name, run.epochs, run.metric, run.best, run.reached_at, run.updated_at,
                     pd.DataFrame(json.loads(run.curve_json)))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
