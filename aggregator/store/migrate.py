"""Alembic, applied programmatically and under a lock, for ``aggregator db upgrade`` and first use.

Imported only when the schema is not current (Alembic takes half a second to import). Two
processes starting together on an empty database take turns: the second finds the schema
current once it gets the lock, and neither logs a migration it did not make.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from aggregator.errors import StoreError
from aggregator.store.db import translate

log = logging.getLogger("aggregator.store")
logging.getLogger("alembic").setLevel(logging.WARNING)  # our own line says what happened

MIGRATION_LOCK = 0x61676772  # "aggr": PostgreSQL advisory lock held while migrating


def script_location() -> str:
    """Where the migrations are: inside the installed package, else the source tree's alembic/.

    A wheel ships the top-level ``alembic/`` folder as ``aggregator/migrations`` (see
    pyproject.toml). It is a folder of files, not an importable package (an ``__init__.py``
    there would make the source tree's ``alembic/`` shadow the Alembic library), so it is found
    beside this package's files, not through ``importlib.resources``.
    """
    installed = Path(__file__).resolve().parents[1] / "migrations"
    if (installed / "env.py").is_file():
        return str(installed)
    source = Path(__file__).resolve().parents[2] / "alembic"
    if (source / "env.py").is_file():
        return str(source)
    raise StoreError(
        f"the database migrations are missing (looked in {installed} and {source}); reinstall aggregator"
    )


def _config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", script_location())
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
                conn.commit()
        return
    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:":
        yield
        return
    with open(f"{db}.migrate-lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(engine: Engine, verb: str, target: str) -> None:
    from alembic import command

    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, verb)(cfg, target)


def upgrade(engine: Engine, target: str = "head") -> tuple[str | None, str | None]:
    """Apply migrations up to ``target``; returns (revision before, revision after)."""
    try:
        with _lock(engine):
            before = current_revision(engine)
            _run(engine, "upgrade", target)
            return before, current_revision(engine)
    except SQLAlchemyError as exc:
        raise translate(exc, "migrating the database failed") from exc


def downgrade(engine: Engine, target: str = "base") -> None:
    try:
        with _lock(engine):
            _run(engine, "downgrade", target)
    except SQLAlchemyError as exc:
        raise translate(exc, "downgrading the database failed") from exc


def upgrade_if_needed(engine: Engine, wanted: str) -> tuple[str | None, str] | None:
    """Migrate to ``wanted`` unless another process has done it meanwhile; refuse a database
    of another application or of a newer aggregator."""
    try:
        with _lock(engine):
            current = current_revision(engine)
            if current == wanted:
                return None
            if current is None and _has_foreign_tables(engine):
                raise StoreError(
                    "the database already holds tables that are not aggregator's; "
                    "point `database:` at an empty database"
                )
            known = _known_revisions()
            if current is not None and current not in known:
                raise StoreError(
                    f"the database is at schema revision {current}, which this aggregator does not "
                    "know (a newer version made it); upgrade aggregator"
                )
            _run(engine, "upgrade", "head")
            log.info("database migrated from %s to %s", current or "empty", wanted)
            return current, wanted
    except SQLAlchemyError as exc:
        raise translate(exc, f"cannot migrate the database {engine.url!r}") from exc


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}


def _has_foreign_tables(engine: Engine) -> bool:
    names = set(inspect(engine).get_table_names())
    return bool(names - {"alembic_version"}) and "feeds" not in names
