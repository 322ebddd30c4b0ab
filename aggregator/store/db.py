"""Database engine, sessions and migrations.

SQLite is the embedded default (WAL, a busy timeout, foreign keys on); PostgreSQL (psycopg 3) is
for several processes or machines. Migrations are applied programmatically, under a lock, so two
processes starting on an empty database do not both create it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from aggregator.errors import StoreError

log = logging.getLogger(__name__)

ADVISORY_LOCK_ID = 0x61676772  # "aggr": PostgreSQL advisory lock held while migrating


def open_engine(url: str) -> Engine:
    """Create an engine for ``url`` with the settings this project relies on."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError for junk
        raise StoreError(f"invalid database URL {url!r}: {exc}") from exc
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            folder = Path(db).expanduser().resolve().parent
            if not folder.is_dir():
                raise StoreError(
                    f"the folder of the SQLite database {db!r} does not exist ({folder}); "
                    "create it or set `database:` in feeds.yaml"
                )
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy issue BEGIN itself (see _sqlite_begin): pysqlite's implicit transactions
    # would otherwise defer the write lock and break "one transaction per feed run".
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Write transactions start IMMEDIATE: a deferred one that reads before it writes cannot wait
    # for the lock (SQLite answers "database is locked" at once to avoid a deadlock).
    mode = conn.get_execution_options().get("sqlite_begin", "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


def session_factory(engine: Engine, *, write: bool = True) -> sessionmaker[Session]:
    """Sessions for writing (the default) or for reading only (they never take the write lock)."""
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if write else engine
    return sessionmaker(bind, expire_on_commit=False, autoflush=False)


# --------------------------------------------------------------------------- migrations
def _script_location() -> str:
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


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", _script_location())
    return cfg


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_ID})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_ID})
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

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, verb)(cfg, target)


def upgrade(engine: Engine, target: str = "head") -> tuple[str | None, str | None]:
    """Apply migrations up to ``target``; returns (revision before, revision after)."""
    try:
        with _migration_lock(engine):
            before = current_revision(engine)
            _run(engine, "upgrade", target)
            return before, current_revision(engine)
    except SQLAlchemyError as exc:
        raise StoreError(f"migrating the database failed: {exc}") from exc


def downgrade(engine: Engine, target: str = "base") -> None:
    try:
        with _migration_lock(engine):
            _run(engine, "downgrade", target)
    except SQLAlchemyError as exc:
        raise StoreError(f"downgrading the database failed: {exc}") from exc


def ensure_schema(engine: Engine) -> None:
    """Bring the schema to head on first use; refuse a database from a newer version."""
    try:
        current = current_revision(engine)
        head = head_revision(engine)
        if current == head:
            return
        if current is None and _has_foreign_tables(engine):
            raise StoreError(
                "the database already holds tables that are not aggregator's; "
                "point `database:` at an empty database"
            )
        log.info("migrating database from %s to %s", current or "empty", head)
        upgrade(engine)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open the database {engine.url!r}: {exc}") from exc


def _has_foreign_tables(engine: Engine) -> bool:
    names = set(inspect(engine).get_table_names())
    return bool(names - {"alembic_version"}) and "feeds" not in names
