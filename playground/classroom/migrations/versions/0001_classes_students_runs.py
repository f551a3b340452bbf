"""Classes, students and their runs.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "classes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("lesson_json", sa.Text, nullable=False),
        sa.Column("teacher_key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False))
    op.create_index("ix_classes_code", "classes", ["code"], unique=True)
    op.create_table(
        "students",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("class_id", sa.Integer, sa.ForeignKey("classes.id"), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("joined_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("class_id", "name"))
    op.create_index("ix_students_class_id", "students", ["class_id"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("student_id", sa.Integer, sa.ForeignKey("students.id"), nullable=False),
        sa.Column("run_key", sa.String(40), nullable=False),
        sa.Column("experiment_json", sa.Text, nullable=False),
        sa.Column("curve_json", sa.Text, nullable=False),
        sa.Column("epochs", sa.Integer, nullable=False),
        sa.Column("metric", sa.Float, nullable=True),
        sa.Column("best", sa.Float, nullable=True),
        sa.Column("reached_at", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("student_id", "run_key"))
    op.create_index("ix_runs_student_id", "runs", ["student_id"])


def downgrade() -> None:
    op.drop_table("runs")
    op.drop_table("students")
    op.drop_table("classes")
