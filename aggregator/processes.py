"""Worker processes: how many, how they start, and that they never outlive their owner.

Shared by the parser pool of a feed run (``pipeline/workers.py``) and by
``aggregator dedup rebuild`` (``cluster/rebuild.py``), which both hand CPU-bound work that
depends only on its input to other cores.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

ORPHAN_CHECK_SECONDS = 2.0
REBUILD_PRELOAD = ("aggregator.dedup.prework",)  # what ``dedup rebuild``'s workers run
NICENESS = 10  # workers yield the CPU to the process that owns them (see _start)
# The cycle collector's thresholds (Python's default: 700, 10, 10); see ``collect_less``.
COLLECT_EVERY = (10_000, 10, 10)


def collect_less() -> None:
    """Run Python's cycle collector about 14 times less often in this process.

    Batch work allocates containers by the million (text features, prework, SQL rows) that die
    by reference counting and almost never form cycles, yet by default each 700 of them trigger
    a young-generation pass, and every 100 passes a pass over every object alive: 9 % of
    ``dedup rebuild``'s main process (0.54 of 6 s on 10,000 entries, 0.15 s with these
    thresholds) and a few percent of a worker's prework. Cycles are still collected, after
    10,000 allocations instead of 700; the older generations keep their default ratios.

    For the worker processes (set as they start) and ``dedup rebuild`` (``collecting_less``).
    ``poll`` and the daemon keep Python's defaults: there these thresholds save only 2-3 % of
    the main process (its collector costs 4 %), and a long-running service's memory is worth
    more than that."""
    gc.set_threshold(*COLLECT_EVERY)


@contextmanager
def collecting_less() -> Iterator[None]:
    """``collect_less`` while the block runs, then the thresholds as they were."""
    before = gc.get_threshold()
    collect_less()
    try:
        yield
    finally:
        gc.set_threshold(*before)


def default_workers() -> int:
    """One per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _start(owner: int, preload: tuple[str, ...]) -> None:
    """In each worker: import what its jobs need before the first one, run niced, and leave
    when the process that owns the pool is gone. A pool's workers outlive an owner killed with
    SIGKILL (they wait on a queue nobody will write to again); a worker (or a whole machine of
    them) must not linger after its service died."""
    import importlib
    import threading
    import time

    collect_less()
    for name in preload:
        importlib.import_module(name)

    def watch() -> None:
        while True:
            time.sleep(ORPHAN_CHECK_SECONDS)
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # the pid was reused by another user's process: gone too
                os._exit(0)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()
    if hasattr(os, "nice"):
        # The owner's work (storing and placing, one thread, in order) is the critical path
        # the workers feed, and the web server shares its process: it gets a core first.
        os.nice(NICENESS)


def process_pool(workers: int, preload: tuple[str, ...] = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` niced processes that import ``preload`` first and exit with us.

    forkserver: workers start from a clean interpreter, not a copy of a threaded parent. The
    fork server imports ``preload`` once when it starts (it is started by the first pool of the
    process, and serves every later one, such as the pool that replaces one killed for a runaway
    document), so each worker forks with those modules loaded instead of importing them again."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    start_fork_server(preload)
    ctx = multiprocessing.get_context("forkserver")
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start, initargs=(os.getpid(), preload))


def start_fork_server(preload: tuple[str, ...] = ()) -> None:
    """Start the fork server this process's pools fork their workers from, importing
    ``preload``, and return at once.

    A pool forks its workers on its first submit, and that call waits until the fork server has
    imported ``preload`` (0.2 s with NumPy). Started early (``dedup rebuild`` starts it before
    its own imports, a pool when it is made), the server imports on another core while this
    process goes on. The first call decides what the server imports; later ones change nothing
    while it runs."""
    import multiprocessing
    from multiprocessing import forkserver

    if preload:  # "__main__" first: the fork server's own default, so workers need not run it
        multiprocessing.get_context("forkserver").set_forkserver_preload(["__main__", *preload])
    forkserver.ensure_running()
