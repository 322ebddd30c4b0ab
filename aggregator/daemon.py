"""``aggregator run``: the long-running service. Polls on schedule, serves the combined feeds.

The schedule lives in the database (each feed's ``next_check_at`` and lease); APScheduler only
runs a short tick that claims due feeds, a config watcher and a maintenance job. Fetching and
parsing overlap on the event loop and a parser process; every database write happens on one
worker thread, one transaction per feed run, so a stop (SIGTERM/SIGINT) lets the run in progress
commit or roll back and never leaves half-written data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import SQLAlchemyError

from aggregator.app import Database, expire, fetch_settings, sync_config, utcnow
from aggregator.config import FeedConfig, Settings, load_config
from aggregator.dedup_matcher import StoreMatcher, build_matcher
from aggregator.errors import AggregatorError, ConfigError, FeedError, StoreError
from aggregator.fetch import Fetcher
from aggregator.metrics import Metrics
from aggregator.models import FeedRunResult, RunStatus
from aggregator.parse.pool import ParsePool
from aggregator.pipeline import Fetched, fetch_feed, ingest
from aggregator.schedule import Observation, Policy, first_check, next_check
from aggregator.store import db
from aggregator.store import feeds as feed_repo
from aggregator.store.values import FeedState
from aggregator.web import WebState, build_app

log = logging.getLogger("aggregator.daemon")
feed_log = logging.getLogger("aggregator.feed")
T = TypeVar("T")

TICK_SECONDS = 1.0
LEASE = timedelta(minutes=5)  # a run longer than this is presumed dead; its feed is reclaimed
STOP_GRACE = 8.0  # seconds in-flight runs get to finish after SIGTERM
DB_RETRY_MAX = 60.0


def policy_for(settings: Settings, feed: FeedConfig | None) -> Policy:
    p = settings.polling
    interval = feed.interval if feed and feed.interval else p.interval
    # An interval set for a feed is its own floor when shorter than the default floor.
    floor = min(p.min_interval, interval)
    return Policy(interval=interval, floor=floor, ceiling=max(p.max_interval, interval))


class Daemon:
    def __init__(
        self,
        config_path: Path,
        env: Mapping[str, str],
        *,
        poll: bool,
        serve: bool,
        host: str | None,
        port: int | None,
    ) -> None:
        self.config_path, self.env = config_path, env
        self.poll, self.serve = poll, serve
        self.settings = load_config(config_path, env)
        self.host = host or self.settings.server.host
        self.port = self.settings.server.port if port is None else port
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.metrics = Metrics()
        self.rng = random.Random()
        self.stopping = asyncio.Event()
        self.inflight: set[asyncio.Task[None]] = set()
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
        self.last_success: float | None = None
        self.db_retry_at = 0.0
        self.db_failures = 0
        self._mtime = self._config_mtime()
        self.database: Database | None = None
        self.matcher: StoreMatcher | None = None
        self.fetcher: Fetcher | None = None
        self.parser: ParsePool | None = None
        self.scheduler: AsyncIOScheduler | None = None

    # ------------------------------------------------------------------ plumbing
    def _config_mtime(self) -> float:
        try:
            return self.config_path.stat().st_mtime
        except OSError:
            return 0.0

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a database function on the single writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self.writer, fn, *args)

    def health(self) -> dict[str, Any]:
        report: dict[str, Any] = {"polling": self.poll}
        if self.poll:
            running = self.scheduler is not None and self.scheduler.running
            report["scheduler"] = running
            report["last_success_age_s"] = (
                round(time.monotonic() - self.last_success, 1) if self.last_success else None
            )
            report["inflight"] = len(self.inflight)
        return report

    # ------------------------------------------------------------------ lifecycle
    async def main(self) -> int:
        engine = db.open_engine(self.settings.database_url)
        db.ensure_schema(engine)
        self.database = Database.of(engine)
        await self._db(self._startup_sync)
        runner: web.AppRunner | None = None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload("SIGHUP")))
        try:
            if self.poll:
                await self._start_polling()
            if self.serve:
                runner = await self._start_web()
            await self.stopping.wait()
            log.info(
                "stopping: no new feed runs; waiting up to %.0f s for %d in flight",
                STOP_GRACE,
                len(self.inflight),
            )
        finally:
            await self._shutdown(runner)
        return 0

    def _startup_sync(self) -> None:
        assert self.database is not None
        started = time.monotonic()
        states = sync_config(self.database, self.settings, utcnow())
        self._seed_first_checks(states)
        if self.poll:
            self.matcher = build_matcher(self.settings, self.database)
            n = len(self.matcher.engine) if self.matcher else 0
            log.info("dedup index ready: %d entries in %.1f s", n, time.monotonic() - started)

    def _seed_first_checks(self, states: list[FeedState]) -> None:
        assert self.database is not None
        now = utcnow()
        with self.database.sessions.begin() as session:
            for s in states:
                if s.next_check_at is None and not s.gone:
                    pol = policy_for(self.settings, self.settings.feed(s.name))
                    feed_repo.set_next_check(session, s.id, first_check(now, pol, self.rng))

    async def _start_polling(self) -> None:
        self.fetcher = await Fetcher(fetch_settings(self.settings)).__aenter__()
        self.parser = ParsePool(workers=1, timeout=self.settings.polling.timeout.total_seconds())
        sched = AsyncIOScheduler(timezone="UTC")
        # misfire_grace_time is explicit: APScheduler's 1 s default silently skips late runs.
        sched.add_job(
            self.tick,
            "interval",
            seconds=TICK_SECONDS,
            id="tick",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=30,
        )
        sched.add_job(
            self.watch_config,
            "interval",
            seconds=2,
            id="config",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=30,
        )
        sched.add_job(
            self.maintenance,
            "interval",
            hours=1,
            id="maintenance",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
            next_run_time=datetime.now().astimezone(),
        )
        sched.start()
        self.scheduler = sched

    async def _start_web(self) -> web.AppRunner:
        assert self.database is not None
        state = WebState(lambda: self.settings, self.database, self.metrics, self.health)
        runner = web.AppRunner(build_app(state), access_log=None, shutdown_timeout=2)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1] if site._server else self.port  # type: ignore[attr-defined]
        log.info("serving on http://%s:%s/ (feeds at /feeds/<output>.atom|.rss|.json)", self.host, bound)
        print(f"serving on http://{self.host}:{bound}/", flush=True)
        return runner

    async def _shutdown(self, runner: web.AppRunner | None) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.inflight:
            _, pending = await asyncio.wait(self.inflight, timeout=STOP_GRACE)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1)
        if self.database is not None:
            with contextlib.suppress(SQLAlchemyError):
                await self._db(self._release_all)
        if self.fetcher is not None:
            await self.fetcher.__aexit__(None, None, None)
        if self.parser is not None:
            self.parser.close()
        if runner is not None:
            await runner.cleanup()
        self.writer.shutdown(wait=True)
        if self.database is not None:
            self.database.close()
        log.info("stopped")

    def _release_all(self) -> None:
        assert self.database is not None
        with self.database.sessions.begin() as session:
            feed_repo.release_all(session, self.owner)

    # ------------------------------------------------------------------ jobs
    async def tick(self) -> None:
        if self.stopping.is_set() or time.monotonic() < self.db_retry_at:
            return
        free = self.settings.polling.concurrency - len(self.inflight)
        if free <= 0:
            return
        try:
            states = await self._db(self._claim, free)
        except (SQLAlchemyError, StoreError) as exc:
            self._database_down(exc)
            return
        if self.db_failures:
            log.warning("database reachable again after %d failed attempts", self.db_failures)
            self.db_failures = 0
        for state in states:
            task = asyncio.create_task(self._run_feed(state))
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)

    def _database_down(self, exc: Exception) -> None:
        self.db_failures += 1
        wait = min(DB_RETRY_MAX, 2.0 ** min(self.db_failures, 6))
        self.db_retry_at = time.monotonic() + wait
        log.error("database unavailable (%s); retrying in %.0f s", str(exc).splitlines()[0][:200], wait)

    def _claim(self, limit: int) -> list[FeedState]:
        assert self.database is not None
        now = utcnow()
        with self.database.sessions.begin() as session:
            ids = feed_repo.claim_due(session, now=now, owner=self.owner, lease=LEASE, limit=limit)
            return [feed_repo.get_feed(session, i) for i in sorted(ids)]

    async def _run_feed(self, state: FeedState) -> None:
        assert self.fetcher is not None and self.parser is not None
        started = time.monotonic()
        outcome: Fetched | FeedError
        try:
            outcome = await fetch_feed(state, self.fetcher, self.parser, utcnow)
        except FeedError as exc:
            outcome = exc
        try:
            result = await self._db(self._store_and_schedule, state, outcome)
        except (SQLAlchemyError, StoreError) as exc:
            self._database_down(exc)
            return
        self._observe(state, result, time.monotonic() - started)

    def _store_and_schedule(self, state: FeedState, outcome: Fetched | FeedError) -> FeedRunResult:
        assert self.database is not None
        now = utcnow()
        if self.matcher is not None:
            with self.database.readers() as session:
                self.matcher.catch_up(session)
        try:
            result = ingest(self.database.sessions, state, outcome, now, self.matcher)
        except StoreError:
            # The run rolled back, but the in-memory index already holds its entries: reload it
            # from what the database really has before the next run uses it.
            if self.matcher is not None:
                with contextlib.suppress(SQLAlchemyError, StoreError):
                    self.matcher = build_matcher(self.settings, self.database)
            raise
        with self.database.sessions.begin() as session:
            fresh = feed_repo.get_feed(session, state.id)
            seen = Observation(
                ok=result.status not in (RunStatus.ERROR, RunStatus.GONE),
                gone=result.status is RunStatus.GONE,
                error_count=fresh.error_count,
                retry_after=result.retry_after,
                cache_lifetime=timedelta(seconds=result.cache_seconds) if result.cache_seconds else None,
                ttl=timedelta(seconds=fresh.ttl_seconds) if fresh.ttl_seconds else None,
                recent_published=feed_repo.recent_published(session, state.id),
            )
            pol = policy_for(self.settings, self.settings.feed(state.name))
            when = next_check(now, pol, seen, self.rng)
            feed_repo.release(session, state.id, owner=self.owner, next_check_at=when)
        return result

    def _observe(self, state: FeedState, r: FeedRunResult, seconds: float) -> None:
        m = self.metrics
        m.polls.labels(r.status.value).inc()
        m.fetch_seconds.observe(r.duration or seconds)
        m.bytes.inc(r.bytes)
        m.entries.inc(r.new)
        m.stories.inc(r.new_stories)
        m.merged.inc(max(0, r.new - r.new_stories))
        if r.status in (RunStatus.ERROR, RunStatus.GONE):
            if state.error_count == 0:  # entering backoff
                m.backoff.inc()
        else:
            self.last_success = time.monotonic()
            m.last_round.set_to_current_time()
            if state.error_count:
                m.backoff.dec()
        event = {
            "feed": state.name,
            "url": state.url,
            "status": r.status.value,
            "http": r.http_status,
            "new": r.new,
            "updated": r.updated,
            "duration_ms": round(seconds * 1000),
        }
        if r.error:
            event["error"] = r.error
        level = logging.WARNING if r.status in (RunStatus.ERROR, RunStatus.GONE) else logging.INFO
        feed_log.log(level, "feed run", extra={"event": event})

    async def watch_config(self) -> None:
        mtime = self._config_mtime()
        if mtime != self._mtime:
            self._mtime = mtime
            await self.reload("file changed")

    async def reload(self, why: str) -> None:
        try:
            settings = load_config(self.config_path, self.env)
        except ConfigError as exc:
            log.error("feeds.yaml not reloaded (%s): %s — keeping the running configuration", why, exc)
            return
        self.settings = settings
        try:
            await self._db(self._startup_sync_after_reload)
        except (SQLAlchemyError, StoreError) as exc:
            self._database_down(exc)
            return
        log.info(
            "configuration reloaded (%s): %d feeds, %d outputs",
            why,
            len(settings.feeds),
            len(settings.outputs),
        )

    def _startup_sync_after_reload(self) -> None:
        assert self.database is not None
        self._seed_first_checks(sync_config(self.database, self.settings, utcnow()))

    async def maintenance(self) -> None:
        keep = self.settings.retention.entries
        if keep is None or self.database is None:
            return
        try:
            removed = await self._db(expire, self.database, self.matcher, utcnow() - keep)
        except (SQLAlchemyError, AggregatorError) as exc:
            log.error("retention failed: %s", exc)
            return
        if removed:
            log.info("retention: removed %d entries first stored more than %s ago", removed, keep)


def run_daemon(config_path: Path, env: Mapping[str, str], **kwargs: Any) -> int:
    daemon = Daemon(config_path, env, **kwargs)
    return asyncio.run(daemon.main())
