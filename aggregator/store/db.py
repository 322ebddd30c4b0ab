"""Opening the database, transactions, and the translation of driver errors.

SQLite is the embedded default (WAL, a busy timeout, foreign keys on, write transactions
``BEGIN IMMEDIATE``); PostgreSQL (psycopg 3) is for several processes or machines. Every
transaction goes through ``Database.transaction()`` or ``Database.reading()``: they are the
only places that open one, and they turn SQLAlchemy's and the driver's exceptions into the
project's (``DatabaseUnavailable`` for what passes — an outage, a restart, a lock held too
long — and ``StoreError`` for the rest), so no caller outside ``store/`` sees SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from aggregator.errors import DatabaseUnavailable, StoreError
from aggregator.store.schema import meta

log = logging.getLogger(__name__)

Tx = Connection  # an open transaction; repository functions take one and never commit
CLUSTER_LOCK = 0x61676763  # "aggc": PostgreSQL advisory lock held while a run forms stories


@dataclass(frozen=True, slots=True)
class DatabaseOptions:
    """How to connect: pool size (PostgreSQL; each process holds at most this many connections)
    and the longest a statement may run, or wait for a lock, before it is given up."""

    pool_size: int = 5
    statement_timeout: float = 30.0  # seconds


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0][:300]


def translate(exc: BaseException, doing: str) -> StoreError:
    """The project's error for a failure of SQLAlchemy or the driver while ``doing`` something."""
    transient = isinstance(exc, OperationalError | InterfaceError | PoolTimeout) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    cls = DatabaseUnavailable if transient else StoreError
    return cls(f"{doing}: {_first_line(exc)}")


class Database:
    """One database: its engine, transactions for writing and for reading, the schema check."""

    def __init__(self, url: str, options: DatabaseOptions | None = None) -> None:
        self.options = options or DatabaseOptions()
        try:
            parsed = make_url(url)
        except Exception as exc:  # sqlalchemy raises ArgumentError for junk
            raise StoreError(f"invalid database URL {url!r}: {exc}") from exc
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            _check_sqlite_folder(parsed.database)
            kwargs["connect_args"] = {"timeout": self.options.statement_timeout}
        else:
            kwargs.update(
                pool_pre_ping=True, pool_size=self.options.pool_size, max_overflow=2, pool_timeout=10
            )
            kwargs["connect_args"] = {"connect_timeout": 5}
        self.engine: Engine = create_engine(parsed, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", self._sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            event.listen(self.engine, "connect", self._postgres_session)
        self._writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self.url = self.engine.url.render_as_string(hide_password=True)

    # ------------------------------------------------------------------ connections
    def _sqlite_pragmas(self, dbapi_conn: Any, _record: Any) -> None:
        # SQLAlchemy issues BEGIN itself (see _sqlite_begin): pysqlite's implicit transactions
        # would defer the write lock and break "one transaction per feed run".
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(self.options.statement_timeout * 1000)}")
        # Persistent: once set, later connections find the file in WAL mode. It fails while
        # another process creates the file, and that process sets it.
        with contextlib.suppress(sqlite3.OperationalError):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    def _postgres_session(self, dbapi_conn: Any, _record: Any) -> None:
        # A statement (or a wait for a lock) that outlives this is cancelled, so a stuck
        # database fails a run instead of hanging a worker.
        ms = int(self.options.statement_timeout * 1000)
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        dbapi_conn.execute(f"SET statement_timeout = {ms}")
        dbapi_conn.execute(f"SET lock_timeout = {ms}")
        dbapi_conn.autocommit = autocommit

    @contextlib.contextmanager
    def transaction(self, doing: str = "writing to the database") -> Iterator[Tx]:
        """A write transaction: committed when the block ends, rolled back on any exception."""
        try:
            with self._writer.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise translate(exc, doing) from exc

    @contextlib.contextmanager
    def reading(self, doing: str = "reading the database") -> Iterator[Tx]:
        """A read-only transaction (never takes SQLite's write lock)."""
        try:
            with self.engine.connect() as conn:
                yield conn
                conn.rollback()
        except SQLAlchemyError as exc:
            raise translate(exc, doing) from exc

    def lock_clustering(self, tx: Tx) -> None:
        """Serialise story forming across processes until ``tx`` ends.

        PostgreSQL: a transaction-scoped advisory lock, so "catch up with the others' entries,
        decide, write" is one step whatever the number of workers (each holds it a few
        milliseconds; fetching and parsing go on meanwhile). SQLite: write transactions are
        already serialised by ``BEGIN IMMEDIATE``.
        """
        if self.dialect == "postgresql":
            tx.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CLUSTER_LOCK})

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ schema
    def ensure_schema(self) -> tuple[str | None, str] | None:
        """Bring the schema to the newest revision; returns (before, after) when it migrated.

        The usual case (already current) is one query and no Alembic import.
        """
        from aggregator.store.schema import SCHEMA_REVISION

        try:
            if self.revision() == SCHEMA_REVISION:
                return None
        except SQLAlchemyError as exc:
            raise translate(exc, f"cannot open the database {self.url}") from exc
        from aggregator.store import migrate

        return migrate.upgrade_if_needed(self.engine, SCHEMA_REVISION)

    def revision(self) -> str | None:
        """The schema revision recorded in the database (None for an empty database)."""
        with self.engine.connect() as conn:
            try:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except (OperationalError, DBAPIError) as exc:
                if _missing_table(exc):
                    return None
                raise


def _missing_table(exc: DBAPIError) -> bool:
    message = str(exc.orig).lower()
    return "no such table" in message or "does not exist" in message or "undefinedtable" in message


def _check_sqlite_folder(database: str | None) -> None:
    if not database or database == ":memory:":
        return
    folder = Path(database).expanduser().resolve().parent
    if not folder.is_dir():
        raise StoreError(
            f"the folder of the SQLite database {database!r} does not exist ({folder}); "
            "create it or set `database:` in feeds.yaml"
        )


def _sqlite_begin(conn: Any) -> None:
    # Write transactions start IMMEDIATE: a deferred one that reads before it writes cannot wait
    # for the lock (SQLite answers "database is locked" at once to avoid a deadlock).
    mode = conn.get_execution_options().get("sqlite_begin", "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


def upsert(tx: Tx, table: Any) -> Any:
    """``INSERT`` with the ``ON CONFLICT`` clauses of this connection's dialect."""
    if tx.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def once(build: Callable[[Tx], Any]) -> Callable[[Tx], Any]:
    """A statement built once per dialect (``build`` takes a transaction to learn it)."""
    made: dict[str, Any] = {}

    def get(tx: Tx) -> Any:
        stmt = made.get(tx.dialect.name)
        if stmt is None:
            stmt = made[tx.dialect.name] = build(tx)
        return stmt

    return get


# --------------------------------------------------------------------------- shared counters
# Statements of the hot path are built once: building a statement costs more than running it.
_COUNTER = select(meta.c.value).where(meta.c.key == bindparam("key"))
_COUNTERS = select(meta.c.key, meta.c.value)
_BUMP = update(meta).where(meta.c.key == bindparam("b_key")).values(value=meta.c.value + 1)
_BUMP = _BUMP.returning(meta.c.value)


def counter(tx: Tx, key: str) -> int:
    return int(tx.execute(_COUNTER, {"key": key}).scalar() or 0)


def counters(tx: Tx) -> dict[str, int]:
    """Every shared counter (one query)."""
    return {k: int(v) for k, v in tx.execute(_COUNTERS)}


def bump(tx: Tx, key: str = "changes") -> int:
    """Add one to a shared counter and return its new value."""
    return int(tx.execute(_BUMP, {"b_key": key}).scalar() or 0)
