"""``aggregator db upgrade`` and ``aggregator db check``; ``aggregator dedup rebuild``."""

from __future__ import annotations

import sys
import time

import typer

from aggregator.commands.base import EXIT_DATABASE, db_app, dedup_app, load_settings, say, user_errors, warn


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply migrations up to the newest schema (also done on first use of an empty database).

    Example:

      aggregator db upgrade
    """
    from aggregator.store import migrate
    from aggregator.wiring import open_database

    with user_errors():
        settings = load_settings()
        database = open_database(settings, migrate=False)
        try:
            before, after = migrate.upgrade(database.engine)
        finally:
            database.close()
    if before == after:
        say(f"database already at {after}")
    else:
        say(f"database migrated from {before or 'empty'} to {after}")


@db_app.command("check")
def check() -> None:
    """Check the database: integrity, every entry in exactly one story, valid representatives.

    Exits 4 when a problem is found.

    Example:

      aggregator db check
    """
    from aggregator.store.integrity import problems
    from aggregator.wiring import open_database

    with user_errors():
        settings = load_settings()
        database = open_database(settings)
        try:
            with database.reading() as tx:
                found = problems(tx)
        finally:
            database.close()
    for p in found:
        warn(p)
    if found:
        raise typer.Exit(EXIT_DATABASE)
    say("database is consistent")


class _Progress:
    """A progress line on a terminal (rewritten in place), else a line every few seconds."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.started = self.last = time.monotonic()

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        rate = done / max(now - self.started, 1e-6)
        text = f"{phase}: {done:,} of {total:,} entries ({rate:,.0f}/s)"
        if self.tty:
            sys.stderr.write("\r" + text + ("\n" if done >= total else ""))
            sys.stderr.flush()
        else:
            warn(text)
        if done >= total:
            self.started = now


@dedup_app.command("rebuild")
def rebuild() -> None:
    """Re-sign and re-cluster every stored entry (after a settings or version change).

    Deterministic: entries are replayed in order of publication, so the same database and
    settings always give the same stories. A story founded by the same entry as before keeps
    its id (so /story/ID links survive where stories do not change). Works in batches, one
    transaction each: an interrupted rebuild leaves consistent stories; run it again.

    Example:

      aggregator dedup rebuild
    """
    from aggregator.processes import REBUILD_PRELOAD, start_fork_server

    start_fork_server(REBUILD_PRELOAD)  # the workers' imports, on another core, during ours
    from aggregator.clock import utcnow
    from aggregator.cluster.rebuild import rebuild as rebuild_all
    from aggregator.wiring import dedup_settings, open_database

    with user_errors():
        settings = load_settings()
        database = open_database(settings)
        started = time.monotonic()
        try:
            n, stories_n = rebuild_all(database, dedup_settings(settings), utcnow(), _Progress())
        finally:
            database.close()
    seconds = time.monotonic() - started
    say(f"re-clustered {n} entries into {stories_n} stories in {seconds:.1f} s")
