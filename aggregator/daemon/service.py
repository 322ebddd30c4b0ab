"""``aggregator run`` / ``serve``: the long-running service, put together and taken apart.

Roles: ``run`` polls and serves, ``run --no-serve`` only polls (a worker), ``serve`` only serves
(a front end); any number of each may share one PostgreSQL database. APScheduler runs three
short jobs — the tick that leases due feeds, the configuration watcher, hourly retention — and
never holds per-feed jobs: the schedule is in the database. SIGTERM/SIGINT stop leasing, let
runs in flight finish (up to ``STOP_GRACE`` seconds; each is one transaction, so an interrupted
one rolls back) and exit; SIGHUP re-reads feeds.yaml.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aggregator.clock import utcnow
from aggregator.cluster.state import ClusterState
from aggregator.daemon.live import LiveSettings
from aggregator.daemon.poller import Poller
from aggregator.errors import AggregatorError, DatabaseUnavailable
from aggregator.metrics import Metrics
from aggregator.pipeline.leases import owner_name
from aggregator.pipeline.runner import Runner
from aggregator.store import Database
from aggregator.wiring import dedup_settings, open_database, runner_settings, sync_config

log = logging.getLogger("aggregator.daemon")

STOP_GRACE = 8.0  # seconds in-flight runs get to finish after SIGTERM
START_RETRY = 2.0  # seconds between attempts to reach the database at start


@dataclass(frozen=True, slots=True)
class Roles:
    poll: bool
    serve: bool
    host: str | None = None
    port: int | None = None


async def _open(live: LiveSettings, stopping: asyncio.Event) -> Database | None:
    """Open the database, waiting for it while it is unavailable (a service starting with the
    machine may come up before its database)."""
    while True:
        try:
            return open_database(live.current)
        except DatabaseUnavailable as exc:
            log.error("database unavailable at start (%s); retrying in %.0f s", exc, START_RETRY)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), START_RETRY)
        if stopping.is_set():
            return None


async def serve_forever(live: LiveSettings, roles: Roles) -> int:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    database = await _open(live, stopping)
    if database is None:
        return 0
    metrics = Metrics()
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(database.close)
        poller: Poller | None = None
        if roles.poll:
            poller = await _start_polling(live, database, metrics, stack)
            loop.add_signal_handler(
                signal.SIGHUP, lambda: asyncio.ensure_future(_reload(live, poller, "SIGHUP"))
            )
        else:
            await loop.run_in_executor(None, sync_config, database, live.current, utcnow())
        if roles.serve:
            await _start_web(live, database, metrics, poller, roles, stack)
        await stopping.wait()
        if poller is not None:
            await poller.stop(STOP_GRACE)
    log.info("stopped")
    return 0


async def _start_polling(
    live: LiveSettings, database: Database, metrics: Metrics, stack: contextlib.AsyncExitStack
) -> Poller:
    cluster = ClusterState(dedup_settings(live.current))
    settings = runner_settings(live, owner_name(), hold_writes=None)
    runner = await stack.enter_async_context(Runner(database, cluster, settings))
    poller = Poller(live, runner, cluster, metrics, random.Random())
    await poller.sync()

    async def watch() -> None:  # a coroutine function: APScheduler awaits it on the loop
        if live.changed_on_disk():
            await _reload(live, poller, "file changed")

    poller.start(watch)
    return poller


async def _reload(live: LiveSettings, poller: Poller, why: str) -> None:
    if live.reload(why) is None:
        return
    try:
        await poller.sync()
    except AggregatorError as exc:
        log.error("the feeds table was not updated after the reload: %s", exc)


async def _start_web(
    live: LiveSettings,
    database: Database,
    metrics: Metrics,
    poller: Poller | None,
    roles: Roles,
    stack: contextlib.AsyncExitStack,
) -> None:
    from aiohttp import web

    from aggregator.web import Site, build_app

    def health() -> dict[str, Any]:
        return {"polling": False} if poller is None else {"polling": True, **poller.health()}

    site = Site(live, database, metrics, health)
    runner = web.AppRunner(build_app(site), access_log=None, shutdown_timeout=2)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    host = roles.host or live.current.server.host
    port = live.current.server.port if roles.port is None else roles.port
    tcp = web.TCPSite(runner, host, port)
    try:
        await tcp.start()
    except OSError as exc:
        raise AggregatorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; use --port") from exc
    bound = tcp._server.sockets[0].getsockname()[1] if tcp._server else port  # type: ignore[attr-defined]
    log.info("serving on http://%s:%s/ (feeds at /feeds/<output>.atom|.rss|.json)", host, bound)
    print(f"serving on http://{host}:{bound}/", flush=True)


def run_service(config_path: Path, env: Mapping[str, str], roles: Roles) -> int:
    live = LiveSettings(config_path, env)
    return asyncio.run(serve_forever(live, roles))
