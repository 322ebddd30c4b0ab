"""WorkerPool: digests in worker processes, cuts off a runaway parse and recovers."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.models import Digest, FeedDiscovery
from aggregator.pipeline.digest import DigestJob, digest
from aggregator.pipeline.workers import WorkerPool

FEEDS = Path(__file__).parent / "data" / "feeds"
URL = "https://www.cnnindonesia.com/nasional/rss"
RSS = {"content-type": "application/rss+xml"}


NOW = datetime(2024, 8, 13, tzinfo=UTC)


def job(body: bytes, known: frozenset[str] = frozenset()) -> DigestJob:
    return DigestJob(body, RSS, URL, URL, NOW, known)


def slow_digest(j: DigestJob) -> Digest | FeedDiscovery:
    """Spins for as many seconds as the body says, then digests: a stand-in for a runaway parse."""
    if j.body.startswith(b"spin "):
        deadline = time.monotonic() + float(j.body.split()[1])
        while time.monotonic() < deadline:
            pass
        j = job((FEEDS / "rss20.xml").read_bytes())
    return digest(j)


def test_in_process_pool() -> None:
    with WorkerPool(workers=0) as pool:
        result = asyncio.run(pool.run(job((FEEDS / "rss20.xml").read_bytes())))
        assert isinstance(result, Digest) and len(result.entries) == 3
        assert isinstance(pool.run_sync(job((FEEDS / "atom10.xml").read_bytes())), Digest)


def test_worker_pool_digests_and_raises_parse_errors() -> None:
    async def run(pool: WorkerPool) -> None:
        result = await pool.run(job((FEEDS / "rss20.xml").read_bytes()), timeout=30)
        assert isinstance(result, Digest) and result.entries[0].guid_key == "cnn-id-00075"
        assert result.title == "CNN Indonesia - Nasional" and result.entries[0].raw_hash
        with pytest.raises(ParseError, match="declares XML entities"):  # crosses the process boundary
            await pool.run(job((FEEDS / "quadratic.xml").read_bytes()), timeout=30)

    with WorkerPool(workers=1) as pool:
        asyncio.run(run(pool))


def test_entries_known_as_parsed_are_not_normalised_again() -> None:
    body = (FEEDS / "rss20.xml").read_bytes()
    first = digest(job(body))
    assert isinstance(first, Digest) and first.unchanged == 0
    known = frozenset(e.raw_hash for e in first.entries[:2])
    again = digest(job(body, known))
    assert isinstance(again, Digest)
    assert [e.guid_key for e in again.entries] == [first.entries[2].guid_key]
    assert again.unchanged == 2 and again.seen == 3


def test_deadline_kills_and_recovers() -> None:
    async def run(pool: WorkerPool) -> None:
        await pool.run(job(b"spin 0"), timeout=30)  # workers started and warm
        started = time.monotonic()
        with pytest.raises(ParseError, match=r"parse took longer than 0\.5 s; cut off"):
            await pool.run(job(b"spin 60"), timeout=0.5)
        assert time.monotonic() - started < 5
        # A fresh pool answers the next document.
        assert isinstance(await pool.run(job(b"spin 0"), timeout=30), Digest)

    with WorkerPool(workers=1, target=slow_digest) as pool:
        asyncio.run(run(pool))


def test_deadline_sync_and_neighbours_retried() -> None:
    with WorkerPool(workers=1, timeout=30, target=slow_digest) as pool:
        pool.run_sync(job(b"spin 0"))
        with pytest.raises(ParseError, match="cut off"):
            pool.run_sync(job(b"spin 60"), timeout=0.5)
        assert isinstance(pool.run_sync(job(b"spin 0")), Digest)

        async def both() -> tuple[object, object]:
            slow = pool.run(job(b"spin 60"), timeout=0.5)
            fine = pool.run(job(b"spin 0.1"), timeout=30)  # queued behind the runaway
            a, b = await asyncio.gather(slow, fine, return_exceptions=True)
            return a, b

        slow_result, fine_result = asyncio.run(both())
        assert isinstance(slow_result, ParseError)
        assert isinstance(fine_result, Digest)


OWNER = """
import sys, time
from aggregator.pipeline.workers import WorkerPool
if __name__ == "__main__":
    pool = WorkerPool(2)
    executor = pool._executor()
    executor.submit(sum, [1, 2]).result()
    print(" ".join(str(p) for p in executor._processes), flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_leave_when_their_owner_is_killed(tmp_path: Path) -> None:
    """A service killed with SIGKILL leaves no parser processes behind."""
    import os
    import signal
    import subprocess
    import sys

    from aggregator.processes import ORPHAN_CHECK_SECONDS

    script = tmp_path / "owner.py"
    script.write_text(OWNER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert owner.stdout is not None
        workers = [int(p) for p in owner.stdout.readline().split()]
        assert workers and all(_alive(p) for p in workers)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
    deadline = time.monotonic() + 3 * ORPHAN_CHECK_SECONDS + 5
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers)


@pytest.mark.skipif(not hasattr(__import__("os"), "getpriority"), reason="POSIX priorities")
def test_parser_workers_yield_the_cpu_to_their_owner() -> None:
    """Storing and clustering in the owner is a round's critical path: parsers run niced."""
    import os

    from aggregator.processes import NICENESS

    own = os.getpriority(os.PRIO_PROCESS, 0)
    with WorkerPool(workers=1) as pool:
        worker = pool._executor().submit(os.getpriority, os.PRIO_PROCESS, 0).result(timeout=30)
    assert worker == min(19, own + NICENESS)


def test_workers_collect_cycles_less_often() -> None:
    """Parser and rebuild workers run the cycle collector at our thresholds (``collect_less``)."""
    import gc

    from aggregator.processes import COLLECT_EVERY

    assert gc.get_threshold() != COLLECT_EVERY  # pytest's own process keeps Python's default
    with WorkerPool(workers=1) as pool:
        assert pool._executor().submit(gc.get_threshold).result(timeout=30) == COLLECT_EVERY
