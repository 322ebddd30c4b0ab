"""Resident memory of the polling service with 5,000 feeds and 100,000 entries in the dedup window.

    python bench/daemon_memory.py [--feeds 5000] [--items 20] [--database URL] [--settle 60]
                                  [--keep] [--out FILE.json]

Why: ``aggregator run --no-serve`` is meant to run for months beside a few thousand feeds; its
dedup index holds every entry of the window (3 days) in memory, the parser workers hold their
own interpreters, and the writer keeps SQLAlchemy and feedparser objects alive. The target is a
process tree under 500 MB with 5,000 feeds and 100,000 entries in the window. This measures it
end to end, through the real command, instead of estimating it from the index's arrays
(``bench/dedup_bench.py`` does that).

How: one aiohttp server on 127.0.0.1 (a thread of this process) serves ``--feeds`` RSS feeds of
``--items`` items each, generated from ``--seed``: news-like articles of a few hundred words
drawn from the dedup-dev corpus's word chains (``bench/dedup_bench.Words``; without the corpus,
``tests/synthetic``'s invented words), dated within the last 2 days, 10 % of them copies of
another feed's item (each story in 2-3 feeds: dateline added, a sentence changed, sometimes the
last paragraph dropped, another headline). Every feed answers ``If-None-Match`` with 304.
A feeds.yaml polls each feed every 2 minutes (``min_interval`` 1m, ``max_interval`` 2m, so the
adaptive schedule does not stretch it); ``per_host`` is raised to ``concurrency`` (default 16)
because the 5,000 feeds stand for 5,000 sites and here share one host.

Phase 1 starts ``aggregator --config feeds.yaml run --no-serve --log-format json`` on an empty
database and samples, every 0.5 s, the RSS of the service (VmRSS; its kernel high-water mark
VmHWM too) and of its whole process tree (forkserver and parser workers; from /proc), until
the feed-run log lines have counted every entry as stored; then through one more poll of every
feed (all 304) and at least ``--settle`` seconds (the steady state); then SIGTERM. Phase 2
starts the service again on the filled database with 1 % of the feeds carrying one new item
(so a run has new entries and the dedup index is loaded, which a round of 304s never does) and
samples until every feed has been polled and the index is ready, then SIGTERM. Finally
``aggregator db check`` runs on the result.

Progress goes to stderr; the last stdout line is the JSON summary (also written to ``--out``,
with every sample). Sizes are MiB. RSS summed over the tree counts pages the processes share
(the workers' libraries) more than once; ``pss`` figures split them fairly. The scratch folder
(feeds.yaml, the SQLite database, the service's logs, samples.csv) is removed unless ``--keep``.
With ``--database`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/bench``) give an empty
database: its entries count from the start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import html
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dedup_bench import Words, corpus_texts  # noqa: E402
from proctree import descendants, processes  # noqa: E402

from tests.feedfiles import paragraphs, rss  # noqa: E402
from tests.synthetic import WORDS, _word  # noqa: E402

TARGET_MB = 500.0
WINDOW = timedelta(days=2)  # items are dated within this (the dedup window is 3 days)
COPY_SHARE = 0.10  # items that are copies of another feed's item
SAMPLE_S = 0.5
PROGRESS_S = 10.0
MIB = 2**20
CITIES = ("JAKARTA", "SURABAYA", "BANDUNG", "MEDAN", "LONDON", "SINGAPORE", "MAKASSAR", "DENPASAR")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- article text
class SentenceSource(Protocol):
    langs: list[str]

    def sentence(self, rng: random.Random, lang: str | None = None) -> str: ...


class InventedWords:
    """Fallback without the corpus: sentences of ``tests.synthetic``'s common and invented words."""

    def __init__(self) -> None:
        self.langs = ["id"]

    def sentence(self, rng: random.Random, lang: str | None = None) -> str:
        words = [_word(rng) for _ in range(rng.randint(8, 28))]
        return " ".join(words).capitalize() + "."


def text_source(corpus: Path) -> SentenceSource:
    if (corpus / "entries.jsonl").exists():
        words = Words(corpus_texts(corpus))
        say(f"article text: word chains of {corpus} ({', '.join(words.langs)})")
        return words
    say(f"article text: {corpus} not found; invented words from tests/synthetic.py")
    return InventedWords()


@dataclass(frozen=True, slots=True)
class Article:
    lang: str
    title: str
    text: str  # paragraphs separated by blank lines


def article(source: SentenceSource, rng: random.Random) -> Article:
    """A news-like article: 10-18 sentences (a few hundred words) in paragraphs of 1-3."""
    lang = rng.choice(source.langs)
    sentences = [source.sentence(rng, lang) for _ in range(rng.randint(10, 18))]
    paras: list[str] = []
    while sentences:
        take = rng.randint(1, 3)
        paras.append(" ".join(sentences[:take]))
        sentences = sentences[take:]
    title = " ".join(source.sentence(rng, lang).split()[: rng.randint(6, 12)]).rstrip(".,;:")
    return Article(lang, title, "\n\n".join(paras))


def edited(original: Article, source: SentenceSource, rng: random.Random, site: str) -> Article:
    """A syndicated copy: a dateline, one sentence rewritten, maybe the last paragraph dropped,
    another headline."""
    paras = original.text.split("\n\n")
    if len(paras) > 3 and rng.random() < 0.5:
        paras = paras[:-1]
    k = rng.randrange(len(paras))
    parts = paras[k].split(". ")
    parts[rng.randrange(len(parts))] = source.sentence(rng, original.lang).rstrip(".")
    paras[k] = ". ".join(parts)
    paras[0] = f"{rng.choice(CITIES)}, {site} - {paras[0]}"
    if rng.random() < 0.5:
        title = " ".join(source.sentence(rng, original.lang).split()[: rng.randint(6, 12)]).rstrip(".,;:")
    else:
        title = f"{original.title} ({rng.choice(WORDS)})"
    return Article(original.lang, title, "\n\n".join(paras))


# --------------------------------------------------------------------------- the feeds
@dataclass(frozen=True, slots=True)
class Slot:
    story: int  # the slot whose article this is (itself for an original)
    copy: int  # 0: the original; n: the n-th copy
    age: int  # seconds before the bench started


class Farm:
    """``feeds`` × ``items`` items, planned once, rendered on request (nothing is cached)."""

    def __init__(self, feeds: int, items: int, seed: int, source: SentenceSource, t0: datetime) -> None:
        self.feeds, self.items, self.seed, self.source, self.t0 = feeds, items, seed, source, t0
        self.generation: dict[int, int] = {}  # feed → document generation (absent: 1)
        self.slots = self._plan()
        self.stats: Counter[int] = Counter()  # HTTP status → responses
        self.lock = threading.Lock()

    def _plan(self) -> list[Slot]:
        total = self.feeds * self.items
        rng = random.Random(f"{self.seed}:plan")
        window = int(WINDOW.total_seconds())
        ages = [rng.randrange(600, window - 600) for _ in range(total)]
        order = list(range(total))
        rng.shuffle(order)
        ncopies = round(total * COPY_SHARE)
        copies, sources = order[:ncopies], order[ncopies:]
        slots = [Slot(i, 0, ages[i]) for i in range(total)]
        at, cap, used = 0, rng.choice((1, 2)), 0  # each source gets 1 or 2 copies: stories of 2-3 feeds
        for c in copies:
            while used >= cap or sources[at] // self.items == c // self.items:  # not in its own feed
                at, cap, used = at + 1, rng.choice((1, 2)), 0
            src = sources[at]
            used += 1
            later = rng.randrange(300, 6 * 3600)  # a copy comes 5 minutes to 6 hours later
            slots[c] = Slot(src, used, max(60, ages[src] - later))
        return slots

    def url(self, base: str, feed: int) -> str:
        return f"{base}/f/{feed:05d}.rss"

    def etag(self, feed: int) -> str:
        return f'"{self.seed}-{feed}-{self.generation.get(feed, 1)}"'

    def change(self, feeds: list[int]) -> None:
        """These feeds show one new item (a copy of another feed's story) from now on."""
        for f in feeds:
            self.generation[f] = self.generation.get(f, 1) + 1

    def _article(self, slot_no: int) -> Article:
        slot = self.slots[slot_no]
        original = article(self.source, random.Random(f"{self.seed}:story:{slot.story}"))
        if slot.copy == 0:
            return original
        rng = random.Random(f"{self.seed}:copy:{slot_no}")
        return edited(original, self.source, rng, f"Site{slot_no // self.items:05d}")

    def document(self, feed: int) -> bytes:
        site = f"https://site{feed:05d}.example"
        items: list[tuple[int, str, Article]] = []  # (age, guid, article)
        for i in range(self.items):
            n = feed * self.items + i
            items.append((self.slots[n].age, f"site{feed:05d}-{i}", self._article(n)))
        for g in range(2, self.generation.get(feed, 1) + 1):  # a new item per generation
            other = ((feed + g) % self.feeds) * self.items
            rng = random.Random(f"{self.seed}:new:{feed}:{g}")
            original = article(self.source, random.Random(f"{self.seed}:story:{self.slots[other].story}"))
            copy = edited(original, self.source, rng, f"Site{feed:05d}")
            items.append((g - 2, f"site{feed:05d}-new{g}", copy))
        items.sort(key=lambda x: x[0])
        entries = [
            {
                "url": f"{site}/news/{guid}/{_slug(a.title)}",
                "guid": guid,
                "title": a.title,
                "summary_html": html.escape(a.text.split("\n\n")[0][:300]),
                "content_html": paragraphs(a.text),
                "published": (self.t0 - timedelta(seconds=age)).isoformat(),
            }
            for age, guid, a in items[: self.items]
        ]
        return rss(f"Site {feed:05d} news", site + "/", entries)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "item"


class FarmServer:
    """The farm on 127.0.0.1, served by aiohttp from a thread of this process."""

    def __init__(self, farm: Farm) -> None:
        self.farm = farm
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        farm = self.farm
        m = re.fullmatch(r"/f/(\d+)\.rss", request.path)
        if m is None or int(m.group(1)) >= farm.feeds:
            return web.Response(status=404, text="not found")
        feed = int(m.group(1))
        etag = farm.etag(feed)
        if request.headers.get("If-None-Match") == etag:
            status, response = 304, web.Response(status=304, headers={"ETag": etag})
        else:
            body = farm.document(feed)
            status = 200
            response = web.Response(body=body, content_type="application/rss+xml", headers={"ETag": etag})
        with farm.lock:
            farm.stats[status] += 1
        return response

    def start(self) -> FarmServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_get("/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
            loop.run_until_complete(site.start())
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="feed-farm", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the feed server did not start")
        return self

    def stop(self) -> None:
        loop, runner = self._loop, self._runner
        if loop is None or runner is None:
            return
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)


# --------------------------------------------------------------------------- memory of a process tree
@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # seconds since the service started
    main_rss: float  # MiB
    main_hwm: float
    tree_rss: float
    tree_pss: float
    processes: int
    entries: int  # new entries the feed-run log lines reported so far
    runs: int


def _proc_kb(pid: int, name: str, keys: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/{name}", encoding="ascii", errors="replace") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in keys:
                out[key] = int(rest.split()[0])
    return out


def measure(root: int, t: float, entries: int, runs: int) -> Sample | None:
    pids = descendants(processes(), root)  # the service, its forkserver and parser workers
    main = _proc_kb(root, "status", ("VmRSS", "VmHWM"))
    if "VmRSS" not in main:
        return None  # gone
    rss = pss = 0
    for pid in pids:
        rss += _proc_kb(pid, "status", ("VmRSS",)).get("VmRSS", 0)
        pss += _proc_kb(pid, "smaps_rollup", ("Pss",)).get("Pss", 0)
    kib = 1024 / MIB
    return Sample(
        round(t, 2),
        round(main["VmRSS"] * kib, 1),
        round(main.get("VmHWM", 0) * kib, 1),
        round(rss * kib, 1),
        round(pss * kib, 1),
        len(pids),
        entries,
        runs,
    )


# --------------------------------------------------------------------------- the service
@dataclass
class Service:
    """One ``aggregator run --no-serve`` process, its JSON log read as it grows."""

    config: Path
    log_path: Path
    feeds: int
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    runs: Counter[str] = field(default_factory=Counter)  # feed name → runs
    statuses: Counter[str] = field(default_factory=Counter)
    new: int = 0
    problems: Counter[str] = field(default_factory=Counter)  # warning/error lines, by message
    index_ready: tuple[float, int, float] | None = None  # (t, entries, seconds to load)
    samples: list[Sample] = field(default_factory=list)
    _offset: int = 0
    _partial: bytes = b""

    def start(self, env: dict[str, str]) -> None:
        cmd = [sys.executable, "-m", "aggregator", "--config", str(self.config)]
        cmd += ["run", "--no-serve", "--log-format", "json"]
        say(f"starting: {' '.join(cmd)}  (log: {self.log_path})")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.config.parent
            )
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def polled(self) -> int:
        """Feeds polled at least once."""
        return len(self.runs)

    def read_log(self) -> None:
        with open(self.log_path, "rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read()
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for raw in lines:
            self._line(raw)

    def _line(self, raw: bytes) -> None:
        try:
            doc = json.loads(raw)
        except ValueError:
            if raw.strip():
                self.problems[f"(not JSON) {raw[:200].decode(errors='replace')}"] += 1
            return
        if not isinstance(doc, dict):
            return
        message = str(doc.get("message", ""))
        if doc.get("logger") == "aggregator.feed":
            self.runs[str(doc.get("feed"))] += 1
            self.statuses[str(doc.get("status"))] += 1
            self.new += int(doc.get("new") or 0)
        m = re.match(r"dedup index ready: (\d+) entries in ([\d.]+) s", message)
        if m:
            self.index_ready = (round(self.elapsed, 2), int(m.group(1)), float(m.group(2)))
            say(f"log: {message}")
        if doc.get("level") in ("warning", "error", "critical"):
            detail = doc.get("error") or doc.get("exception", "")
            key = f"{doc.get('level')} {doc.get('logger')}: {message} {str(detail)[:200]}".strip()
            if self.problems[key] == 0:
                say(f"log: {key}")
            self.problems[key] += 1

    def sample(self) -> Sample | None:
        assert self.proc is not None
        s = measure(self.proc.pid, self.elapsed, self.new, sum(self.runs.values()))
        if s is not None:
            self.samples.append(s)
        return s

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL after 60 s); the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            say(f"SIGTERM to the service (pid {self.proc.pid})")
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                say("the service did not stop within 60 s: SIGKILL")
                self.proc.kill()
                self.proc.wait()
        self.read_log()
        return self.proc.returncode

    def progress(self, phase: str, expected: int) -> None:
        s = self.samples[-1] if self.samples else None
        rate = self.new / self.elapsed if self.elapsed else 0.0
        mem = "no sample"
        if s:
            mem = f"rss main {s.main_rss:.0f} MiB, tree {s.tree_rss:.0f} MiB "
            mem += f"(pss {s.tree_pss:.0f}, {s.processes} procs)"
        say(
            f"{phase} t={self.elapsed:6.0f}s entries {self.new}/{expected} ({rate:.0f}/s) "
            f"feeds polled {self.polled}/{self.feeds} runs {sum(self.runs.values())} "
            f"{dict(self.statuses)} | {mem}"
        )


def run_phase(
    svc: Service,
    env: dict[str, str],
    done: Callable[[Service], bool],
    *,
    phase: str,
    expected: int,
    timeout: float,
    stall: float | None = None,
) -> bool:
    """Start the service and sample until ``done(svc)`` (True), ``timeout``, or ``stall``
    seconds without a new entry once every feed was polled (False)."""
    svc.start(env)
    next_progress = time.monotonic() + PROGRESS_S
    last_new, last_change = -1, time.monotonic()
    while True:
        tick = time.monotonic()
        svc.read_log()
        svc.sample()
        if svc.new != last_new:
            last_new, last_change = svc.new, tick
        if stall is not None and svc.polled >= svc.feeds and tick - last_change > stall:
            say(f"{phase}: no new entry for {stall:.0f} s although every feed was polled; stopping")
            svc.progress(phase, expected)
            return False
        if not svc.alive():
            say(f"{phase}: the service exited early with code {svc.proc.returncode if svc.proc else None}")
            return False
        if done(svc):
            svc.progress(phase, expected)
            return True
        if svc.elapsed > timeout:
            say(f"{phase}: gave up after {timeout:.0f} s")
            svc.progress(phase, expected)
            return False
        if tick >= next_progress:
            svc.progress(phase, expected)
            next_progress = tick + PROGRESS_S
        time.sleep(max(0.0, SAMPLE_S - (time.monotonic() - tick)))


# --------------------------------------------------------------------------- the database
def count_rows(url: str) -> dict[str, int]:
    """Entries and stories stored (read-only; after the service stopped)."""
    tables = ("entries", "stories")
    try:
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
                return {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}
        import psycopg

        with psycopg.connect(re.sub(r"^postgres(ql)?(\+psycopg)?:", "postgresql:", url)) as con:
            out: dict[str, int] = {}
            for t in tables:
                row = con.execute(f"SELECT count(*) FROM {t}").fetchone()
                out[t] = int(row[0]) if row else -1
            return out
    except Exception as exc:  # a figure missing from the report, not a failed benchmark
        say(f"counting rows failed: {exc}")
        return {t: -1 for t in tables}


def db_check(config: Path, env: dict[str, str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "aggregator", "--config", str(config), "db", "check"]
    say(f"running: {' '.join(cmd)}")
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=config.parent)
    tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
    return {"rc": done.returncode, "seconds": round(time.monotonic() - started, 1), "output": tail}


# --------------------------------------------------------------------------- report
def peak(samples: list[Sample], key: str) -> tuple[float, Sample | None]:
    if not samples:
        return 0.0, None
    best = max(samples, key=lambda s: float(getattr(s, key)))
    return float(getattr(best, key)), best


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def curve(samples: list[Sample], every: float = 30.0) -> list[list[float]]:
    """[t, entries, main RSS, tree RSS] every ``every`` seconds (and the last sample)."""
    out: list[list[float]] = []
    next_t = 0.0
    for s in samples:
        if s.t >= next_t:
            out.append([s.t, s.entries, s.main_rss, s.tree_rss])
            next_t = s.t + every
    if samples and out[-1][0] != samples[-1].t:
        s = samples[-1]
        out.append([s.t, s.entries, s.main_rss, s.tree_rss])
    return out


def write_samples(path: Path, phases: list[tuple[str, list[Sample]]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["phase", *Sample.__slots__])
        for name, samples in phases:
            for s in samples:
                w.writerow([name, *(getattr(s, k) for k in Sample.__slots__)])


def problems_of(svc: Service) -> dict[str, int]:
    return dict(svc.problems.most_common(10))


# --------------------------------------------------------------------------- main
def write_config(path: Path, farm: Farm, base: str, database: str, per_host: int) -> None:
    lines = [
        f"database: {json.dumps(database)}",
        "polling:",
        "  interval: 2m",
        "  min_interval: 1m",
        "  max_interval: 2m",
        f"  per_host: {per_host}",
        "feeds:",
    ]
    lines += [f"  - url: {farm.url(base, n)}\n    name: f{n:05d}" for n in range(farm.feeds)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def service_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AGGREGATOR_DATABASE_URL", "AGGREGATOR_CONFIG")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=5000)
    ap.add_argument("--items", type=int, default=20, help="items per feed")
    ap.add_argument("--database", help="database URL (default: sqlite:///<scratch>/agg.db)")
    ap.add_argument("--settle", type=float, default=60.0, help="seconds sampled after the ingest, at least")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ap.add_argument("--out", type=Path, help="write the summary and every sample here (JSON)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-host", type=int, default=16, help="polling.per_host (all feeds share one host)")
    ap.add_argument("--changed", type=float, default=0.01, help="share of feeds with a new item at restart")
    ap.add_argument("--timeout", type=float, default=3000.0, help="give up the ingest after this many s")
    ap.add_argument("--tmpdir", type=Path, help="where the scratch folder goes (default: the system's)")
    ap.add_argument(
        "--corpus", type=Path, default=ROOT.parent / "shared/corpus/dedup-dev", help="text for the articles"
    )
    args = ap.parse_args()
    if args.tmpdir:
        args.tmpdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="daemon-memory.", dir=args.tmpdir))
    database = args.database or f"sqlite:///{tmp / 'agg.db'}"
    expected = args.feeds * args.items
    t0 = datetime.now(UTC).replace(microsecond=0)
    farm = Farm(args.feeds, args.items, args.seed, text_source(args.corpus), t0)
    server = FarmServer(farm).start()
    base = f"http://127.0.0.1:{server.port}"
    config = tmp / "feeds.yaml"
    write_config(config, farm, base, database, args.per_host)
    say(f"{args.feeds} feeds × {args.items} items at {base}/f/NNNNN.rss; scratch {tmp}")
    env = service_env()
    summary: dict[str, Any] = {
        "feeds": args.feeds,
        "items_per_feed": args.items,
        "expected_entries": expected,
        "database": re.sub(r"//[^@/]*@", "//", database).split(":", 1)[0],
        "cpus": os.cpu_count(),
    }
    phases: list[tuple[str, list[Sample]]] = []
    services: list[Service] = []
    try:
        # ---- phase 1: ingest from an empty database, then the steady state
        first = Service(config, tmp / "service-1.log", args.feeds)
        services.append(first)
        ok = run_phase(
            first,
            env,
            lambda s: s.new >= expected,
            phase="ingest",
            expected=expected,
            timeout=args.timeout,
            stall=300.0,
        )
        ingest_s = first.elapsed
        ingest_end = len(first.samples)
        runs_at_end = dict(first.runs)
        settle_start = time.monotonic()
        stats_before = dict(farm.stats)
        say(f"ingest {'done' if ok else 'incomplete'} in {ingest_s:.0f} s; settling: every feed polled again")

        def settled(s: Service) -> bool:
            waited = time.monotonic() - settle_start
            again = sum(1 for name, n in s.runs.items() if n > runs_at_end.get(name, 0))
            settle: float = args.settle
            return waited >= settle and (again >= args.feeds or waited > settle + 300)

        if ok:
            run_phase_continue(first, settled, phase="settle", expected=expected)
        steady = first.samples[ingest_end:]
        stop_rc = first.stop()
        phases.append(("ingest", first.samples[:ingest_end]))
        phases.append(("settle", steady))
        rows = count_rows(database)
        settle_statuses = Counter(dict(first.statuses))
        summary_first(summary, first, ingest_s, ok, steady, rows, stop_rc, settle_statuses, runs_at_end)
        summary["http_after_ingest"] = {str(k): v for k, v in sorted(stats_before.items())}

        # ---- phase 2: restart on the filled database
        changed = list(range(0, args.feeds, max(1, round(1 / args.changed)))) if args.changed > 0 else []
        farm.change(changed)
        say(f"restart: {len(changed)} feeds now show one new item")
        second = Service(config, tmp / "service-2.log", args.feeds)
        services.append(second)

        def first_round(s: Service) -> bool:
            return s.polled >= args.feeds and (not changed or s.index_ready is not None)

        done2 = run_phase(
            second, env, first_round, phase="restart", expected=len(changed), timeout=args.settle + 600
        )
        stop2 = second.stop()
        phases.append(("restart", second.samples))
        rows2 = count_rows(database)
        summary["restart"] = summary_restart(second, done2, stop2, rows2, len(changed))
        summary["http"] = {str(k): v for k, v in sorted(farm.stats.items())}
        summary["db_check"] = db_check(config, env)
        summary["target_mb"] = TARGET_MB
        peaks = [summary["peak_rss_tree_mb"], summary["restart"]["peak_rss_tree_mb"]]
        summary["target_met_rss_tree"] = max(peaks) < TARGET_MB
        summary["target_met_pss_tree"] = (
            max(summary["peak_pss_tree_mb"], summary["restart"]["peak_pss_tree_mb"]) < TARGET_MB
        )
    finally:
        for svc in services:
            if svc.alive():
                svc.stop()
        server.stop()
    write_samples(tmp / "samples.csv", phases)
    if args.keep:
        summary["scratch"] = str(tmp)
    if args.out:
        full = {**summary, "samples": {name: [list(_astuple(s)) for s in ss] for name, ss in phases}}
        args.out.write_text(json.dumps(full, indent=1) + "\n", encoding="utf-8")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(summary), flush=True)


def _astuple(s: Sample) -> Iterator[float]:
    return (float(getattr(s, k)) for k in Sample.__slots__)


def run_phase_continue(svc: Service, done: Callable[[Service], bool], *, phase: str, expected: int) -> None:
    """Keep sampling a running service until ``done(svc)`` (or it exits)."""
    next_progress = time.monotonic() + PROGRESS_S
    while svc.alive():
        tick = time.monotonic()
        svc.read_log()
        svc.sample()
        if done(svc):
            svc.progress(phase, expected)
            return
        if tick >= next_progress:
            svc.progress(phase, expected)
            next_progress = tick + PROGRESS_S
        time.sleep(max(0.0, SAMPLE_S - (time.monotonic() - tick)))


def summary_first(
    out: dict[str, Any],
    svc: Service,
    ingest_s: float,
    ok: bool,
    steady: list[Sample],
    rows: dict[str, int],
    stop_rc: int | None,
    statuses: Counter[str],
    runs_at_end: dict[str, int],
) -> None:
    ingest = svc.samples[: len(svc.samples) - len(steady)]
    main, at_main = peak(svc.samples, "main_rss")
    tree, at_tree = peak(svc.samples, "tree_rss")
    pss, _ = peak(svc.samples, "tree_pss")
    out.update(
        {
            "ingest_complete": ok,
            "ingest_seconds": round(ingest_s, 1),
            "entries_per_s": round(svc.new / ingest_s, 1) if ingest_s else None,
            "entries_stored": rows["entries"],
            "entries_logged_new": svc.new,
            "stories": rows["stories"],
            "peak_rss_main_mb": main,
            "peak_rss_main_hwm_mb": max((s.main_hwm for s in svc.samples), default=0.0),
            "peak_rss_tree_mb": tree,
            "peak_pss_tree_mb": pss,
            "peak_at_s": at_tree.t if at_tree else None,
            "peak_at_entries": at_tree.entries if at_tree else None,
            "peak_main_at_s": at_main.t if at_main else None,
            "max_processes": max((s.processes for s in svc.samples), default=0),
            "first_sample_rss_main_mb": svc.samples[0].main_rss if svc.samples else None,
            "rss_at_end_of_ingest": (
                {"main": ingest[-1].main_rss, "tree": ingest[-1].tree_rss, "pss": ingest[-1].tree_pss}
                if ingest
                else None
            ),
            "steady_rss_main_mb": median([s.main_rss for s in steady]),
            "steady_rss_tree_mb": median([s.tree_rss for s in steady]),
            "steady_pss_tree_mb": median([s.tree_pss for s in steady]),
            "steady_max_rss_tree_mb": max((s.tree_rss for s in steady), default=None),
            "steady_seconds": round(steady[-1].t - steady[0].t, 1) if steady else 0.0,
            "feeds_polled_again_in_steady": sum(1 for n, c in svc.runs.items() if c > runs_at_end.get(n, 0)),
            "index_ready_phase1": svc.index_ready,
            "feed_runs": dict(statuses),
            "service_exit_code": stop_rc,
            "log_problems": problems_of(svc),
            "curve_t_entries_main_tree": curve(svc.samples, 60.0 if ingest_s > 600 else 10.0),
        }
    )


def summary_restart(
    svc: Service, done: bool, rc: int | None, rows: dict[str, int], changed: int
) -> dict[str, Any]:
    main, _ = peak(svc.samples, "main_rss")
    tree, at_tree = peak(svc.samples, "tree_rss")
    pss, _ = peak(svc.samples, "tree_pss")
    ready = svc.index_ready
    before = [s for s in svc.samples if ready is None or s.t < ready[0]]
    return {
        "first_round_done": done,
        "first_round_seconds": round(svc.elapsed, 1),
        "feeds_changed": changed,
        "new_entries": svc.new,
        "peak_rss_main_mb": main,
        "peak_rss_main_hwm_mb": max((s.main_hwm for s in svc.samples), default=0.0),
        "peak_rss_tree_mb": tree,
        "peak_pss_tree_mb": pss,
        "peak_at_s": at_tree.t if at_tree else None,
        "rss_main_before_first_run_mb": max((s.main_rss for s in svc.samples if s.runs == 0), default=None),
        "rss_main_before_index_mb": max((s.main_rss for s in before), default=None),
        "rss_main_end_mb": svc.samples[-1].main_rss if svc.samples else None,
        "rss_tree_end_mb": svc.samples[-1].tree_rss if svc.samples else None,
        "index_ready_at_s": ready[0] if ready else None,
        "index_entries": ready[1] if ready else None,
        "index_load_seconds": ready[2] if ready else None,
        "entries_stored": rows["entries"],
        "stories": rows["stories"],
        "feed_runs": dict(svc.statuses),
        "service_exit_code": rc,
        "log_problems": problems_of(svc),
        "curve_t_entries_main_tree": curve(svc.samples, 5.0),
    }


if __name__ == "__main__":
    main()
