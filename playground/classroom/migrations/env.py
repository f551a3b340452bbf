"""Alembic's environment for the classroom store: migrations run on the connection the store passes in
(`playground.classroom.migrate`), or, from the command line (`alembic upgrade head`), on the URL the store
would use (alembic.ini at the repository root)."""
from alembic import context
from sqlalchemy import create_engine

from playground.classroom.models import Base

connection = context.config.attributes.get("connection")


def run(conn) -> None:
    context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    from playground.classroom import database_url

    with create_engine(database_url()).connect() as conn:
        run(conn)
