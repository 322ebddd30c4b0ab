"""The polling side of the service: a tick that leases due feeds and runs them, retention.

The schedule lives in the database (each feed's ``next_check_at`` and lease): a one-second tick
leases as many due feeds as there are free slots and hands each to the ``Runner``. Several
processes on one PostgreSQL database share the feeds this way without fetching one twice.
While the database is unavailable the tick leases nothing (the runner's ``Outage`` says when it
is back); runs in flight keep what they fetched and write it then.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aggregator.clock import utcnow
from aggregator.cluster.retention import expire
from aggregator.cluster.state import ClusterState, release_free_memory
from aggregator.daemon.live import LiveSettings
from aggregator.errors import AggregatorError, DatabaseUnavailable
from aggregator.metrics import Metrics
from aggregator.models import FeedRunResult, RunStatus
from aggregator.pipeline.leases import release_dead_owners
from aggregator.pipeline.runner import Runner
from aggregator.pipeline.schedule import first_check
from aggregator.store import feeds as feed_repo
from aggregator.store.values import FeedState
from aggregator.wiring import sync_config

log = logging.getLogger("aggregator.daemon")
feed_log = logging.getLogger("aggregator.feed")

TICK_SECONDS = 1.0
SWEEP_SECONDS = 30.0  # how often leases of this machine's dead processes are looked for
ONE: dict[str, Any] = {"max_instances": 1, "coalesce": True}


class Poller:
    def __init__(
        self, live: LiveSettings, runner: Runner, cluster: ClusterState, metrics: Metrics, rng: random.Random
    ) -> None:
        self.live, self.runner, self.cluster, self.metrics, self.rng = live, runner, cluster, metrics, rng
        self.inflight: set[asyncio.Task[None]] = set()
        self.last_success: float | None = None
        self.stopping = False
        self._scheduler: Any = None
        self._next_sweep = 0.0

    def start(self, watch: Callable[[], Awaitable[None]]) -> None:
        """Start the jobs: the tick, ``watch`` (the configuration watcher), hourly retention."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(timezone="UTC")
        # misfire_grace_time is explicit: APScheduler's 1 s default silently skips late runs.
        now = datetime.now().astimezone()
        scheduler.add_job(self.tick, "interval", seconds=TICK_SECONDS, misfire_grace_time=30, **ONE)
        scheduler.add_job(watch, "interval", seconds=2, misfire_grace_time=30, **ONE)
        scheduler.add_job(
            self.maintenance, "interval", hours=1, misfire_grace_time=3600, next_run_time=now, **ONE
        )
        scheduler.start()
        self._scheduler = scheduler

    @property
    def database(self) -> Any:
        return self.runner.database

    # ------------------------------------------------------------------ configuration
    async def sync(self) -> None:
        """Feed rows to match the configuration; new feeds get a first check, spread out."""
        await self.runner.write(self._sync)

    def _sync(self) -> None:
        settings = self.live.current
        now = utcnow()
        states = sync_config(self.database, settings, now)
        first = [
            (s.id, first_check(now, self.runner.settings.policy(s), self.rng))
            for s in states
            if s.next_check_at is None and not s.gone
        ]
        if first:
            with self.database.transaction("scheduling new feeds") as tx:
                feed_repo.set_next_check(tx, first)

    # ------------------------------------------------------------------ the tick
    async def tick(self) -> None:
        if self.stopping or self.runner.outage.down:
            return
        free = self.live.current.polling.concurrency - len(self.inflight)
        if free <= 0:
            return
        try:
            leased = await self.runner.write(self._claim, free)
        except DatabaseUnavailable as exc:
            self.runner.outage.report(exc)
            return
        for feed in leased:
            task = asyncio.create_task(self._run(feed))
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)

    def _claim(self, limit: int) -> list[FeedState]:
        now = utcnow()
        if time.monotonic() >= self._next_sweep:  # a dead neighbour's feeds need not wait out its lease
            self._next_sweep = time.monotonic() + SWEEP_SECONDS
            release_dead_owners(self.database, now)
            release_free_memory()  # runs free what they parsed and placed; give the pages back
        with self.database.transaction("leasing due feeds") as tx:
            return feed_repo.claim_due(
                tx,
                now=now,
                owner=self.runner.settings.owner,
                lease=self.runner.settings.lease,
                limit=limit,
            )

    async def _run(self, feed: FeedState) -> None:
        started = time.monotonic()
        result = await self.runner.run(feed)
        self._observe(feed, result, time.monotonic() - started)

    def _observe(self, feed: FeedState, r: FeedRunResult, seconds: float) -> None:
        m = self.metrics
        m.polls.labels(r.status.value).inc()
        m.fetch_seconds.observe(r.duration or seconds)
        m.bytes.inc(r.bytes)
        m.entries.inc(r.new)
        m.stories.inc(r.new_stories)
        m.merged.inc(max(0, r.new - r.new_stories))
        failed = r.status in (RunStatus.ERROR, RunStatus.GONE)
        if failed:
            if feed.error_count == 0:  # entering backoff
                m.backoff.inc()
        else:
            self.last_success = time.monotonic()
            m.last_round.set_to_current_time()
            if feed.error_count:
                m.backoff.dec()
        event = {
            "feed": feed.name,
            "url": feed.url,
            "status": r.status.value,
            "http": r.http_status,
            "new": r.new,
            "updated": r.updated,
            "duration_ms": round(seconds * 1000),
        }
        if r.error:
            event["error"] = r.error
        feed_log.log(logging.WARNING if failed else logging.INFO, "feed run", extra={"event": event})

    # ------------------------------------------------------------------ maintenance
    async def maintenance(self) -> None:
        keep = self.live.current.retention.entries
        if keep is None:
            return
        try:
            removed = await self.runner.write(self._expire, keep)
        except AggregatorError as exc:
            log.error("retention failed: %s", exc)
            return
        if removed:
            log.info("retention: removed %d entries first stored more than %s ago", removed, keep)

    def _expire(self, keep: timedelta) -> int:
        now = utcnow()
        return expire(self.database, self.cluster, now - keep, now)

    # ------------------------------------------------------------------ stop
    async def stop(self, grace: float) -> None:
        """Lease nothing more; give runs in flight ``grace`` seconds, then give leases back."""
        self.stopping = True
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self.inflight:
            log.info("stopping: waiting up to %.0f s for %d feed runs in flight", grace, len(self.inflight))
            _, pending = await asyncio.wait(self.inflight, timeout=grace)
            self.runner.stop()
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)
        try:
            await self.runner.write(self._release_all)
        except AggregatorError as exc:
            log.warning("leases not given back (%s); they expire in %s", exc, self.runner.settings.lease)

    def _release_all(self) -> None:
        with self.database.transaction("giving leases back") as tx:
            feed_repo.release_all(tx, self.runner.settings.owner)

    def health(self) -> dict[str, Any]:
        return {
            "scheduler": bool(self._scheduler is not None and self._scheduler.running),
            "last_success_age_s": round(time.monotonic() - self.last_success, 1)
            if self.last_success
            else None,
            "inflight": len(self.inflight),
            "database_outage": self.runner.outage.down,
        }
