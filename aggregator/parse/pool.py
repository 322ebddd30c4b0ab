"""Parsing off the event loop, in worker processes, with a deadline.

feedparser is CPU-bound (30–180 ms for an ordinary feed, far more for a hostile one), so it runs
in a process pool: the event loop keeps fetching, and a parse that overruns its deadline is cut
off by killing the workers (a thread cannot be stopped) and starting fresh ones on the next
call. Parses that were queued on the killed pool are retried once on the new one, so a single
runaway document does not fail its neighbours.

``workers=0`` parses in the calling process, with no deadline: for tests and small runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
from collections.abc import Callable, Mapping
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType

from aggregator.errors import ParseError
from aggregator.models import FeedDiscovery, ParsedFeed
from aggregator.parse import parse as parse_document

ParseFn = Callable[[bytes, Mapping[str, str], str], ParsedFeed | FeedDiscovery]
Executor = concurrent.futures.ProcessPoolExecutor


def _warm() -> None:
    """Import the parser (and its safe SAX driver setup) in each worker before the first feed."""
    import aggregator.parse.xmlfeed  # noqa: F401


class ParsePool:
    """A pool of parser processes. ``target`` must be a module-level (picklable) function."""

    def __init__(self, workers: int = 1, timeout: float = 30.0, target: ParseFn = parse_document) -> None:
        self.workers, self.timeout, self.target = workers, timeout, target
        self._pool: Executor | None = None

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _executor(self) -> Executor:
        if self._pool is None:
            # forkserver: workers start from a clean interpreter, not a copy of a threaded parent.
            ctx = multiprocessing.get_context("forkserver")
            self._pool = Executor(self.workers, mp_context=ctx, initializer=_warm)
        return self._pool

    def close(self) -> None:
        """Stop the workers, waiting for running parses; queued ones are cancelled."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _kill(self, pool: Executor) -> None:
        """Kill ``pool``'s workers now (a runaway parse) and forget it; the next call starts afresh."""
        if self._pool is pool:
            self._pool = None
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def _cut_off(self, url: str, timeout: float) -> ParseError:
        return ParseError(url, f"parse took longer than {timeout:g} s; cut off")

    async def parse(
        self, body: bytes, headers: Mapping[str, str], url: str, timeout: float | None = None
    ) -> ParsedFeed | FeedDiscovery:
        """Parse in a worker; ``ParseError`` when it takes longer than ``timeout`` seconds."""
        if self.workers <= 0:
            return self.target(body, dict(headers), url)
        limit = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        for attempt in range(2):
            pool = self._executor()
            future = loop.run_in_executor(pool, self.target, body, dict(headers), url)
            try:
                return await asyncio.wait_for(future, limit)
            except TimeoutError as exc:
                self._kill(pool)
                raise self._cut_off(url, limit) from exc
            except BrokenProcessPool as exc:
                if attempt == 0 and self._pool is not pool:
                    continue  # killed for another document's overrun: try again on the new pool
                self._kill(pool)
                raise ParseError(url, "the parser process died on this document") from exc
        raise AssertionError("unreachable")

    def parse_sync(
        self, body: bytes, headers: Mapping[str, str], url: str, timeout: float | None = None
    ) -> ParsedFeed | FeedDiscovery:
        """``parse`` for callers without an event loop."""
        if self.workers <= 0:
            return self.target(body, dict(headers), url)
        limit = self.timeout if timeout is None else timeout
        for attempt in range(2):
            pool = self._executor()
            future = pool.submit(self.target, body, dict(headers), url)
            try:
                return future.result(limit)
            except TimeoutError as exc:
                self._kill(pool)
                raise self._cut_off(url, limit) from exc
            except BrokenProcessPool as exc:
                if attempt == 0 and self._pool is not pool:
                    continue
                self._kill(pool)
                raise ParseError(url, "the parser process died on this document") from exc
        raise AssertionError("unreachable")
