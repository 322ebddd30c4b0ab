"""Parsing off the event loop, in worker processes, with a deadline.

feedparser is CPU-bound (30–180 ms for an ordinary feed, far more for a hostile one), so it runs
in a process pool: the event loop keeps fetching, and a parse that overruns its deadline is cut
off by killing the workers (a thread cannot be stopped) and starting fresh ones.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from aggregator.errors import ParseError
from aggregator.models import FeedDiscovery, ParsedFeed
from aggregator.parse import parse as parse_document

ParseFn = Callable[[bytes, Mapping[str, str], str], ParsedFeed | FeedDiscovery]


def _warm() -> None:
    """Import the parser in each worker up front, so the first feed's deadline is fair."""
    import aggregator.parse.xmlfeed  # noqa: F401


class ParsePool:
    """``workers=0`` parses in the calling process (no deadline): for tests and tiny runs."""

    def __init__(self, workers: int = 1, timeout: float = 30.0, target: ParseFn = parse_document) -> None:
        self.workers, self.timeout, self.target = workers, timeout, target
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("forkserver")
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=ctx, initializer=_warm
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _kill(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes: dict[Any, Any] = getattr(pool, "_processes", None) or {}
        for proc in list(processes.values()):
            proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    async def parse(self, body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed | FeedDiscovery:
        if self.workers <= 0:
            return self.target(body, dict(headers), url)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor(), self.target, body, dict(headers), url)
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError as exc:
            self._kill()
            raise ParseError(url, f"parsing took longer than {self.timeout:g} s; cut off") from exc
        except concurrent.futures.process.BrokenProcessPool as exc:
            self._kill()
            raise ParseError(url, "the parser process died on this document") from exc
