"""``aggregator poll``: one round over every enabled feed, then exit (cron-friendly)."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from aggregator.app import Database, open_database, run_round, sync_config, utcnow
from aggregator.commands.base import app, err, load_settings, out, user_errors
from aggregator.config import Settings
from aggregator.models import FeedRunResult, RunStatus
from aggregator.store.values import FeedState


def _line(feed: FeedState, r: FeedRunResult) -> str:
    label = {
        RunStatus.NEW: f"new {r.new}" + (f", updated {r.updated}" if r.updated else ""),
        RunStatus.UPDATED: f"updated {r.updated}",
        RunStatus.UNCHANGED: "unchanged",
        RunStatus.NOT_MODIFIED: "not modified",
        RunStatus.ERROR: f"error: {r.error}",
        RunStatus.GONE: f"gone (polling stopped): {r.error}",
        RunStatus.DEFERRED: f"deferred: {r.error}",
    }[r.status]
    return f"{feed.name:<24} {label}"


@app.command()
def poll() -> None:
    """Fetch every enabled feed once, store new entries, group them into stories, exit.

    Prints one line per feed (new / updated / not modified / error). Exits 0 when the round
    ran, even if some feeds failed; non-zero only for configuration (3) or database (4) errors.

    Examples:

      aggregator poll

      aggregator --config ~/news/feeds.yaml poll
    """
    with user_errors():
        settings = load_settings()
        with open_database(settings) as database:
            states = sync_config(database, settings, utcnow())
            feeds = [s for s in states if s.enabled]
            results = asyncio.run(_poll_with_progress(settings, database, feeds))
    tally = Counter(r.status for r in results)
    new = sum(r.new for r in results)
    out.print(
        f"{len(results)} feeds: {new} new entries; "
        + ", ".join(f"{n} {s.value.replace('_', ' ')}" for s, n in sorted(tally.items())),
        markup=False,
    )


async def _poll_with_progress(
    settings: Settings, database: Database, feeds: list[FeedState]
) -> list[FeedRunResult]:
    lines: list[str] = []
    if sys.stderr.isatty():
        with Progress(
            TextColumn("polling"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=err,
            transient=True,
        ) as progress:
            task = progress.add_task("", total=len(feeds))

            def tick(feed: FeedState, r: FeedRunResult) -> None:
                lines.append(_line(feed, r))
                progress.update(task, advance=1, description=feed.name)

            results = await run_round(settings, database, feeds, on_result=tick)
        for line in lines:
            out.print(line, markup=False)
        return results

    def plain(feed: FeedState, r: FeedRunResult) -> None:
        out.print(_line(feed, r), markup=False)

    return await run_round(settings, database, feeds, on_result=plain)
