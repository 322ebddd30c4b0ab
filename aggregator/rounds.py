"""A polling round: fetch many feeds concurrently, store them one at a time, in a stable order.

Fetching and parsing overlap freely; storing is serialised on one worker thread (one writer, one
transaction per feed) and follows the order of the feed list, so the same documents always
reach the dedup stage in the same order and a round's stories do not depend on network timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from aggregator.clustering import NearDuplicateMatcher
from aggregator.errors import FeedError
from aggregator.fetch import Fetcher
from aggregator.models import FeedRunResult, RunStatus
from aggregator.parse.pool import ParsePool
from aggregator.pipeline import Fetched, fetch_feed, ingest
from aggregator.store.values import FeedState

Clock = Callable[[], datetime]


def due_now(feed: FeedState, now: datetime) -> bool:
    """Whether a one-shot round should ask this feed (Retry-After is respected across runs)."""
    return feed.enabled and not feed.gone and (feed.retry_after is None or feed.retry_after <= now)


async def _guarded(
    feed: FeedState, fetcher: Fetcher, parser: ParsePool, clock: Clock, sem: asyncio.Semaphore
) -> Fetched | FeedError:
    async with sem:
        try:
            return await fetch_feed(feed, fetcher, parser, clock)
        except FeedError as exc:
            return exc


async def poll_round(
    feeds: Sequence[FeedState],
    *,
    fetcher: Fetcher,
    parser: ParsePool,
    sessions: sessionmaker[Session],
    clock: Clock,
    matcher: NearDuplicateMatcher | None = None,
    concurrency: int = 16,
    on_result: Callable[[FeedState, FeedRunResult], None] | None = None,
) -> list[FeedRunResult]:
    """Run every feed once; returns one result per feed, in the order given."""
    sem = asyncio.Semaphore(max(1, concurrency))
    now = clock()
    tasks: list[asyncio.Task[Fetched | FeedError] | None] = [
        asyncio.create_task(_guarded(f, fetcher, parser, clock, sem)) if due_now(f, now) else None
        for f in feeds
    ]
    results: list[FeedRunResult] = []
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest") as writer:
        try:
            for feed, task in zip(feeds, tasks, strict=True):
                if task is None:
                    result = _skipped(feed)
                else:
                    outcome = await task
                    result = await loop.run_in_executor(
                        writer, ingest, sessions, feed, outcome, clock(), matcher
                    )
                results.append(result)
                if on_result is not None:
                    on_result(feed, result)
        finally:
            for t in tasks:
                if t is not None and not t.done():
                    t.cancel()
    return results


def _skipped(feed: FeedState) -> FeedRunResult:
    if feed.gone:
        return FeedRunResult(feed.url, RunStatus.GONE, error=feed.last_error or "410 Gone")
    when = feed.retry_after.isoformat() if feed.retry_after else "later"
    return FeedRunResult(feed.url, RunStatus.DEFERRED, error=f"server asked not to retry before {when}")
