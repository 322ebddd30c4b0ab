"""This process's dedup engine, kept equal to what the database holds.

The engine is loaded from stored signatures and boilerplate counts on first need (a round of
304s never loads it), in a read transaction, without the clustering lock. Each run that forms
stories then takes the lock and catches up, inside its own transaction, with what other
processes committed since: their entries (ids above the highest this engine has seen grow in
commit order, as entries are only inserted under the lock), the boilerplate counts of feeds
stamped with a newer change number, and a new cluster epoch after ``dedup rebuild`` (which
means: reload everything). So every worker decides against the same state a single process
would have.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from aggregator.dedup.settings import DedupSettings
from aggregator.store import Database, Tx
from aggregator.store import dedup as dedup_repo
from aggregator.store import entries as entry_repo
from aggregator.store.db import counters
from aggregator.store.values import EntryText, IndexedRecord, SignatureRecord

if TYPE_CHECKING:  # the engine (and NumPy) load on first need, not with this module
    from aggregator.dedup.engine import DedupDoc, Engine
    from aggregator.dedup.signature import Signature

log = logging.getLogger("aggregator.cluster")


def doc_of(t: EntryText) -> DedupDoc:
    from aggregator.dedup.engine import DedupDoc

    return DedupDoc(t.entry_id, t.feed_id, t.title, t.text, t.published, t.story_id, t.url)


def signature_record(entry_id: int, sig: Signature, doc_time: datetime) -> SignatureRecord:
    return SignatureRecord(entry_id, sig.algo_version, sig.num_perm, sig.seed, sig.to_bytes(), doc_time)


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc only). Loading the index streams
    hundreds of thousands of rows through short-lived objects; without this the process keeps
    their pages for good, and a long-running worker's resident size says so."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


class ClusterState:
    """The engine of this process (None while not needed, or when dedup is off)."""

    def __init__(self, settings: DedupSettings) -> None:
        self.settings = settings
        self.engine: Engine | None = None
        self._epoch = -1
        self._seq = -1  # the last boilerplate change number applied
        self._changes = -1  # the shared change counter when this engine last matched the database
        self.loaded_in: float | None = None
        self._loading = threading.Lock()  # a runner may start loading ahead, on another thread

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def warm(self, database: Database) -> None:
        """Load the engine if it is not loaded (outside the clustering lock: a read transaction).

        Safe from several threads: a caller that finds a load in progress waits for it."""
        if not self.enabled or self.engine is not None:
            return
        with self._loading:
            if self.engine is None:
                self._warm(database)

    def _warm(self, database: Database) -> None:
        started = time.monotonic()
        with database.reading("loading the dedup index") as tx:
            engine, stale = self._load(tx)
            uncredited = bool(dedup_repo.missing_credits(tx, limit=1))
        if stale or uncredited:  # stored by an older release
            with database.transaction("upgrading stored dedup data") as tx:
                self._resign(tx, engine, stale)
                fill_credits(tx)
        self.engine = engine
        self.loaded_in = time.monotonic() - started
        release_free_memory()
        log.info("dedup index ready: %d entries in %.1f s", len(engine), self.loaded_in)

    def _load(self, tx: Tx) -> tuple[Engine, dict[int, int]]:
        from aggregator.dedup.engine import Engine

        engine = Engine(self.settings)
        shared = counters(tx)
        self._epoch, self._changes = shared.get("cluster_epoch", 0), shared.get("changes", 0)
        self._reload_boilerplate(tx, engine, after=-1)
        stale = self._index(engine, dedup_repo.indexed_since(tx, 0))
        return engine, stale

    def _index(self, engine: Engine, records: Iterable[IndexedRecord]) -> dict[int, int]:
        """Add stored signatures to ``engine``; returns {entry: story} of those signed by
        another algorithm version (an older release), to re-sign from their texts."""
        from aggregator.dedup.engine import Indexed
        from aggregator.dedup.signature import ALGO_VERSION, Signature

        batch: list[Indexed] = []
        stale: dict[int, int] = {}
        for r in records:
            try:
                sig = Signature.from_bytes(r.data)
            except ValueError:  # another algorithm version, or damaged bytes
                stale[r.entry_id] = r.story_id
                continue
            if r.algo_version != ALGO_VERSION or not sig.compatible():
                stale[r.entry_id] = r.story_id
                continue
            batch.append(Indexed(r.entry_id, r.story_id, r.time, sig, r.feed_id, r.title))
            if len(batch) >= 20_000:
                engine.add_many(batch)
                batch = []
        engine.add_many(batch)
        return stale

    def _resign(self, tx: Tx, engine: Engine, stale: dict[int, int]) -> None:
        if not stale:
            return
        from aggregator.dedup.engine import Indexed

        log.info("re-signing %d entries signed by another algorithm version", len(stale))
        records, items = [], []
        for t in entry_repo.texts(tx, sorted(stale)):
            doc = doc_of(t)
            sig = engine.sign(doc)
            records.append(signature_record(doc.entry_id, sig, doc.time))
            items.append(Indexed(doc.entry_id, stale[doc.entry_id], doc.time, sig, doc.feed_id, doc.title))
        dedup_repo.save_signatures(tx, records)
        engine.add_many(items)

    def _reload_boilerplate(self, tx: Tx, engine: Engine, after: int) -> None:
        changed = dedup_repo.boilerplate_changed(tx, after)
        if not changed:
            return
        counts = dedup_repo.boilerplate_counts(tx, [f for f, _, _ in changed])
        for feed_id, docs, seq in changed:
            engine.boilerplate.load(feed_id, docs, counts.get(feed_id, {}))
            self._seq = max(self._seq, seq)

    def sync(self, tx: Tx) -> Engine | None:
        """Under the clustering lock, inside the run's transaction: catch up with the database."""
        if not self.enabled:
            return None
        shared = counters(tx)
        epoch, changes = shared.get("cluster_epoch", 0), shared.get("changes", 0)
        if self.engine is None or epoch != self._epoch:
            if self.engine is not None:
                log.info("stories were re-formed (dedup rebuild): reloading the dedup index")
            self.engine, stale = self._load(tx)
            if stale:
                self._resign(tx, self.engine, stale)
            return self.engine
        engine = self.engine
        if changes == self._changes:  # nobody wrote anything since: nothing to catch up with
            return engine
        self._reload_boilerplate(tx, engine, self._seq)
        others = list(dedup_repo.indexed_since(tx, engine.max_entry_id()))
        if others:
            stale = self._index(engine, others)
            if stale:
                self._resign(tx, engine, stale)
        self._changes = changes
        return engine

    def learned(self, seq: int) -> None:
        """This process wrote boilerplate change number ``seq`` (already in its memory)."""
        self._seq = max(self._seq, seq)

    def committed(self, changes: int) -> None:
        """This process's run committed, leaving the change counter at ``changes``: the engine
        (which holds the run's placements) matches the database as of that number."""
        if self.engine is not None:
            self._changes = changes

    def forget(self) -> None:
        """Drop the engine (after a failure that may have left it ahead of the database)."""
        with self._loading:
            self.engine = None
            self._epoch = self._seq = self._changes = -1


def fill_credits(tx: Tx) -> int:
    """Record the credited sources of entries stored before they were recorded."""
    from aggregator.normalise.credits import credits

    done = 0
    while rows := dedup_repo.missing_credits(tx):
        dedup_repo.set_credits(tx, [(i, "\n".join(credits(text))) for i, text in rows])
        done += len(rows)
    return done
