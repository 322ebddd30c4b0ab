"""Several workers on one database: each feed fetched by one of them, one set of stories, any
worker may die, the database may go away and come back.

Real processes (``aggregator run --no-serve``, ``serve``, ``poll``) against feeds served on
127.0.0.1. The PostgreSQL tests run when AGGREGATOR_TEST_DATABASE_URL is set; the outage test
runs a PostgreSQL server of its own (never the machine's shared one).
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_URL, _pg_url_with_schema
from tests.feedfiles import rss
from tests.httpserver import LocalServer
from tests.pgserver import ThrowawayPostgres, available
from tests.synthetic import _word
from tests.test_daemon import free_port, get, wait_for

pg_only = pytest.mark.skipif(not PG_URL, reason="AGGREGATOR_TEST_DATABASE_URL not set")


# --------------------------------------------------------------------------- content
def article(rng: random.Random, n: int, published: str) -> dict[str, str]:
    """A distinct article of three paragraphs."""
    paragraphs = [" ".join(_word(rng) for _ in range(45)) for _ in range(3)]
    return {
        "url": f"https://asal.example.id/berita/{n}",
        "guid": f"asal-{n}",
        "title": f"Berita {n} {_word(rng)} {_word(rng)}",
        "content_html": "".join(f"<p>{p}.</p>" for p in paragraphs),
        "published": published,
    }


def copy_of(a: dict[str, str], n: int) -> dict[str, str]:
    """Another site's copy: another headline and link, the last paragraph dropped (so only the
    dedup engine, not an identity key, can tell it is the same story)."""
    paragraphs = a["content_html"].split("</p>")[:2]
    return {
        "url": f"https://salinan.example.id/{n}",
        "guid": f"salinan-{n}",
        "title": f"Salinan: {a['title']}",
        "content_html": "</p>".join(paragraphs) + "</p>",
        "published": a["published"],
    }


# --------------------------------------------------------------------------- processes
class Proc:
    """An aggregator process with its stderr in a log file."""

    def __init__(self, config: Path, *args: str, name: str) -> None:
        self.log = config.parent / f"{name}.log"
        self._fh = open(self.log, "w")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "--config", str(config), *args],
            stdout=subprocess.DEVNULL,
            stderr=self._fh,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        self._fh.close()


@pytest.fixture
def procs() -> Iterator[Callable[..., Proc]]:
    started: list[Proc] = []

    def start(config: Path, *args: str, name: str) -> Proc:
        p = Proc(config, *args, name=name)
        started.append(p)
        return p

    yield start
    for p in started:
        p.close()


@pytest.fixture
def pg_schema() -> Iterator[Callable[[], str]]:
    """Fresh schemas on the test PostgreSQL database; each a database URL."""
    made: list[str] = []
    admin = create_engine(PG_URL)

    def make() -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        made.append(schema)
        return _pg_url_with_schema(schema)

    yield make
    with admin.begin() as conn:
        for schema in made:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def config(
    tmp: Path,
    url: str,
    feeds: dict[str, str],
    extra: str = "",
    name: str = "feeds.yaml",
    concurrency: int = 4,
) -> Path:
    lines = [
        f"database: {url}",
        "polling:",
        "  interval: 2s",
        "  min_interval: 2s",
        f"  concurrency: {concurrency}",
    ]
    lines += [extra.rstrip(), "feeds:"] if extra else ["feeds:"]
    lines += [f"  - url: {u}\n    name: {n}" for n, u in feeds.items()]
    path = tmp / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stories(url: str) -> set[frozenset[str]]:
    """The stories in a database, as sets of member URLs."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT m.story_id, e.url FROM story_members m JOIN entries e ON e.id = m.entry_id")
            ).all()
    finally:
        engine.dispose()
    groups: dict[int, set[str]] = defaultdict(set)
    for sid, u in rows:
        groups[sid].add(u)
    return {frozenset(g) for g in groups.values()}


def entries(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM entries")).scalar() or 0)
    except Exception:
        return -1
    finally:
        engine.dispose()


def db_check(config_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(config_path), "db", "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )


# --------------------------------------------------------------------------- workers
class Rounds:
    """Feeds that move on: each round releases new articles in some feeds and copies of them in
    others (the same for every run, so runs can be compared)."""

    FEEDS = 8

    def __init__(self, server: LocalServer, prefix: str) -> None:
        self.server, self.prefix = server, prefix
        self.shown: dict[int, list[dict[str, str]]] = {n: [] for n in range(self.FEEDS)}
        self.urls = {f"f{n}": server.url(f"/{prefix}/f{n}.rss") for n in range(self.FEEDS)}
        self.total = 0
        self.publish()

    def publish(self) -> None:
        for n, items in self.shown.items():
            self.server.serve_bytes(
                f"/{self.prefix}/f{n}.rss",
                rss(f"Sumber {n}", f"https://s{n}.example/", items),
                etag=f'"{len(items)}"',
            )

    def release(self, round_no: int) -> None:
        rng = random.Random(round_no)
        for i in range(6):
            n = round_no * 100 + i
            a = article(rng, n, f"2024-08-12T08:{round_no:02d}:{i:02d}+07:00")
            a = {**a, "url": f"https://s{i % 4}.example/{n}", "guid": f"g{n}"}
            self.shown[i % 4].append(a)
            self.shown[4 + (i + round_no) % 4].append(copy_of(a, n))
            self.total += 2
        self.publish()


def run_rounds(
    start: Callable[..., Proc], server: LocalServer, tmp: Path, url: str, workers: int, prefix: str
) -> tuple[set[frozenset[str]], dict[str, list[float]], Path]:
    rounds = Rounds(server, prefix)
    path = config(tmp, url, rounds.urls, name=f"{prefix}.yaml")
    running = [start(path, "run", "--no-serve", name=f"{prefix}-{i}") for i in range(workers)]
    for r in range(3):
        rounds.release(r)
        assert wait_for(lambda: entries(url) == rounds.total, 60), [
            p.log.read_text()[-2000:] for p in running
        ]
    time.sleep(3)  # a few more unchanged rounds
    for p in running:
        assert p.alive(), p.log.read_text()[-3000:]
        assert p.stop() == 0
    times: dict[str, list[float]] = defaultdict(list)
    for seen in server.requests:
        if seen.path.startswith(f"/{prefix}/"):
            times[seen.path].append(seen.at)
    return stories(url), times, path


@pg_only
def test_three_workers_fetch_each_feed_once_and_form_the_stories_one_would(
    server: LocalServer, tmp_path: Path, procs: Callable[..., Proc], pg_schema: Callable[[], str]
) -> None:
    alone, _, _ = run_rounds(procs, server, tmp_path, pg_schema(), 1, "one")
    together, times, path = run_rounds(procs, server, tmp_path, pg_schema(), 3, "three")
    assert together == alone
    assert sum(len(s) == 2 for s in together) == 18  # every article with its copy
    for feed, at in times.items():  # a feed is due every 2 s at the earliest: never twice at once
        gaps = [b - a for a, b in itertools.pairwise(at)]
        assert min(gaps) > 1.0, (feed, gaps)
    check = db_check(path)
    assert check.returncode == 0, check.stderr


@pg_only
def test_two_workers_racing_on_one_story_make_one(
    server: LocalServer, tmp_path: Path, procs: Callable[..., Proc], pg_schema: Callable[[], str]
) -> None:
    """An article and its copy appear at the same instant in two feeds that two workers fetch at
    the same time (one feed each: one run at a time per worker), many times over."""
    url = pg_schema()
    shown: dict[str, list[dict[str, str]]] = {"a": [], "b": []}

    def publish() -> None:
        for name, items in shown.items():
            server.serve_bytes(
                f"/{name}.rss", rss(name, f"https://{name}.example/", items), etag=f'"{len(items)}"'
            )

    publish()
    path = config(tmp_path, url, {"a": server.url("/a.rss"), "b": server.url("/b.rss")}, concurrency=1)
    workers = [procs(path, "run", "--no-serve", name=f"w{i}") for i in range(2)]
    rng = random.Random(7)
    for k in range(8):
        a = article(rng, k, f"2024-08-12T08:00:{k:02d}+07:00")  # seconds apart: a busy feed
        shown["a"].append(a)
        shown["b"].append(copy_of(a, k))
        publish()
        want = 2 * (k + 1)
        assert wait_for(lambda: entries(url) == want, 30), [w.log.read_text()[-2000:] for w in workers]  # noqa: B023
    for w in workers:
        assert w.stop() == 0
    found = stories(url)
    assert len(found) == 8 and all(len(s) == 2 for s in found)
    hosts = {w.log.read_text().count("feed run") > 0 for w in workers}
    assert hosts == {True}  # both workers ran feeds
    assert db_check(path).returncode == 0


def test_overlapping_polls_on_sqlite_make_one_story(server: LocalServer, tmp_path: Path) -> None:
    """Two cron polls at once, each leasing one of two feeds that carry the same story."""
    url = f"sqlite:///{tmp_path / 'agg.db'}"
    shown: dict[str, list[dict[str, str]]] = {"a": [], "b": []}
    path = config(tmp_path, url, {"a": server.url("/a.rss"), "b": server.url("/b.rss")}, concurrency=1)
    rng = random.Random(11)
    for k in range(5):
        a = article(rng, k, f"2024-08-12T{8 + k:02d}:00:00+07:00")
        shown["a"].append(a)
        shown["b"].append(copy_of(a, k))
        for name, items in shown.items():
            server.serve_bytes(f"/{name}.rss", rss(name, f"https://{name}.example/", items))
        polls = [
            subprocess.Popen(
                [sys.executable, "-m", "aggregator", "--config", str(path), "poll"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120) for p in polls]
        assert all(p.returncode == 0 for p in polls), outputs
    found = stories(url)
    assert len(found) == 5 and all(len(s) == 2 for s in found), found
    assert db_check(path).returncode == 0


@pg_only
def test_a_killed_workers_feeds_are_taken_over(
    server: LocalServer, tmp_path: Path, procs: Callable[..., Proc], pg_schema: Callable[[], str]
) -> None:
    """Feeds answer slowly, so a worker killed mid-round holds leases; the other worker fetches
    those feeds once the leases are freed (at once, for a dead process of this machine)."""
    url = pg_schema()
    release = threading.Event()
    rng = random.Random(3)
    docs = {
        f"s{n}": rss(f"s{n}", f"https://s{n}.example/", [article(rng, n, "2024-08-12T08:00:00+07:00")])
        for n in range(6)
    }

    def slow(name: str) -> Callable[..., object]:
        async def handler(request: object) -> object:
            import asyncio

            from aiohttp import web

            if not release.is_set():
                await asyncio.sleep(3)
            return web.Response(body=docs[name], content_type="application/rss+xml")

        return handler

    for name in docs:
        server.route(f"/{name}.rss", slow(name))  # type: ignore[arg-type]
    path = config(tmp_path, url, {n: server.url(f"/{n}.rss") for n in docs}, "  lease: 60s")
    doomed = procs(path, "run", "--no-serve", name="doomed")
    assert wait_for(lambda: any(r.path.startswith("/s") for r in server.requests), 20), doomed.log.read_text()
    time.sleep(0.5)
    doomed.kill()  # holding leases on feeds it was fetching
    release.set()
    survivor = procs(path, "run", "--no-serve", name="survivor")
    assert wait_for(lambda: entries(url) == len(docs), 45), survivor.log.read_text()[-3000:]
    assert survivor.stop() == 0
    assert db_check(path).returncode == 0


# --------------------------------------------------------------------------- outages
@pytest.mark.skipif(not available(), reason="PostgreSQL's initdb and pg_ctl are not installed")
def test_a_database_outage_loses_nothing_and_serving_goes_on(
    server: LocalServer, tmp_path: Path, procs: Callable[..., Proc]
) -> None:
    pg = ThrowawayPostgres()
    pg.start()
    try:
        rounds = Rounds(server, "out")
        port = free_port()
        path = config(tmp_path, pg.url, rounds.urls, "  lease: 60s")
        path.write_text(path.read_text() + f"server:\n  port: {port}\n", encoding="utf-8")
        worker = procs(path, "run", "--no-serve", name="worker")
        front = procs(path, "serve", "--port", str(port), name="front")
        rounds.release(0)
        assert wait_for(lambda: entries(pg.url) == rounds.total, 60), worker.log.read_text()[-3000:]
        base = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: _ok(base + "/feeds/all.json"), 20), front.log.read_text()[-2000:]
        # the feeds change, and the database goes away right after
        rounds.release(1)
        time.sleep(0.5)
        pg.stop()
        down_at = time.monotonic()
        served = []
        while time.monotonic() - down_at < 30:
            served.append(get(base + "/feeds/all.json")[0])
            assert get(base + "/healthz")[0] == 503
            time.sleep(1)
        assert set(served) == {200}  # the documents held in memory are served all along
        pg.start()
        back_at = time.monotonic()
        assert wait_for(lambda: entries(pg.url) == rounds.total, 60), worker.log.read_text()[-3000:]
        resumed = time.monotonic() - back_at
        # ... and restarts again in the middle of the next ingest
        rounds.release(2)
        time.sleep(1.0)
        pg.stop("immediate")
        pg.start()
        assert wait_for(lambda: entries(pg.url) == rounds.total, 60), worker.log.read_text()[-3000:]
        assert worker.alive() and front.alive()
        assert resumed < 15, resumed
        assert wait_for(lambda: get(base + "/healthz")[0] == 200, 20)
        check = db_check(path)
        assert check.returncode == 0, check.stderr
        assert worker.stop() == 0 and front.stop() == 0
        log = worker.log.read_text()
        assert "database unavailable" in log and "reachable again" in log
    finally:
        pg.close()


def _ok(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False
