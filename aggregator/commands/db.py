"""``aggregator db upgrade``: apply database migrations."""

from __future__ import annotations

import typer

from aggregator.commands.base import EXIT_DATABASE, db_app, err, load_settings, out, user_errors
from aggregator.store import db
from aggregator.store.integrity import problems


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply migrations up to the newest schema (also done on first use of an empty database).

    Example:

      aggregator db upgrade
    """
    with user_errors():
        settings = load_settings()
        engine = db.open_engine(settings.database_url)
        try:
            before, after = db.upgrade(engine)
        finally:
            engine.dispose()
    if before == after:
        out.print(f"database already at {after}", markup=False)
    else:
        out.print(f"database migrated from {before or 'empty'} to {after}", markup=False)


@db_app.command("check")
def check() -> None:
    """Check the database: integrity, every entry in exactly one story, valid representatives.

    Exits 4 when a problem is found.

    Example:

      aggregator db check
    """
    with user_errors():
        settings = load_settings()
        engine = db.open_engine(settings.database_url)
        try:
            db.ensure_schema(engine)
            with db.session_factory(engine, write=False)() as session:
                found = problems(session)
        finally:
            engine.dispose()
    for p in found:
        err.print(p, markup=False)
    if found:
        raise typer.Exit(EXIT_DATABASE)
    out.print("database is consistent", markup=False)
