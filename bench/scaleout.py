"""Scale-out benchmark: 1, 2, 3 ``aggregator run --no-serve`` workers on one PostgreSQL database.

Why: the README says several ``run`` processes on one PostgreSQL database share the feeds (a
lease per feed) and form one set of stories (a transaction-scoped advisory lock while a run
forms stories). This measures what that buys on one machine: feed runs per minute with 1, 2 and
3 workers when every feed has new entries, and when every feed answers 304 Not Modified; what
PostgreSQL spends per round (one run of every feed); whether any feed is fetched twice for one
due time; and where the CPU goes (workers, PostgreSQL, the feed server).

How to run (from the repository root, in the dev venv; needs initdb/pg_ctl, as for the tests)::

    python bench/scaleout.py [--feeds 1000] [--workers 1 2 3] [--seconds 120] [--interval 1s]
                             [--concurrency 256] [--per-host 32] [--keep] [--out result.json]

What it does, for each worker count k:

1. A fresh PostgreSQL server of its own (``tests/pgserver.py``'s ``ThrowawayPostgres``, never
   the machine's shared one), with ``pg_stat_statements`` preloaded when the extension is
   installed, and ``track_io_timing`` on. The throwaway server runs with ``fsync``,
   ``synchronous_commit`` and ``full_page_writes`` off: commits cost less than on a durable one.
2. A feed server on 127.0.0.1 (aiohttp, in a child process of its own so its CPU is measured
   apart) serves ``--feeds`` RSS feeds of ``--items`` news-like entries (text from
   ``bench/dedup_bench.py``'s Markov chain over the dedup-dev corpus; one new entry in ten is a
   copy of a recent entry of another feed, so stories form) with ``ETag``s. In "changed" mode
   every fetch publishes ``--per-fetch`` new entries (the oldest scroll out) and answers 200;
   in "unchanged" mode a conditional request with the current ETag gets 304. Every request is
   logged with its time, feed, status and worker (each worker has its own User-Agent).
3. k workers start (``python -m aggregator --config wK.yaml run --no-serve --log-format json``),
   each with its own feeds.yaml that differs only in ``polling.user_agent``. The polling
   interval is pinned (``interval`` = ``min_interval`` = ``max_interval`` = ``--interval``), so
   a feed is due ``--interval`` (+0-10 % jitter) after its last run. The default, 1 s for 1,000
   feeds, asks for ~57,000 runs a minute: more than the workers can do, so the figures are
   capacity, not the schedule; the sampled backlog (feeds due and not leased) shows it (a
   backlog near 0 means the workers kept up and the figure is the schedule's). Each worker's
   tick leases at most ``concurrency`` feeds a second (``aggregator.daemon.poller``), so a
   worker cannot exceed ``concurrency`` x 60 runs a minute however cheap a run is: the default
   ``--concurrency`` is the maximum, 256, and ``--per-host`` the maximum, 32 (one loopback host).
4. Phases, timed from the workers' own ``feed run`` log events (one per run, counted when the
   line arrives): the first round (every feed's first run, creating stories from scratch) is
   reported apart; then a ``--seconds`` window in changed mode; then the switch to unchanged
   mode, a settle time until runs of changed documents stop arriving, and a ``--seconds``
   window of 304s.
5. Per phase: runs per minute (all workers and each), statuses, run durations (queueing in the
   worker included), CPU seconds of each worker's process tree (its parser processes
   included), of PostgreSQL (postmaster and backends; exited backends through the postmaster's
   ``cutime``), of the feed server and of this script, machine CPU use (/proc/stat) and the share of
   processes that are not this benchmark's (a shared machine: named, biggest first), and
   PostgreSQL's work per round: statement execution time from ``pg_stat_statements`` (the wait
   inside ``pg_advisory_xact_lock`` reported apart, it is waiting, not work), the top
   statements, and ``pg_stat_database`` counters (commits, blocks, tuples).
6. Duplicates: per feed, two fetches closer together than 0.9 x the interval (a feed is never
   due sooner) count as one duplicate; the two workers are named.
7. Workers get SIGTERM (exit codes reported), ``aggregator db check`` runs, the server goes.

Progress and a table go to stderr; the last stdout line is the JSON summary (``--out`` writes it
to a file too). Logs, configs and (with ``--keep``) the PostgreSQL data stay under ``--scratch``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from aiohttp import web
from dedup_bench import Words, corpus_texts
from proctree import CLK, ProcessTable, descendants, processes

from aggregator.config.settings import parse_duration
from aggregator.daemon.poller import TICK_SECONDS
from tests.feedfiles import paragraphs, rss
from tests.pgserver import ThrowawayPostgres, available, free_port
from tests.synthetic import _word

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "dedup-dev"
COPY_PREFIXES = ("", "UPDATE: ", "Breaking: ", "Terkini: ", "Analysis: ")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the feed server
class Writer:
    """News-like text: a Markov chain over the corpus's words, or synthetic words without it."""

    def __init__(self, corpus: Path) -> None:
        found = (corpus / "entries.jsonl").exists()
        self.words = Words(corpus_texts(corpus)) if found else None

    def sentence(self, rng: random.Random, lang: str) -> str:
        if self.words is not None:
            return self.words.sentence(rng, lang if lang in self.words.chains else None)
        return " ".join(_word(rng) for _ in range(rng.randint(8, 24))).capitalize() + "."

    def article(self, rng: random.Random, lang: str) -> tuple[str, list[str]]:
        title = " ".join(self.sentence(rng, lang).split()[: rng.randint(6, 12)]).rstrip(".,;:")
        paras = [
            " ".join(self.sentence(rng, lang) for _ in range(rng.randint(2, 4)))
            for _ in range(rng.randint(4, 7))
        ]
        return title, paras


@dataclass
class FeedFarm:
    """N feeds that move on when fetched ("changed") or answer 304 ("unchanged")."""

    n: int
    items: int
    per_fetch: int
    copy_share: float
    writer: Writer
    mode: str = "changed"
    heads: list[int] = field(default_factory=list)  # entries published so far, per feed
    shown: list[deque[dict[str, str]]] = field(default_factory=list)
    docs: list[bytes] = field(default_factory=list)
    recent: deque[tuple[str, list[str]]] = field(default_factory=lambda: deque(maxlen=500))
    log: list[tuple[float, int, str, int]] = field(default_factory=list)  # (t, feed, worker, status)

    def reset(self) -> None:
        self.mode = "changed"
        self.heads = [0] * self.n
        self.shown = [deque(maxlen=self.items) for _ in range(self.n)]
        self.docs = [b""] * self.n
        self.recent.clear()
        self.log = []

    def etag(self, f: int) -> str:
        return f'"f{f}-{self.heads[f]}"'

    def publish(self, f: int, count: int) -> None:
        lang = "id" if f % 2 else "en"
        now = datetime.now(UTC)
        for k in range(count):
            i = self.heads[f]
            self.heads[f] += 1
            rng = random.Random(f"{f}:{i}")
            if self.recent and rng.random() < self.copy_share:  # another site's copy
                title, paras = rng.choice(self.recent)
                title, paras = rng.choice(COPY_PREFIXES) + title, paras[:-1] if len(paras) > 2 else paras
            else:
                title, paras = self.writer.article(rng, lang)
                self.recent.append((title, paras))
            self.shown[f].append(
                {
                    "url": f"https://news{f}.example.com/{now:%Y/%m/%d}/story-{i}",
                    "guid": f"news{f}-{i}",
                    "title": title,
                    "content_html": paragraphs("\n\n".join(paras)),
                    "summary_html": paras[0][:200],
                    "published": (now - timedelta(seconds=count - k)).isoformat(),
                }
            )
        items = list(reversed(self.shown[f]))
        self.docs[f] = rss(f"News {f}", f"https://news{f}.example.com/", items)

    async def feed(self, request: web.Request) -> web.StreamResponse:
        f = int(request.match_info["n"])
        worker = request.headers.get("User-Agent", "").rsplit(" ", 1)[-1]
        if self.heads[f] == 0:
            self.publish(f, self.items)
        elif self.mode == "changed":
            self.publish(f, self.per_fetch)
        etag = self.etag(f)
        status = 304 if request.headers.get("If-None-Match") == etag else 200
        self.log.append((time.monotonic(), f, worker, status))
        if status == 304:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=self.docs[f], content_type="application/rss+xml", headers={"ETag": etag})

    async def control(self, request: web.Request) -> web.StreamResponse:
        command = await request.json()
        if command.get("reset"):
            self.reset()
        if command.get("mode") in ("changed", "unchanged"):
            self.mode = command["mode"]
        return web.json_response({"mode": self.mode})

    async def requests(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.log)


def serve_farm(farm: FeedFarm, port: int) -> None:
    """The child process: serve the farm until SIGTERM (no compression: loopback)."""
    farm.reset()
    app = web.Application()
    app.router.add_get("/f/{n}.xml", farm.feed)
    app.router.add_post("/_control", farm.control)
    app.router.add_get("/_requests", farm.requests)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class FarmClient:
    """The benchmark's side of the feed server."""

    def __init__(self, farm: FeedFarm) -> None:
        self.port = free_port()
        self.proc = multiprocessing.get_context("fork").Process(
            target=serve_farm, args=(farm, self.port), daemon=True
        )
        self.proc.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.control(mode="changed")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the feed server did not start")

    @property
    def pid(self) -> int:
        return int(self.proc.pid or 0)

    def url(self, f: int) -> str:
        return f"http://127.0.0.1:{self.port}/f/{f}.xml"

    def control(self, **command: Any) -> None:
        body = json.dumps(command).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/_control", data=body, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()

    def requests(self) -> list[tuple[float, int, str, int]]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_requests", timeout=60) as resp:
            return [(float(t), int(f), str(w), int(c)) for t, f, w, c in json.load(resp)]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.join(10)


# --------------------------------------------------------------------------- CPU accounting
def command_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()[:120] or f"pid {pid}"
    except OSError:
        return f"pid {pid} (gone)"


def tree_cpu(table: ProcessTable, root: int, seen: set[int] | None = None) -> float:
    """CPU seconds of ``root`` and every live descendant (reaped ones are in their parent's);
    the pids visited are added to ``seen``."""
    pids = descendants(table, root)
    if seen is not None:
        seen.update(pids)
    return sum(table[pid][1] for pid in pids)


def machine_cpu() -> tuple[float, float]:
    """(busy, total) seconds of all CPUs since boot."""
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(x) for x in fh.readline().split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLK, total / CLK


# --------------------------------------------------------------------------- PostgreSQL
@dataclass
class Postgres:
    server: ThrowawayPostgres
    statements: bool  # pg_stat_statements is loaded

    @property
    def postmaster(self) -> int:
        return int((self.server.data / "postmaster.pid").read_text().split()[0])

    def monitor(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host="127.0.0.1", port=self.server.port, user="bench", dbname="postgres", autocommit=True
        )


def start_postgres(scratch: Path) -> Postgres:
    """A fresh server; pg_stat_statements preloaded when installed (checked on a first start)."""
    tempfile.tempdir = str(scratch)  # ThrowawayPostgres makes its folder with tempfile.mkdtemp
    server = ThrowawayPostgres()
    server.start()
    admin = psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", autocommit=True)
    with admin:
        row = admin.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements'")
        statements = row.fetchone() is not None
        admin.execute("CREATE ROLE bench LOGIN SUPERUSER")
    extra = "track_io_timing = on\nmax_connections = 200\n"
    if statements:
        extra += "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.max = 5000\n"
    with open(server.data / "postgresql.conf", "a", encoding="utf-8") as fh:
        fh.write(extra)
    server.stop()
    server.start()
    if statements:
        with psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", autocommit=True) as c:
            c.execute("CREATE EXTENSION pg_stat_statements")
    return Postgres(server, statements)


STATEMENTS_SQL = """
SELECT s.queryid, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 160), s.calls, s.total_exec_time
FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
WHERE r.rolname = 'postgres' AND s.dbid = (SELECT oid FROM pg_database WHERE datname = 'postgres')
"""
DATABASE_SQL = """
SELECT xact_commit, xact_rollback, blks_read, blks_hit, tup_returned, tup_fetched, tup_inserted,
       tup_updated, tup_deleted, deadlocks, blk_read_time, blk_write_time
FROM pg_stat_database WHERE datname = 'postgres'
"""
DATABASE_COLUMNS = [
    "xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned", "tup_fetched",
    "tup_inserted", "tup_updated", "tup_deleted", "deadlocks", "blk_read_time_ms", "blk_write_time_ms",
]  # fmt: skip
BACKLOG_SQL = """
SELECT count(*) FILTER (WHERE next_check_at <= now() AND (lease_until IS NULL OR lease_until < now())),
       count(*) FILTER (WHERE lease_until >= now())
FROM feeds
"""


class Backlog(threading.Thread):
    """Samples, once a second, the feeds that are due but not leased, and those leased."""

    def __init__(self, pg: Postgres) -> None:
        super().__init__(daemon=True)
        self.pg, self.samples, self.stopping = pg, list[tuple[float, int, int]](), threading.Event()

    def run(self) -> None:
        with self.pg.monitor() as conn:
            while not self.stopping.wait(1.0):
                try:
                    row = conn.execute(BACKLOG_SQL).fetchone()
                except psycopg.Error:  # the tables are not there yet
                    continue
                if row:
                    self.samples.append((time.monotonic(), int(row[0]), int(row[1])))


# --------------------------------------------------------------------------- workers
@dataclass
class RunEvent:
    t: float
    worker: str
    feed: str
    status: str
    http: int | None
    new: int
    duration_ms: int
    error: str | None


@dataclass
class Worker:
    """One ``aggregator run --no-serve`` process; a thread reads its JSON log lines as they come."""

    name: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    events: list[RunEvent] = field(default_factory=list)
    other: list[tuple[float, str, str]] = field(default_factory=list)  # (t, level, message)

    def read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            t = time.monotonic()
            self.log.write(raw)
            try:
                doc = json.loads(raw)
            except ValueError:
                self.other.append((t, "raw", raw.decode(errors="replace").rstrip()))
                continue
            if doc.get("message") == "feed run":
                self.events.append(
                    RunEvent(
                        t, self.name, str(doc.get("feed")), str(doc.get("status")), doc.get("http"),
                        int(doc.get("new") or 0), int(doc.get("duration_ms") or 0), doc.get("error"),
                    )
                )  # fmt: skip
            else:
                text = str(doc.get("message")) + (f"\n{doc['exception']}" if doc.get("exception") else "")
                self.other.append((t, str(doc.get("level")), f"{doc.get('logger')}: {text}"))
        self.log.close()


def write_config(path: Path, args: argparse.Namespace, db_url: str, farm: FarmClient, agent: str) -> None:
    lines = [
        "database:",
        f"  url: {db_url}",
        "polling:",
        f"  interval: {args.interval}",
        f"  min_interval: {args.interval}",
        f"  max_interval: {args.interval}",
        f"  concurrency: {args.concurrency}",
        f"  per_host: {args.per_host}",
        f"  user_agent: scaleout-bench {agent}",
        "feeds:",
    ]
    for f in range(args.feeds):
        lines += [
            f"  - url: {farm.url(f)}",
            f"    name: f{f:05d}",
            f"    language: {'id' if f % 2 else 'en'}",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def start_worker(name: str, config: Path, scratch: Path) -> Worker:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aggregator",
            "--config",
            str(config),
            "run",
            "--no-serve",
            "--log-format",
            "json",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=scratch,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    worker = Worker(name, proc, open(scratch / f"{name}.log", "wb"))  # noqa: SIM115 (closed by read)
    threading.Thread(target=worker.read, daemon=True).start()
    return worker


def stop_workers(workers: list[Worker]) -> dict[str, int | None]:
    for w in workers:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGTERM)
    codes: dict[str, int | None] = {}
    for w in workers:
        try:
            codes[w.name] = w.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            w.proc.kill()
            codes[w.name] = w.proc.wait()
            say(f"{w.name} did not stop within 40 s after SIGTERM: killed")
    return codes


# --------------------------------------------------------------------------- measuring
@dataclass
class Snapshot:
    t: float
    cpu: dict[str, float]  # per worker, "postgres", "feed_server", "bench"
    machine: tuple[float, float]
    statements: dict[int, tuple[str, int, float]]
    database: list[float]
    table: ProcessTable  # every process: parent, CPU seconds
    mine: set[int]  # the processes of this benchmark (workers, PostgreSQL, feed server, this one)


def snapshot(
    pg: Postgres, workers: list[Worker], farm: FarmClient, conn: psycopg.Connection[Any]
) -> Snapshot:
    table, mine = processes(), {os.getpid()}
    cpu = {w.name: tree_cpu(table, w.proc.pid, mine) for w in workers}
    cpu["postgres"] = tree_cpu(table, pg.postmaster, mine)
    cpu["feed_server"] = tree_cpu(table, farm.pid, mine)
    cpu["bench"] = table.get(os.getpid(), (0, 0.0))[1]
    statements: dict[int, tuple[str, int, float]] = {}
    if pg.statements:
        for qid, query, calls, ms in conn.execute(STATEMENTS_SQL):
            statements[int(qid or 0)] = (str(query), int(calls), float(ms))
    row = conn.execute(DATABASE_SQL).fetchone() or ()
    database = [float(x or 0) for x in row]
    return Snapshot(time.monotonic(), cpu, machine_cpu(), statements, database, table, mine)


def postgres_work(a: Snapshot, b: Snapshot, rounds: float) -> dict[str, Any]:
    """PostgreSQL's work between two snapshots, per round of ``rounds``."""
    per = 1 / rounds if rounds > 0 else 0.0
    rows = []
    for qid, (query, calls, ms) in b.statements.items():
        _, calls0, ms0 = a.statements.get(qid, ("", 0, 0.0))
        if calls > calls0:
            rows.append((ms - ms0, calls - calls0, query))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows)
    lock = sum(r[0] for r in rows if "pg_advisory_xact_lock" in r[2])
    database = {
        k: round((y - x) * per, 1) for k, x, y in zip(DATABASE_COLUMNS, a.database, b.database, strict=True)
    }
    return {
        "cpu_s_per_round": round((b.cpu["postgres"] - a.cpu["postgres"]) * per, 3),
        "statement_ms_per_round": round(total * per, 1) if b.statements else None,
        "lock_wait_ms_per_round": round(lock * per, 1) if b.statements else None,
        "statement_ms_per_round_without_lock_wait": round((total - lock) * per, 1) if b.statements else None,
        "statements_per_round": round(sum(r[1] for r in rows) * per, 1),
        "top_statements": [
            {"ms_per_round": round(ms * per, 1), "calls_per_round": round(c * per, 1), "query": q}
            for ms, c, q in rows[:8]
        ],
        "pg_stat_database_per_round": database,
    }


def cpu_use(a: Snapshot, b: Snapshot) -> dict[str, Any]:
    """Cores used by each part, the whole machine, and by processes that are not this benchmark's
    (the machine may be shared): their total, and the biggest of them."""
    wall = b.t - a.t
    parts = {k: round((b.cpu[k] - a.cpu.get(k, 0.0)) / wall, 3) for k in b.cpu}
    busy = (b.machine[0] - a.machine[0]) / (b.machine[1] - a.machine[1]) * (os.cpu_count() or 1)
    foreign = {
        pid: (cpu - a.table.get(pid, (0, 0.0))[1]) / wall
        for pid, (_, cpu) in b.table.items()
        if pid not in a.mine and pid not in b.mine
    }
    top = sorted(((c, pid) for pid, c in foreign.items() if c >= 0.02), reverse=True)[:6]
    return {
        "cores_used": parts,
        "machine_cores_busy": round(busy, 2),
        "other_cores": round(busy - sum(parts.values()), 2),
        "other_top": [{"cores": round(c, 2), "command": command_of(pid)} for c, pid in top],
        "cores": os.cpu_count(),
    }


def percentile(values: list[int], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def phase_report(
    name: str,
    a: Snapshot,
    b: Snapshot,
    events: list[RunEvent],
    requests: list[tuple[float, int, str, int]],
    backlog: list[tuple[float, int, int]],
    feeds: int,
) -> dict[str, Any]:
    wall = b.t - a.t
    runs = [e for e in events if a.t <= e.t < b.t]
    got = [r for r in requests if a.t <= r[0] < b.t]
    samples = [s for s in backlog if a.t <= s[0] < b.t]
    durations = [e.duration_ms for e in runs]
    per_worker = Counter(e.worker for e in runs)
    return {
        "phase": name,
        "seconds": round(wall, 1),
        "runs": len(runs),
        "runs_per_minute": round(len(runs) / wall * 60, 1),
        "runs_per_minute_by_worker": {w: round(n / wall * 60, 1) for w, n in sorted(per_worker.items())},
        "statuses": dict(Counter(e.status for e in runs)),
        "new_entries_per_minute": round(sum(e.new for e in runs) / wall * 60, 1),
        "run_ms_median": statistics.median(durations) if durations else None,
        "run_ms_p90": percentile(durations, 0.9),
        "server_requests": dict(Counter(str(r[3]) for r in got)),
        "server_requests_by_worker": dict(sorted(Counter(r[2] for r in got).items())),
        "backlog_due_unleased_mean": round(statistics.mean(s[1] for s in samples), 1) if samples else None,
        "backlog_due_unleased_max": max((s[1] for s in samples), default=None),
        "leased_mean": round(statistics.mean(s[2] for s in samples), 1) if samples else None,
        "cpu": cpu_use(a, b),
        "postgres": postgres_work(a, b, len(runs) / feeds),
    }


def duplicates(requests: list[tuple[float, int, str, int]], interval: float) -> dict[str, Any]:
    """Fetches of one feed closer together than 0.9 x the interval: a feed is never due sooner."""
    by_feed: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for t, f, worker, _ in requests:
        by_feed[f].append((t, worker))
    found, gaps = [], []
    for f, seen in by_feed.items():
        seen.sort()
        for (t0, w0), (t1, w1) in itertools.pairwise(seen):
            gaps.append(t1 - t0)
            if t1 - t0 < 0.9 * interval:
                found.append({"feed": f, "gap_s": round(t1 - t0, 3), "workers": [w0, w1]})
    return {
        "count": len(found),
        "examples": found[:10],
        "min_gap_s": round(min(gaps), 3) if gaps else None,
        "fetches": len(requests),
    }


def oddities(workers: list[Worker]) -> dict[str, Any]:
    """Log lines other than routine ones, grouped with digits masked; failed runs by error."""
    routine = re.compile(r"^aggregator\.[a-z.]+: (dedup index ready|stopping: waiting)")
    lines: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for w in workers:
        for _, level, text in w.other:
            if level in ("info", "debug") and routine.match(text):
                continue
            key = f"{level} " + re.sub(r"\d+", "N", text.splitlines()[0])[:200]
            lines[key] += 1
            examples.setdefault(key, f"{w.name}: {text[:1500]}")
    errors = Counter(
        f"{e.status}: {e.error}" for w in workers for e in w.events if e.error or e.status == "error"
    )
    return {
        "lines": [{"count": n, "line": k, "example": examples[k]} for k, n in lines.most_common(30)],
        "failed_runs": dict(errors.most_common(20)),
    }


# --------------------------------------------------------------------------- one worker count
class Trial:
    """k workers on a fresh database: first round, changed window, unchanged window."""

    def __init__(self, args: argparse.Namespace, k: int, farm: FarmClient) -> None:
        self.args, self.k, self.farm = args, k, farm
        self.scratch = Path(args.scratch) / f"k{k}"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.interval = parse_duration(args.interval).total_seconds()
        self.workers: list[Worker] = []
        self.problems: list[str] = []

    def events(self) -> list[RunEvent]:
        return sorted((e for w in self.workers for e in w.events), key=lambda e: e.t)

    def crashed(self) -> bool:
        dead = [w for w in self.workers if w.proc.poll() is not None]
        for w in dead:
            message = f"{w.name} exited with {w.proc.returncode}; last lines: " + " | ".join(
                t for _, _, t in w.other[-8:]
            )
            if message not in self.problems:
                self.problems.append(message)
                say(message)
        return bool(dead)

    def wait(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Sleep ``seconds`` (or until ``until()``); False if a worker died meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.crashed():
                return False
            if until is not None and until():
                return True
            time.sleep(0.5)
        return until is None

    def run(self) -> dict[str, Any]:
        say(f"--- {self.k} worker(s): fresh PostgreSQL")
        pg = start_postgres(self.scratch)
        self.farm.control(reset=True)
        result: dict[str, Any] = {"workers": self.k, "pg_stat_statements": pg.statements}
        backlog = Backlog(pg)
        try:
            with pg.monitor() as conn:
                backlog.start()
                result |= self.phases(pg, conn, backlog)
                result["exit_codes"] = stop_workers(self.workers)
                result |= self.final_state(conn)
        finally:
            backlog.stopping.set()
            stop_workers(self.workers)
            if self.args.keep:
                pg.server.stop()
                say(f"PostgreSQL data kept in {pg.server.root}")
            else:
                pg.server.close()
        requests = self.farm.requests()
        result["duplicates"] = duplicates(requests, self.interval)
        result["log_oddities"] = oddities(self.workers)
        result["problems"] = self.problems
        return result

    def phases(self, pg: Postgres, conn: psycopg.Connection[Any], backlog: Backlog) -> dict[str, Any]:
        for i in range(self.k):
            config = self.scratch / f"w{i + 1}.yaml"
            write_config(config, self.args, pg.server.url, self.farm, f"w{i + 1}")
            self.workers.append(start_worker(f"w{i + 1}", config, self.scratch))
        out: dict[str, Any] = {}
        s0 = snapshot(pg, self.workers, self.farm, conn)
        say(f"{self.k} worker(s) started; waiting for every feed's first run")
        done = self.wait(
            self.args.first_round_timeout, lambda: len({e.feed for e in self.events()}) >= self.args.feeds
        )
        s1 = snapshot(pg, self.workers, self.farm, conn)
        out["first_round"] = self.report("first_round", s0, s1, backlog)
        out["first_round"]["complete"] = done
        say(f"first round: {s1.t - s0.t:.0f} s, complete={done}")
        if not done:
            return out
        if not self.wait(self.args.settle):
            return out
        out["changed"] = self.window("changed", pg, conn, backlog)
        self.farm.control(mode="unchanged")
        switched = time.monotonic()
        settled = self.wait(120, lambda: self.quiet_since(switched))
        out["settle_after_switch_s"] = round(time.monotonic() - switched, 1)
        if settled and not self.crashed():
            out["unchanged"] = self.window("unchanged", pg, conn, backlog)
        return out

    def quiet_since(self, switched: float) -> bool:
        """Runs of changed documents have stopped arriving for 5 s (at least 5 s after the switch)."""
        now = time.monotonic()
        if now - switched < 5:
            return False
        last = max((e.t for e in self.events() if e.status != "not_modified"), default=0.0)
        return now - max(last, switched) >= 5

    def window(
        self, name: str, pg: Postgres, conn: psycopg.Connection[Any], backlog: Backlog
    ) -> dict[str, Any]:
        say(f"{name}: measuring {self.args.seconds:.0f} s")
        a = snapshot(pg, self.workers, self.farm, conn)
        self.wait(self.args.seconds)
        b = snapshot(pg, self.workers, self.farm, conn)
        report = self.report(name, a, b, backlog)
        say(
            f"{name}: {report['runs_per_minute']} runs/min, statuses {report['statuses']}, "
            f"machine {report['cpu']['machine_cores_busy']} cores busy"
        )
        return report

    def report(self, name: str, a: Snapshot, b: Snapshot, backlog: Backlog) -> dict[str, Any]:
        requests = self.farm.requests()
        return phase_report(name, a, b, self.events(), requests, list(backlog.samples), self.args.feeds)

    def final_state(self, conn: psycopg.Connection[Any]) -> dict[str, Any]:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM entries), (SELECT count(*) FROM stories), "
            "(SELECT count(*) FROM story_members)"
        ).fetchone() or (None, None, None)
        config = self.scratch / "w1.yaml"
        say("aggregator db check")
        check = subprocess.run(
            [sys.executable, "-m", "aggregator", "--config", str(config), "db", "check"],
            capture_output=True, text=True, timeout=900, cwd=self.scratch,
        )  # fmt: skip
        return {
            "entries": counts[0],
            "stories": counts[1],
            "story_members": counts[2],
            "db_check": {"exit": check.returncode, "output": (check.stdout + check.stderr)[-2000:]},
        }


# --------------------------------------------------------------------------- main
def table(results: Iterable[dict[str, Any]]) -> str:
    head = (
        f"{'k':>2} {'changed/min':>11} {'unchanged/min':>13} {'PG cpu s/rnd chg':>16} "
        f"{'PG stmt ms/rnd chg':>18} "
        f"{'PG cpu s/rnd unch':>17} {'PG stmt ms/rnd unch':>19} {'backlog chg':>11} {'dups':>4}"
    )
    rows = [head]
    for r in results:
        c, u = r.get("changed") or {}, r.get("unchanged") or {}
        cp, up = c.get("postgres") or {}, u.get("postgres") or {}
        rows.append(
            f"{r['workers']:>2} {c.get('runs_per_minute', '-')!s:>11} {u.get('runs_per_minute', '-')!s:>13} "
            f"{cp.get('cpu_s_per_round', '-')!s:>16} {cp.get('statement_ms_per_round', '-')!s:>18} "
            f"{up.get('cpu_s_per_round', '-')!s:>17} {up.get('statement_ms_per_round', '-')!s:>19} "
            f"{c.get('backlog_due_unleased_mean', '-')!s:>11} {r['duplicates']['count']:>4}"
        )
    return "\n".join(rows)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--feeds", type=int, default=1000)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3], help="worker counts to try")
    p.add_argument("--seconds", type=float, default=120.0, help="length of each measured window")
    p.add_argument("--interval", default="1s", help="polling interval (= min_interval = max_interval)")
    p.add_argument("--concurrency", type=int, default=256, help="polling.concurrency of each worker")
    p.add_argument("--per-host", type=int, default=32, help="polling.per_host (all feeds are on one host)")
    p.add_argument("--items", type=int, default=20, help="entries each feed shows")
    p.add_argument("--per-fetch", type=int, default=5, help="new entries per fetch in changed mode")
    p.add_argument(
        "--copy-share", type=float, default=0.1, help="share of new entries that copy another feed's"
    )
    p.add_argument("--settle", type=float, default=5.0, help="seconds between the first round and the window")
    p.add_argument("--first-round-timeout", type=float, default=900.0)
    p.add_argument("--corpus", type=Path, default=CORPUS, help="text source (dedup_bench's corpus)")
    p.add_argument("--scratch", default="/tmp/scaleout", help="logs, configs, PostgreSQL data")
    p.add_argument("--keep", action="store_true", help="keep each trial's PostgreSQL data (stopped)")
    p.add_argument("--out", type=Path, help="also write the JSON summary here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if not available():
        print("initdb/pg_ctl are not installed (or no postgres user to run them as)", file=sys.stderr)
        return 2
    Path(args.scratch).mkdir(parents=True, exist_ok=True)
    os.chmod(args.scratch, 0o755)  # the postgres user reaches its data folder through it
    writer = Writer(args.corpus)
    say(f"text: {'Markov chain over ' + str(args.corpus) if writer.words else 'synthetic words'}")
    farm = FarmClient(FeedFarm(args.feeds, args.items, args.per_fetch, args.copy_share, writer))
    results = []
    try:
        for k in args.workers:
            results.append(Trial(args, k, farm).run())
            say(table(results))
    finally:
        farm.close()
    summary = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine_cores": os.cpu_count(),
        "offered_runs_per_minute": round(args.feeds / parse_duration(args.interval).total_seconds() * 60),
        "tick_cap_runs_per_minute_per_worker": round(args.concurrency / TICK_SECONDS * 60),
        "results": results,
    }
    print(table(results), file=sys.stderr)
    text = json.dumps(summary)
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
