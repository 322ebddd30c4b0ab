"""``aggregator feeds``: the configured feeds and their state; add, import and export feeds."""

from __future__ import annotations

import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aggregator.commands.base import (
    EXIT_USAGE,
    app,
    config_path,
    fail,
    load_settings,
    say,
    user_errors,
    warn,
)

if TYPE_CHECKING:
    from aggregator.store.values import FeedSummary

feeds_app = typer.Typer(help="Feeds: list them (no subcommand), add one, import or export OPML.")
app.add_typer(feeds_app, name="feeds")
WIDTH = 80


def _when(t: datetime | None) -> str:
    return t.strftime("%m-%d %H:%M") if t else "never"


def _status(row: FeedSummary) -> str:
    s = row.state
    if not s.in_config:
        return "removed"
    if not s.enabled:
        return "disabled"
    return (s.last_status or "new").replace("_", " ")


def table(rows: list[FeedSummary], width: int = WIDTH) -> list[str]:
    """The feeds as lines that fit ``width`` columns: one line of figures per feed, then its
    address and any problem, indented and wrapped."""
    name_w = max(12, min(24, max((len(r.state.name) for r in rows), default=4)))
    head = f"{'feed':<{name_w}} {'status':<12} {'last success':<12} {'entries':>7} {'errors':>6}"
    out = [head]
    for r in rows:
        s = r.state
        name = s.name if len(s.name) <= name_w else s.name[: name_w - 1] + "…"
        status, success = _status(r)[:12], _when(s.last_success_at)
        out.append(f"{name:<{name_w}} {status:<12} {success:<12} {r.entries:>7} {s.error_count:>6}")
        notes = [s.url]
        if s.moved_from:
            notes.append(f"moved from {s.moved_from}")
        if s.last_error:
            notes.append(f"error: {s.last_error}")
        if s.notes:
            notes.append(s.notes)
        for note in notes:
            out.extend(
                textwrap.wrap(
                    note, width, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False
                )
            )
    return out


@feeds_app.callback(invoke_without_command=True)
def feeds(ctx: typer.Context) -> None:
    """List feeds with their state: last success, status, entries, errors, moves, problems.

    Examples:

      aggregator feeds

      aggregator feeds add https://example.com/blog/ --tag blogs

      aggregator feeds import subscriptions.opml

      aggregator feeds export > subscriptions.opml
    """
    if ctx.invoked_subcommand is not None:
        return
    from aggregator.clock import utcnow
    from aggregator.store import feeds as feed_repo
    from aggregator.wiring import open_database, sync_config

    with user_errors():
        settings = load_settings()
        database = open_database(settings)
        try:
            sync_config(database, settings, utcnow())
            with database.reading() as tx:
                rows = feed_repo.feed_summaries(tx)
        finally:
            database.close()
    for line in table(rows):
        say(line)


@feeds_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="The feed's address, or a web page that advertises its feed.")],
    title: Annotated[
        str | None, typer.Option("--title", help="Title to show (default: the feed's own).")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag for outputs (repeatable).")] = None,
) -> None:
    """Add a feed to feeds.yaml (comments and layout kept; the file is created if missing).

    Given a web page rather than a feed, the feed the page advertises is added.

    Examples:

      aggregator feeds add https://www.theguardian.com/world/rss --tag en

      aggregator feeds add https://blog.example.org/ --title "Example blog"
    """
    import asyncio

    from aggregator.config.edit import add_feeds
    from aggregator.config.opml import Subscription
    from aggregator.config.settings import check_url

    with user_errors():
        try:
            url = check_url(url)
        except ValueError as exc:
            fail(EXIT_USAGE, f"usage error: {exc}")
        found, feed_title = asyncio.run(_discover(url))
        if found != url:
            warn(f"{url} is a web page; it advertises the feed {found}")
        path = config_path()
        added = add_feeds(path, [Subscription(found, title or feed_title, tuple(tag or ()))])
        load_settings()  # the edited file must still be valid
    if added:
        warn(f"added {found} to {path}")
    else:
        warn(f"{found} is in {path} already")


async def _discover(url: str) -> tuple[str, str | None]:
    """The feed at ``url`` (following a page's advertised feed) and its title."""
    from aggregator import USER_AGENT
    from aggregator.fetch import Fetcher, FetchSettings
    from aggregator.models import FeedDiscovery, FetchRequest
    from aggregator.normalise import plain_title
    from aggregator.parse import parse

    async with Fetcher(FetchSettings(user_agent=USER_AGENT)) as fetcher:
        for _ in range(2):
            result = await fetcher.fetch(FetchRequest(url))
            doc = parse(result.body or b"", result.headers, result.final_url)
            if isinstance(doc, FeedDiscovery):
                url = doc.feed_url
                continue
            return result.final_url if result.permanent_url else url, plain_title(
                doc.title, doc.title_is_html
            ) or None
    from aggregator.errors import ParseError

    raise ParseError(url, "the page advertises a page, not a feed")


@feeds_app.command("import")
def import_opml(
    file: Annotated[Path, typer.Argument(help="OPML file exported by a feed reader.")],
) -> None:
    """Add the subscriptions of an OPML file to feeds.yaml (comments and layout kept).

    Feeds already listed (same URL) are skipped; folders become tags. A missing feeds.yaml is
    created.

    Example:

      aggregator feeds import ~/Downloads/subscriptions.opml
    """
    from aggregator.config.edit import add_feeds
    from aggregator.config.opml import read_opml
    from aggregator.errors import ConfigError

    with user_errors():
        path = config_path()
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read it: {exc.strerror or exc}") from exc
        subs = read_opml(data, str(file))
        added = add_feeds(path, subs)
        load_settings()  # the edited file must still be valid
    warn(f"added {len(added)} of {len(subs)} feeds to {path}")


@feeds_app.command("export")
def export_opml() -> None:
    """Write the configured feeds as OPML to stdout (tags as folders).

    Example:

      aggregator feeds export > subscriptions.opml
    """
    from aggregator.config.opml import Subscription, write_opml

    with user_errors():
        settings = load_settings()
    subs = [Subscription(f.url, f.title or f.name, f.tags) for f in settings.feeds]
    sys.stdout.buffer.write(write_opml("aggregator subscriptions", subs))
