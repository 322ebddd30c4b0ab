"""A one-shot polling round (``aggregator poll``): every enabled feed once, now.

A round leases its feeds like the daemon does, a chunk at a time as slots free up, so a poll
beside a running daemon, or two overlapping polls from cron, never fetch a feed twice: a feed
another process holds is skipped and reported. Results are reported as each feed finishes,
not in configuration order, so one slow server holds nobody up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

from aggregator.models import FeedRunResult, RunStatus
from aggregator.pipeline.leases import release_dead_owners
from aggregator.pipeline.runner import Runner, RunnerSettings
from aggregator.store import feeds as feed_repo
from aggregator.store.values import FeedState

CLAIM_CHUNK = 128  # feeds leased per transaction, at most
CLAIM_AHEAD = 4  # lease up to this many rounds of ``concurrency`` ahead of the running runs


def skipped(feed: FeedState, now: datetime) -> FeedRunResult:
    """Why a round could not lease a feed."""
    if feed.gone:
        return FeedRunResult(feed.url, RunStatus.GONE, error=feed.last_error or "410 Gone")
    if feed.retry_after and feed.retry_after > now:
        when = feed.retry_after.isoformat(timespec="seconds")
        return FeedRunResult(
            feed.url, RunStatus.DEFERRED, error=f"the server asked not to retry before {when}"
        )
    return FeedRunResult(feed.url, RunStatus.BUSY, error="another aggregator process is fetching it now")


async def poll_round(
    runner: Runner,
    feeds: Sequence[FeedState],
    *,
    concurrency: int,
    on_result: Callable[[FeedState, FeedRunResult], None] | None = None,
) -> list[tuple[FeedState, FeedRunResult]]:
    """Run every feed in ``feeds`` once; returns (feed, result) in the order they finished.

    ``concurrency`` runs fetch (and parse and store) at once; up to ``leased_ahead`` of them
    may be leased, waiting for a slot or for their feed row's batched write."""
    owner = runner.settings.owner
    slots = asyncio.Semaphore(concurrency)
    ahead = leased_ahead(runner.settings, concurrency)
    waiting = list(feeds)
    running: dict[asyncio.Task[FeedRunResult], FeedState] = {}
    results: list[tuple[FeedState, FeedRunResult]] = []

    def report(feed: FeedState, result: FeedRunResult) -> None:
        results.append((feed, result))
        if on_result is not None:
            on_result(feed, result)

    await runner.write(release_dead_owners, runner.database, runner.clock())
    try:
        while waiting or running:
            room = ahead - len(running)
            if waiting and room >= min(ahead // 2, len(waiting)):
                # Lease no more than can run soon (a lease outlives a few runs of its slot, not
                # a whole long round), but enough per transaction that claiming stays cheap.
                size = min(CLAIM_CHUNK, room)
                chunk, waiting = waiting[:size], waiting[size:]
                now = runner.clock()
                claimed = await runner.write(_claim, runner, [f.id for f in chunk], now, owner)
                got = {s.id for s in claimed}
                for feed in chunk:
                    if feed.id not in got:
                        report(feed, skipped(feed, now))
                for feed in claimed:  # each waits for one of the slots
                    running[asyncio.create_task(runner.run(feed, slots))] = feed
            if not running:
                continue
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                report(running.pop(task), task.result())
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        unfinished = [f.id for f in running.values()]
        if unfinished:  # interrupted: give the leases back so the next round may take them
            await runner.write(_release, runner, unfinished, owner)
    return results


def leased_ahead(settings: RunnerSettings, concurrency: int) -> int:
    """How many feeds a round may hold leased at once: up to ``CLAIM_AHEAD`` rounds of its slots,
    but no more rounds than the lease outlasts runs cut off at their deadlines (fetch, then
    parse), so no lease can expire while its feed waits for a slot."""
    longest = settings.fetch.total_timeout + settings.parse_timeout
    rounds = int(settings.lease.total_seconds() // max(1.0, longest))
    return concurrency * max(1, min(CLAIM_AHEAD, rounds))


def _claim(runner: Runner, ids: list[int], now: datetime, owner: str) -> list[FeedState]:
    with runner.database.transaction("leasing feeds") as tx:
        return feed_repo.claim_ids(tx, ids, now=now, owner=owner, lease=runner.settings.lease)


def _release(runner: Runner, ids: list[int], owner: str) -> None:
    with runner.database.transaction("releasing leases") as tx:
        feed_repo.release(tx, ids, owner)
