"""``aggregator feeds``: the configured feeds and their state."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from aggregator.app import open_database, sync_config, utcnow
from aggregator.commands.base import app, err, load_settings, out, state, user_errors
from aggregator.config import resolve_config_path
from aggregator.config_edit import add_feeds
from aggregator.errors import ConfigError
from aggregator.opml import Subscription, read_opml, write_opml
from aggregator.store import feeds as feed_repo


def _when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if t else "never"


feeds_app = typer.Typer(help="Feeds: list them (no subcommand), import or export OPML.")
app.add_typer(feeds_app, name="feeds")


@feeds_app.callback(invoke_without_command=True)
def feeds(ctx: typer.Context) -> None:
    """List feeds with their state: last fetch, status, entries, errors, moves.

    Examples:

      aggregator feeds

      aggregator feeds import subscriptions.opml

      aggregator feeds export > subscriptions.opml
    """
    if ctx.invoked_subcommand is not None:
        return
    with user_errors():
        settings = load_settings()
        with open_database(settings) as database:
            sync_config(database, settings, utcnow())
            with database.readers() as session:
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


@feeds_app.command("import")
def import_opml(
    file: Annotated[Path, typer.Argument(help="OPML file exported by a feed reader.")],
) -> None:
    """Add the subscriptions of an OPML file to feeds.yaml (comments and layout kept).

    Feeds already listed (same URL) are skipped; folders become tags.

    Example:

      aggregator feeds import ~/Downloads/subscriptions.opml
    """
    with user_errors():
        config = resolve_config_path(state.config, os.environ)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read it: {exc.strerror or exc}") from exc
        subs = read_opml(data, str(file))
        added = add_feeds(config, subs)
        load_settings()  # the edited file must still be valid
    err.print(f"added {len(added)} of {len(subs)} feeds to {config}", markup=False)


@feeds_app.command("export")
def export_opml() -> None:
    """Write the configured feeds as OPML to stdout.

    Example:

      aggregator feeds export > subscriptions.opml
    """
    with user_errors():
        settings = load_settings()
    subs = [Subscription(f.url, f.title or f.name, f.tags) for f in settings.feeds]
    sys.stdout.buffer.write(write_opml("aggregator subscriptions", subs))
