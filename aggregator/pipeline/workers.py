"""Parsing and normalising off the event loop, in worker processes, with a deadline.

feedparser is CPU-bound (30–180 ms for an ordinary feed, far more for a hostile one), and
sanitising and reducing HTML to text cost as much again, so both run in a pool of processes,
one per core: the event loop keeps fetching and the main process keeps writing while the
workers digest. A job that overruns its deadline is cut off by killing the workers (a thread
cannot be stopped) and starting fresh ones on the next call; jobs that were queued on the
killed pool are retried once on the new one, so a single runaway document does not fail its
neighbours. The pool starts on first use: a round of 304s never starts it.

``workers=0`` digests in the calling process, with no deadline: for tests and small runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType

from aggregator.errors import ParseError
from aggregator.models import Digest, FeedDiscovery
from aggregator.pipeline.digest import DigestJob, digest
from aggregator.processes import default_workers, process_pool

Target = Callable[[DigestJob], Digest | FeedDiscovery]
Executor = concurrent.futures.ProcessPoolExecutor


# What a digest job runs: the normaliser, the parser with its safe SAX driver, the dedup prework.
PRELOAD = ("aggregator.normalise", "aggregator.parse.xmlfeed", "aggregator.dedup.prework")


class WorkerPool:
    """A pool of worker processes. ``target`` must be a module-level (picklable) function."""

    def __init__(self, workers: int | None = None, timeout: float = 30.0, target: Target = digest) -> None:
        self.workers = default_workers() if workers is None else workers
        self.timeout, self.target = timeout, target
        self._pool: Executor | None = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _executor(self) -> Executor:
        if self._pool is None:
            self._pool = process_pool(self.workers, PRELOAD)
        return self._pool

    def close(self) -> None:
        """Stop the workers, waiting for running jobs; queued ones are cancelled."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _kill(self, pool: Executor) -> None:
        """Kill ``pool``'s workers now (a runaway job) and forget it; the next call starts afresh."""
        if self._pool is pool:
            self._pool = None
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def _cut_off(self, url: str, timeout: float) -> ParseError:
        return ParseError(url, f"parse took longer than {timeout:g} s; cut off")

    async def run(self, job: DigestJob, timeout: float | None = None) -> Digest | FeedDiscovery:
        """Digest in a worker; ``ParseError`` when it takes longer than ``timeout`` seconds."""
        if self.workers <= 0:
            return self.target(job)
        limit = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        for attempt in range(2):
            pool = self._executor()
            future = loop.run_in_executor(pool, self.target, job)
            try:
                return await asyncio.wait_for(future, limit)
            except TimeoutError as exc:
                self._kill(pool)
                raise self._cut_off(job.url, limit) from exc
            except BrokenProcessPool as exc:
                if attempt == 0 and self._pool is not pool:
                    continue  # killed for another document's overrun: try again on the new pool
                self._kill(pool)
                raise ParseError(job.url, "the parser process died on this document") from exc
        raise AssertionError("unreachable")

    def run_sync(self, job: DigestJob, timeout: float | None = None) -> Digest | FeedDiscovery:
        """``run`` for callers without an event loop."""
        if self.workers <= 0:
            return self.target(job)
        limit = self.timeout if timeout is None else timeout
        for attempt in range(2):
            pool = self._executor()
            future = pool.submit(self.target, job)
            try:
                return future.result(limit)
            except TimeoutError as exc:
                self._kill(pool)
                raise self._cut_off(job.url, limit) from exc
            except BrokenProcessPool as exc:
                if attempt == 0 and self._pool is not pool:
                    continue
                self._kill(pool)
                raise ParseError(job.url, "the parser process died on this document") from exc
        raise AssertionError("unreachable")
