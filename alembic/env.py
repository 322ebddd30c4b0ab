"""Alembic environment: one migration history for SQLite and PostgreSQL.

Run programmatically by ``aggregator db upgrade`` (and on first use of an empty database), which
passes an open connection in ``config.attributes["connection"]``; the ``alembic`` command line
works too, with ``-x url=...`` or AGGREGATOR_DATABASE_URL.
"""

from __future__ import annotations

import os

from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from aggregator.store.schema import metadata
from alembic import context

config = context.config
target_metadata = metadata


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "AGGREGATOR_DATABASE_URL", "sqlite:///aggregator.db"
    )
    engine = create_engine(url)
    with engine.connect() as conn:
        _migrate(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `aggregator db upgrade`")
run_migrations_online()
