"""A polling round's shape: how many requests are in flight, and how its leases are taken.

A round leases feeds a few slots ahead and lets a run that only updates its feed row (a 304)
give its slot back before that row is written, so the rows of many 304s share a transaction.
These tests hold the promises that come with it: never more than ``concurrency`` requests at
once, every feed run exactly once, every feed row written and its lease released.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from typer.testing import CliRunner

from aggregator.clock import utcnow
from aggregator.cluster.state import ClusterState
from aggregator.commands import app
from aggregator.config import load_config
from aggregator.dedup.settings import DedupSettings
from aggregator.models import RunStatus
from aggregator.pipeline.runner import Runner
from aggregator.store import Database, Tx
from aggregator.store import feeds as feed_repo
from aggregator.store.values import FeedState
from aggregator.wiring import dedup_settings, open_database, runner_settings, sync_config
from tests.httpserver import Handler, LocalServer
from tests.synthetic import feed_bytes

FEEDS = 40


class InFlight:
    """Counts requests being answered at the same moment (the server holds each a little)."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    def handler(self, body: bytes, etag: str) -> Handler:
        async def answer(request: web.Request) -> web.StreamResponse:
            self.now += 1
            self.most = max(self.most, self.now)
            try:
                await asyncio.sleep(0.02)
            finally:
                self.now -= 1
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(body=body, content_type="application/rss+xml", headers={"ETag": etag})

        return answer


def write_config(tmp: Path, urls: list[str], concurrency: int) -> Path:
    lines = [
        f"database: sqlite:///{tmp / 'agg.db'}",
        "polling:",
        f"  concurrency: {concurrency}",
        "  per_host: 16",
        "feeds:",
    ]
    lines += [f"  - url: {u}" for u in urls]
    path = tmp / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_round_keeps_to_its_concurrency_and_runs_every_feed_once(
    server: LocalServer, tmp_path: Path
) -> None:
    counter = InFlight()
    urls = []
    for n in range(FEEDS):
        path = f"/r{n}.rss"
        server.route(path, counter.handler(feed_bytes(n, 3), f'"v{n}"'))
        urls.append(server.url(path))
    config = write_config(tmp_path, urls, concurrency=3)
    cli = CliRunner()

    first = cli.invoke(app, ["--config", str(config), "poll"])
    assert first.exit_code == 0, first.output
    assert f"{FEEDS} feeds: {FEEDS * 3} new entries" in first.output
    assert counter.most == 3, f"{counter.most} requests at once with concurrency 3"

    counter.most = 0
    before = len(server.requests)
    second = cli.invoke(app, ["--config", str(config), "poll"])
    assert second.exit_code == 0, second.output
    assert f"{FEEDS} feeds: 0 new entries; {FEEDS} not modified" in second.output
    # 304s give their slot back before their row is written: still never more than 3 at once.
    assert counter.most == 3, f"{counter.most} requests at once with concurrency 3"
    hits = [r.path for r in server.requests[before:]]
    assert sorted(hits) == sorted(f"/r{n}.rss" for n in range(FEEDS)), "each feed fetched once"

    con = sqlite3.connect(tmp_path / "agg.db")
    try:
        rows = con.execute("SELECT last_status, http_status, lease_owner FROM feeds").fetchall()
    finally:
        con.close()
    assert len(rows) == FEEDS
    assert {(status, code, owner) for status, code, owner in rows} == {("not_modified", 304, None)}


def test_a_304_gives_its_slot_back_before_its_row_is_written_a_document_does_not(
    server: LocalServer, tmp_path: Path
) -> None:
    """With the database writer busy, a run answered 304 frees its slot as soon as it has its
    answer (so the next fetch may start), while a run with a document keeps its slot until the
    document is stored (parsed documents in memory stay bounded by the slots)."""
    body = feed_bytes(0, 3)
    server.serve_bytes("/same.rss", body, etag='"s"')
    server.serve_bytes("/doc.rss", feed_bytes(1, 3), etag='"d"')
    config = write_config(tmp_path, [server.url("/same.rss"), server.url("/doc.rss")], concurrency=2)
    settings = load_config(config, {})
    database = open_database(settings)

    async def scenario() -> None:
        same, doc = sync_config(database, settings, utcnow())
        rs = runner_settings(lambda: settings, "test-owner", hold_writes=30, workers=1)
        async with Runner(database, ClusterState(dedup_settings(settings)), rs) as runner:
            (same,) = await runner.write(_lease, database, [same.id])
            first = await runner.run(same)  # learns the ETag
            assert first.status is RunStatus.NEW
            same, doc = await runner.write(_lease, database, [same.id, doc.id])
            assert same.etag == '"s"'

            gate = threading.Event()
            busy = asyncio.ensure_future(runner.write(gate.wait, 30))  # the writer is occupied
            slot = asyncio.Semaphore(1)
            not_modified = asyncio.ensure_future(runner.run(same, slot))
            for _ in range(500):  # until the 304 has come back
                if len(server.hits("/same.rss")) == 2:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            assert not not_modified.done(), "its row cannot have been written: the writer is busy"
            assert not slot.locked(), "a 304 waiting for its row to be written holds no slot"

            document = asyncio.ensure_future(runner.run(doc, slot))
            for _ in range(500):  # until the document has been fetched and parsed
                if server.hits("/doc.rss") and slot.locked():
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
            assert not document.done()
            assert slot.locked(), "a document waiting to be stored keeps its slot"

            gate.set()
            await busy
            assert (await not_modified).status is RunStatus.NOT_MODIFIED
            assert (await document).status is RunStatus.NEW
            assert not slot.locked()

    try:
        asyncio.run(scenario())
    finally:
        database.close()


def _lease(database: Database, ids: list[int]) -> list[FeedState]:
    """The feeds leased to the runner's owner, as the database has them now."""
    with database.transaction() as tx:
        return feed_repo.claim_ids(tx, ids, now=utcnow(), owner="test-owner", lease=timedelta(minutes=5))


def test_the_dedup_index_loads_once_when_a_run_needs_it_during_a_load_started_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner starts loading the index on a thread of its own when a document is about to
    be parsed; a run that needs the engine meanwhile waits for that load and does not repeat it
    (two loads would each install an engine, the later one without the earlier's placements)."""
    database = Database(f"sqlite:///{tmp_path / 'agg.db'}")
    database.ensure_schema()
    state = ClusterState(DedupSettings())
    loads: list[int] = []
    real = ClusterState._load

    def slow_load(self: ClusterState, tx: Tx) -> object:
        loads.append(threading.get_ident())
        time.sleep(0.3)
        return real(self, tx)

    monkeypatch.setattr(ClusterState, "_load", slow_load)
    engines: list[object] = []

    def need() -> None:
        state.warm(database)
        engines.append(state.engine)

    try:
        threads = [threading.Thread(target=need) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    finally:
        database.close()
    assert len(loads) == 1
    assert len(engines) == 3 and engines[0] is not None
    assert all(e is engines[0] for e in engines)


def test_poll_verbose_says_how_long_each_stage_took(
    server: LocalServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    urls = [server.serve_bytes(f"/v{n}.rss", feed_bytes(n, 3), etag=f'"v{n}"') for n in range(3)]
    config = write_config(tmp_path, urls, concurrency=2)
    caplog.set_level(logging.INFO, logger="aggregator")
    stages = (
        "start-up (imports, configuration)",
        "database opened, schema checked",
        "feeds.yaml synced (3 enabled feeds)",
        "round (fetch, parse, store, cluster)",
        "parser processes and threads stopped",
    )
    for round_no in (1, 2):
        caplog.clear()
        result = CliRunner().invoke(app, ["-v", "--config", str(config), "poll"])
        assert result.exit_code == 0, result.output
        said = [r.getMessage() for r in caplog.records if r.name == "aggregator.poll"]
        for stage in stages:
            (line,) = [m for m in said if m.startswith(stage + ": ")]
            assert float(line.rsplit(": ", 1)[1].removesuffix(" s")) >= 0
        index = [m for m in said if m.startswith("dedup index loaded in ")]
        # The first round stores entries, so it needs the index; a round of 304s never loads it.
        assert len(index) == (1 if round_no == 1 else 0), said


def test_a_round_leases_ahead_only_as_far_as_the_lease_outlasts_its_runs(tmp_path: Path) -> None:
    from aggregator.pipeline.round import CLAIM_AHEAD, leased_ahead

    config = write_config(tmp_path, ["http://127.0.0.1:9/a.rss"], concurrency=8)
    base = load_config(config, {})

    def ahead(lease: timedelta, timeout: timedelta = timedelta(seconds=30)) -> int:
        polling = base.polling.model_copy(update={"lease": lease, "timeout": timeout})
        settings = base.model_copy(update={"polling": polling})
        rs = runner_settings(lambda: settings, "owner", hold_writes=None)
        return leased_ahead(rs, 8)

    # A run is cut off after the fetch deadline plus the parse deadline (each `timeout`).
    minutes = timedelta(minutes=1)
    assert ahead(5 * minutes) == 8 * CLAIM_AHEAD  # 300 s outlast 5 runs of 60 s: the cap, 4 rounds
    assert ahead(2 * minutes) == 16  # 120 s outlast 2 such runs
    assert ahead(1 * minutes) == 8  # never fewer than the slots themselves
    assert ahead(5 * minutes, timeout=2 * minutes) == 8
