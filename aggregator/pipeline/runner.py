"""Runs feeds: the tools every run shares, and where each part of a run happens.

One ``Runner`` per process serves both ``poll`` and the daemon. Fetching happens on the event
loop (aiohttp), parsing and normalising in worker processes (one per core), and every write on
one writer thread: a document's run is a transaction of its own; runs that only update the
feed row (304, unchanged body, error) are gathered and written together, one transaction for
all that finished meanwhile (a round of 1,000 304s is a handful of commits, not 1,000).

When the database is unavailable, a finished run keeps what it fetched and waits for it to
come back, then writes it: nothing fetched is lost to an outage. One ``Outage`` tracks the
database for the whole process, so a hundred runs failing at once are one outage, probed with
a growing interval (capped at a few seconds, so work resumes soon after the database is back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeGuard, TypeVar

from aggregator.clock import utcnow
from aggregator.cluster.state import ClusterState
from aggregator.errors import DatabaseUnavailable, FeedError, StoreError
from aggregator.fetch import Fetcher, FetchSettings
from aggregator.models import FeedRunResult, RunStatus
from aggregator.pipeline.feedrun import Fetched, fetch, settle, store_document
from aggregator.pipeline.leases import LEASE
from aggregator.pipeline.schedule import Policy
from aggregator.pipeline.workers import WorkerPool
from aggregator.store import Database
from aggregator.store import entries as entry_repo
from aggregator.store import feeds as feed_repo
from aggregator.store.values import FeedState, RunRecord

log = logging.getLogger("aggregator.runner")
T = TypeVar("T")

PROBE_FIRST, PROBE_MAX = 0.5, 3.0  # seconds between pings of an unavailable database


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    fetch: FetchSettings
    owner: str  # this process's name on the leases it holds
    policy: Callable[[FeedState], Policy]  # the polling policy of a feed (configuration may change)
    parse_timeout: float = 30.0
    workers: int | None = None  # parser processes (None: one per core)
    hold_writes: float | None = None  # how long a finished run waits for the database (None: until stop)
    lease: timedelta = LEASE  # how long a claimed feed stays this process's


class Outage:
    """Whether the database answers, for the whole process; waiters are released together."""

    def __init__(self, ping: Callable[[], Awaitable[bool]]) -> None:
        self._ping = ping
        self._up = asyncio.Event()
        self._up.set()
        self._prober: asyncio.Task[None] | None = None
        self._since = 0.0
        self.outages = 0

    @property
    def down(self) -> bool:
        return not self._up.is_set()

    def report(self, exc: BaseException) -> None:
        """A write failed for want of the database (many may report the same outage)."""
        if self.down:
            return
        self.outages += 1
        self._since = time.monotonic()
        self._up.clear()
        log.error("database unavailable (%s); holding finished runs until it answers", str(exc)[:300])
        self._prober = asyncio.create_task(self._probe())

    async def _probe(self) -> None:
        delay = PROBE_FIRST
        while True:
            await asyncio.sleep(delay)
            if await self._ping():
                log.warning("database reachable again after %.1f s", time.monotonic() - self._since)
                self._up.set()
                return
            delay = min(delay * 2, PROBE_MAX)

    async def wait(self, timeout: float | None) -> bool:
        """Wait until the database answers; False when ``timeout`` ran out first."""
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()


class Runner:
    """Use as ``async with Runner(database, cluster, settings) as runner: await runner.run(feed)``."""

    def __init__(
        self,
        database: Database,
        cluster: ClusterState,
        settings: RunnerSettings,
        *,
        clock: Callable[[], Any] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.database, self.cluster, self.settings = database, cluster, settings
        self.clock, self.rng = clock, rng or random.Random()
        self.fetcher = Fetcher(settings.fetch)
        self.pool = WorkerPool(settings.workers, settings.parse_timeout)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
        self._reader = ThreadPoolExecutor(max_workers=2, thread_name_prefix="db-reader")
        self.outage = Outage(self._ping)
        self._pending: list[tuple[RunRecord, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._warming: asyncio.Future[None] | None = None
        self._stopping = asyncio.Event()

    async def __aenter__(self) -> Runner:
        await self.fetcher.__aenter__()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        self.outage.close()
        await self.fetcher.__aexit__(et, e, tb)
        if self._warming is not None:
            await self._warming  # it reads the database, which the caller closes next
        await asyncio.get_running_loop().run_in_executor(None, self._close_threads)

    def _close_threads(self) -> None:
        self._writer.shutdown(wait=True)  # a transaction in progress commits or rolls back
        self._reader.shutdown(wait=True)
        self.pool.close()

    def stop(self) -> None:
        """Runs waiting for the database give up (a stop was asked for)."""
        self._stopping.set()

    # ------------------------------------------------------------------ threads
    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a database function on the writer thread (claims, retention, runs)."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._reader, fn, *args)

    async def _ping(self) -> bool:
        return await self.read(self.database.ping)

    # ------------------------------------------------------------------ a run
    async def run(self, feed: FeedState, slot: asyncio.Semaphore | None = None) -> FeedRunResult:
        """Run one leased feed to the end; a feed's failure is a result, never an exception.

        ``slot`` (optional) is held while the run fetches, parses and stores a document, and
        given back before a run that only updates the feed row waits for its batched write:
        so a round of 304s keeps ``concurrency`` requests in flight while their rows are
        written together, and parsed documents in memory stay bounded by the slots."""
        started = time.monotonic()
        async with slot or contextlib.nullcontext():
            try:
                outcome: Fetched | FeedError = await fetch(
                    feed, self.fetcher, self.pool, self._known, self.clock(), prework=self.cluster.enabled
                )
            except FeedError as exc:
                outcome = exc
            stored = await self._store(feed, outcome) if _is_document(outcome) else None
        result = stored or await self._store(feed, outcome)
        return result if result.duration else replace(result, duration=time.monotonic() - started)

    def _prewarm(self) -> None:
        """A document is about to be parsed: load the dedup engine meanwhile, on a thread of its
        own, so its first store does not wait for the index (a round of 304s never gets here)."""
        if self._warming is not None or not self.cluster.enabled or self.cluster.engine is not None:
            return

        def warm() -> None:
            try:
                self.cluster.warm(self.database)
            except Exception as exc:  # the run that needs it loads it again, and reports it
                log.debug("loading the dedup index ahead failed: %s", exc)

        self._warming = asyncio.get_running_loop().run_in_executor(None, warm)

    async def _known(self, feed_id: int) -> frozenset[str]:
        self._prewarm()

        def read() -> frozenset[str]:
            with self.database.reading() as tx:
                return entry_repo.known_raw_hashes(tx, feed_id)

        try:
            return await self.read(read)
        except StoreError:  # then every entry is normalised: slower, never wrong
            return frozenset()

    async def _store(self, feed: FeedState, outcome: Fetched | FeedError) -> FeedRunResult:
        hold = self.settings.hold_writes
        deadline = None if hold is None else time.monotonic() + hold
        while True:
            try:
                if _is_document(outcome):
                    return await self.write(self._store_document, feed, outcome)
                record, result = settle(
                    feed,
                    outcome,
                    now=self.clock(),
                    policy=self.settings.policy(feed),
                    rng=self.rng,
                    owner=self.settings.owner,
                )
                await self._record(record)
                return result
            except DatabaseUnavailable as exc:
                self.outage.report(exc)
                if not await self._wait_for_database(deadline):
                    return FeedRunResult(feed.url, RunStatus.ERROR, error=f"not stored: {exc}")
            except StoreError as exc:
                log.error("storing %s failed: %s", feed.url, exc)
                outcome = FeedError(feed.url, f"storing failed: {exc}")

    def _store_document(self, feed: FeedState, fetched: Fetched) -> FeedRunResult:
        return store_document(
            self.database,
            self.cluster,
            feed,
            fetched,
            now=self.clock(),
            policy=self.settings.policy(feed),
            rng=self.rng,
            owner=self.settings.owner,
        )

    async def _wait_for_database(self, deadline: float | None) -> bool:
        if self._stopping.is_set():
            return False
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        up = asyncio.create_task(self.outage.wait(timeout))
        stop = asyncio.create_task(self._stopping.wait())
        done, _ = await asyncio.wait({up, stop}, return_when=asyncio.FIRST_COMPLETED)
        for t in (up, stop):
            t.cancel()
        return up in done and not up.cancelled() and up.result() and not self._stopping.is_set()

    # ------------------------------------------------------------------ runs that touch only the feed row
    async def _record(self, record: RunRecord) -> None:
        """Write a feed row with the others that finished meanwhile (one transaction)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # let runs finishing in the same instant join the batch
            batch, self._pending = self._pending, []
            try:
                await self.write(self._write_records, [r for r, _ in batch])
            except asyncio.CancelledError:
                for _, f in batch:
                    f.cancel()
                raise
            except Exception as exc:  # each waiting run decides what to do with it
                for _, f in batch:
                    if not f.done():
                        f.set_exception(exc)
            else:
                for _, f in batch:
                    if not f.done():
                        f.set_result(None)

    def _write_records(self, records: list[RunRecord]) -> None:
        with self.database.transaction("recording feed runs") as tx:
            feed_repo.record_runs(tx, records)


def _is_document(outcome: Fetched | FeedError) -> TypeGuard[Fetched]:
    """Whether a run has a document to store (entries, stories), not only its feed row."""
    return isinstance(outcome, Fetched) and outcome.digest is not None
