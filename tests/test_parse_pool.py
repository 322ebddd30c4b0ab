"""ParsePool: parses in worker processes, cuts off a runaway parse and recovers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.models import FeedDiscovery, ParsedFeed
from aggregator.parse import parse
from aggregator.parse.pool import ParsePool

FEEDS = Path(__file__).parent / "data" / "feeds"
URL = "https://www.cnnindonesia.com/nasional/rss"
RSS = {"content-type": "application/rss+xml"}


def slow_parse(body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed | FeedDiscovery:
    """Spins for as many seconds as the body says, then parses: a stand-in for a runaway parse."""
    if body.startswith(b"spin "):
        deadline = time.monotonic() + float(body.split()[1])
        while time.monotonic() < deadline:
            pass
        body = (FEEDS / "rss20.xml").read_bytes()
    return parse(body, headers, url)


def test_in_process_pool() -> None:
    with ParsePool(workers=0) as pool:
        result = asyncio.run(pool.parse((FEEDS / "rss20.xml").read_bytes(), RSS, URL))
        assert isinstance(result, ParsedFeed) and len(result.entries) == 3
        assert isinstance(pool.parse_sync((FEEDS / "atom10.xml").read_bytes(), RSS, URL), ParsedFeed)


def test_worker_pool_parses_and_raises_parse_errors() -> None:
    async def run(pool: ParsePool) -> None:
        result = await pool.parse((FEEDS / "rss20.xml").read_bytes(), RSS, URL, timeout=30)
        assert isinstance(result, ParsedFeed) and result.entries[0].guid == "cnn-id-00075"
        with pytest.raises(ParseError, match="declares XML entities"):  # crosses the process boundary
            await pool.parse((FEEDS / "quadratic.xml").read_bytes(), RSS, URL, timeout=30)

    with ParsePool(workers=1) as pool:
        asyncio.run(run(pool))


def test_deadline_kills_and_recovers() -> None:
    async def run(pool: ParsePool) -> None:
        await pool.parse(b"spin 0", RSS, URL, timeout=30)  # workers started and warm
        started = time.monotonic()
        with pytest.raises(ParseError, match=r"parse took longer than 0\.5 s; cut off"):
            await pool.parse(b"spin 60", RSS, URL, timeout=0.5)
        assert time.monotonic() - started < 5
        # A fresh pool answers the next document.
        assert isinstance(await pool.parse(b"spin 0", RSS, URL, timeout=30), ParsedFeed)

    with ParsePool(workers=1, target=slow_parse) as pool:
        asyncio.run(run(pool))


def test_deadline_sync_and_neighbours_retried() -> None:
    with ParsePool(workers=1, timeout=30, target=slow_parse) as pool:
        pool.parse_sync(b"spin 0", RSS, URL)
        with pytest.raises(ParseError, match="cut off"):
            pool.parse_sync(b"spin 60", RSS, URL, timeout=0.5)
        assert isinstance(pool.parse_sync(b"spin 0", RSS, URL), ParsedFeed)

        async def both() -> tuple[object, object]:
            slow = pool.parse(b"spin 60", RSS, URL, timeout=0.5)
            fine = pool.parse(b"spin 0.1", RSS, URL, timeout=30)  # queued behind the runaway
            a, b = await asyncio.gather(slow, fine, return_exceptions=True)
            return a, b

        slow_result, fine_result = asyncio.run(both())
        assert isinstance(slow_result, ParseError)
        assert isinstance(fine_result, ParsedFeed)
