"""``aggregator feeds``: the configured feeds and their state."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table

from aggregator.app import open_database, sync_config, utcnow
from aggregator.commands.base import app, load_settings, out, user_errors
from aggregator.store import feeds as feed_repo


def _when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if t else "never"


@app.command()
def feeds() -> None:
    """List feeds with their state: last fetch, status, entries, errors, moves.

    Example:

      aggregator feeds
    """
    with user_errors():
        settings = load_settings()
        with open_database(settings) as database:
            sync_config(database, settings, utcnow())
            with database.sessions() as session:
                rows = feed_repo.feed_summaries(session)
    table = Table(box=None, pad_edge=False, show_edge=False)
    for col in ("name", "status", "last fetch", "last success", "entries", "errors", "url / problem"):
        table.add_column(col, overflow="fold")
    for row in rows:
        s = row.state
        status = s.last_status or "new"
        if not s.in_config:
            status = "removed"
        elif not s.enabled:
            status = "disabled"
        detail = s.url
        if s.moved_from:
            detail += f"  (moved from {s.moved_from})"
        if s.last_error:
            detail += f"\n{s.last_error}"
        if s.notes:
            detail += f"\n{s.notes}"
        table.add_row(
            s.name,
            status,
            _when(s.last_checked_at),
            _when(s.last_success_at),
            str(row.entries),
            str(s.error_count),
            detail,
        )
    out.print(table)
