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
import time
from collections.abc import Iterable
from datetime import datetime

from aggregator.dedup import ALGO_VERSION, NUM_PERM, SEED, DedupDoc, DedupSettings, Engine, Indexed, Signature
from aggregator.normalise import credits
from aggregator.store import Database, Tx
from aggregator.store import dedup as dedup_repo
from aggregator.store import entries as entry_repo
from aggregator.store.db import counter
from aggregator.store.values import EntryText, IndexedRecord, SignatureRecord

log = logging.getLogger("aggregator.cluster")


def doc_of(t: EntryText) -> DedupDoc:
    return DedupDoc(t.entry_id, t.feed_id, t.title, t.text, t.published, t.story_id)


def signature_record(entry_id: int, sig: Signature, doc_time: datetime) -> SignatureRecord:
    return SignatureRecord(entry_id, sig.algo_version, NUM_PERM, SEED, sig.to_bytes(), doc_time)


class ClusterState:
    """The engine of this process (None while not needed, or when dedup is off)."""

    def __init__(self, settings: DedupSettings) -> None:
        self.settings = settings
        self.engine: Engine | None = None
        self._epoch = -1
        self._seq = -1  # the last boilerplate change number applied
        self.loaded_in: float | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def warm(self, database: Database) -> None:
        """Load the engine if it is not loaded (outside any lock: a read transaction)."""
        if not self.enabled or self.engine is not None:
            return
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
        log.info("dedup index ready: %d entries in %.1f s", len(engine), self.loaded_in)

    def _load(self, tx: Tx) -> tuple[Engine, dict[int, int]]:
        engine = Engine(self.settings)
        self._epoch = counter(tx, "cluster_epoch")
        self._reload_boilerplate(tx, engine, after=-1)
        stale = self._index(engine, dedup_repo.indexed_since(tx, 0))
        return engine, stale

    def _index(self, engine: Engine, records: Iterable[IndexedRecord]) -> dict[int, int]:
        """Add stored signatures to ``engine``; returns {entry: story} of those signed by
        another algorithm version (an older release), to re-sign from their texts."""
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
            batch.append(Indexed(r.entry_id, r.story_id, r.time, sig))
            if len(batch) >= 20_000:
                engine.add_many(batch)
                batch = []
        engine.add_many(batch)
        return stale

    def _resign(self, tx: Tx, engine: Engine, stale: dict[int, int]) -> None:
        if not stale:
            return
        log.info("re-signing %d entries signed by another algorithm version", len(stale))
        records, items = [], []
        for t in entry_repo.texts(tx, sorted(stale)):
            doc = doc_of(t)
            sig = engine.sign(doc)
            records.append(signature_record(doc.entry_id, sig, doc.time))
            items.append(Indexed(doc.entry_id, stale[doc.entry_id], doc.time, sig))
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
        epoch = counter(tx, "cluster_epoch")
        if self.engine is None or epoch != self._epoch:
            if self.engine is not None:
                log.info("stories were re-formed (dedup rebuild): reloading the dedup index")
            self.engine, stale = self._load(tx)
            if stale:
                self._resign(tx, self.engine, stale)
            return self.engine
        engine = self.engine
        self._reload_boilerplate(tx, engine, self._seq)
        others = list(dedup_repo.indexed_since(tx, engine.max_entry_id()))
        if others:
            stale = self._index(engine, others)
            if stale:
                self._resign(tx, engine, stale)
        return engine

    def learned(self, seq: int) -> None:
        """This process wrote boilerplate change number ``seq`` (already in its memory)."""
        self._seq = max(self._seq, seq)

    def forget(self) -> None:
        """Drop the engine (after a failure that may have left it ahead of the database)."""
        self.engine = None
        self._epoch = self._seq = -1


def fill_credits(tx: Tx) -> int:
    """Record the credited sources of entries stored before they were recorded."""
    done = 0
    while rows := dedup_repo.missing_credits(tx):
        dedup_repo.set_credits(tx, [(i, "\n".join(credits(text))) for i, text in rows])
        done += len(rows)
    return done
