"""``aggregator poll``: one round over every enabled feed, then exit (cron-friendly)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from aggregator.commands.base import app, say, user_errors, warn

if TYPE_CHECKING:
    from collections.abc import Callable

    from aggregator.config import Settings
    from aggregator.models import FeedRunResult
    from aggregator.store.values import FeedState

NAME_WIDTH = 24
HOLD_WRITES = 60.0  # seconds a finished run waits for an unavailable database before giving up


def line(feed: FeedState, r: FeedRunResult) -> str:
    """One feed's outcome, as a person reads it."""
    from aggregator.models import RunStatus

    if r.status is RunStatus.NEW:
        label = f"new {r.new}" + (f", updated {r.updated}" if r.updated else "")
    elif r.status is RunStatus.UPDATED:
        label = f"updated {r.updated}"
    elif r.status is RunStatus.UNCHANGED:
        label = "0 entries" if r.seen == 0 else "unchanged"
    elif r.status is RunStatus.NOT_MODIFIED:
        label = "not modified"
    elif r.status is RunStatus.GONE:
        label = f"gone (polling stopped): {r.error}"
    elif r.status is RunStatus.DEFERRED:
        label = f"deferred: {r.error}"
    elif r.status is RunStatus.BUSY:
        label = f"skipped: {r.error}"
    else:
        label = f"error: {r.error}"
    return f"{feed.name:<{NAME_WIDTH}} {label}"


def summary(results: list[FeedRunResult], total: int) -> str:
    tally = Counter(r.status for r in results)
    new = sum(r.new for r in results)
    parts = ", ".join(f"{n} {s.value.replace('_', ' ')}" for s, n in sorted(tally.items()))
    head = f"{len(results)} feeds" if len(results) == total else f"{len(results)} of {total} feeds"
    return f"{head}: {new} new entries; {parts}" if parts else f"{head}: nothing to do"


@app.command()
def poll() -> None:
    """Fetch every enabled feed once, store new entries, group them into stories, exit.

    Prints a line per feed as it finishes (new / updated / not modified / error). Exits 0 when
    the round ran, even if some feeds failed; non-zero only for configuration (3) or database
    (4) errors. Feeds a running `aggregator run` is fetching at that moment are skipped.

    Examples:

      aggregator poll

      aggregator --config ~/news/feeds.yaml poll
    """
    import asyncio

    from aggregator.commands.base import load_settings

    results: list[FeedRunResult] = []
    total: list[int] = []

    def report(feed: FeedState, r: FeedRunResult) -> None:
        results.append(r)
        say(line(feed, r))

    with user_errors():
        settings = load_settings()
        try:
            asyncio.run(_round(settings, report, total.append))
        except KeyboardInterrupt:
            n = total[0] if total else len(results)
            warn(
                f"interrupted after {len(results)} of {n} feeds; the database is consistent "
                "(each feed run is one transaction: the unfinished ones left nothing behind)"
            )
            say(summary(results, n))
            raise SystemExit(130) from None
    say(summary(results, total[0] if total else len(results)))


async def _round(
    settings: Settings, report: Callable[[FeedState, FeedRunResult], None], count: Callable[[int], None]
) -> None:
    """Open the database, sync feeds.yaml, run the round, apply retention; with ``-v``, how long
    each stage took (start-up counts from the first import of the package)."""
    import asyncio
    import logging
    import time

    from aggregator import STARTED
    from aggregator.clock import utcnow
    from aggregator.cluster.retention import expire
    from aggregator.cluster.state import ClusterState
    from aggregator.pipeline.leases import owner_name
    from aggregator.pipeline.round import poll_round
    from aggregator.pipeline.runner import Runner
    from aggregator.wiring import dedup_settings, open_database, runner_settings, sync_config

    log = logging.getLogger("aggregator.poll")
    mark = time.perf_counter()

    def took(stage: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        log.info("%s: %.3f s", stage, now - mark)
        mark = now

    log.info("start-up (imports, configuration): %.3f s", mark - STARTED)
    loop = asyncio.get_running_loop()
    database = await loop.run_in_executor(None, open_database, settings)
    took("database opened, schema checked")
    try:
        states = await loop.run_in_executor(None, sync_config, database, settings, utcnow())
        feeds = [s for s in states if s.enabled]
        count(len(feeds))
        took(f"feeds.yaml synced ({len(feeds)} enabled feeds)")
        cluster = ClusterState(dedup_settings(settings))
        rs = runner_settings(lambda: settings, owner_name(), hold_writes=HOLD_WRITES)
        async with Runner(database, cluster, rs) as runner:
            await poll_round(runner, feeds, concurrency=settings.polling.concurrency, on_result=report)
            took("round (fetch, parse, store, cluster)")
            keep = settings.retention.entries
            if keep is not None:
                now = utcnow()
                await runner.write(expire, database, cluster, now - keep, now)
                took("retention")
        took("parser processes and threads stopped")
        if cluster.loaded_in is not None:
            log.info("dedup index loaded in %.3f s (during the round)", cluster.loaded_in)
    finally:
        database.close()
