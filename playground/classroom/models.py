"""The classroom's tables: classes, the students who joined them, and each student's runs."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

MAX_NAME_CHARS = 40


class Base(DeclarativeBase):
    pass


class ClassRow(Base):
    __tablename__ = "classes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True, index=True)   # what students type to join
    lesson_json: Mapped[str] = mapped_column(Text)
    teacher_key_hash: Mapped[str] = mapped_column(String(64))                # sha256 of the key, never the key
    created_at: Mapped[datetime] = mapped_column(DateTime)
    solution_shown: Mapped[bool] = mapped_column(Boolean, server_default=false())  # the teacher revealed it


class StudentRow(Base):
    __tablename__ = "students"
    __table_args__ = (UniqueConstraint("class_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_CHARS))
    secret_hash: Mapped[str] = mapped_column(String(64))                     # to rejoin from another session
    joined_at: Mapped[datetime] = mapped_column(DateTime)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("student_id", "run_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    run_key: Mapped[str] = mapped_column(String(40))                         # the student's run, across reports
    experiment_json: Mapped[str] = mapped_column(Text)                       # exactly as it ran, changes included
    curve_json: Mapped[str] = mapped_column(Text)                            # per-epoch losses, thinned
    epochs: Mapped[int] = mapped_column(Integer)
    metric: Mapped[float | None] = mapped_column(Float, nullable=True)       # the goal's metric, latest
    best: Mapped[float | None] = mapped_column(Float, nullable=True)
    reached_at: Mapped[int | None] = mapped_column(Integer, nullable=True)   # epoch the goal was reached
    updated_at: Mapped[datetime] = mapped_column(DateTime)
