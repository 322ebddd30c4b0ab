"""``aggregator dedup rebuild``: sign and place every stored entry again, in publication order.

After a change of ``dedup:`` settings or of the algorithm. Deterministic: the same database and
settings give the same stories. It learns each feed's boilerplate from all of the feed's
entries first, then replays the entries in batches, each batch one transaction: the database is
consistent after every batch (every entry in exactly one story), so an interrupted rebuild
leaves working stories and can simply be run again. A story founded by the same entry as before
keeps its id (story keys derive from the founding entry), so ``/story/ID`` links survive where
stories do not change. The cluster epoch is bumped, so running workers reload their indexes.

Cleaning, signing, the verification features and the headline of an entry depend only on its
title, text and link and its feed's boilerplate, which is fully learned before placing starts:
worker processes make that work (``dedup.prework``, given each feed's learned lines and title
affixes) for the next two batches while this process places the current one, so both cores
work and the placing side mostly verifies and writes (two batches ahead, the workers always
have work queued: they never wait for the placing side to finish a batch). The learning pass
before it is spread the same way: the workers key and count two batches' lines
(``boilerplate.tally``) while this process reads the next batch's texts.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from aggregator.cluster.elect import reelect
from aggregator.cluster.state import doc_of, signature_record
from aggregator.dedup import DedupDoc, DedupSettings, Engine, Placing
from aggregator.dedup.boilerplate import Boilerplate, tally
from aggregator.models import MatchKind
from aggregator.processes import REBUILD_PRELOAD, collecting_less, default_workers, process_pool
from aggregator.store import Database, Tx
from aggregator.store import dedup as dedup_repo
from aggregator.store import entries as entry_repo
from aggregator.store import feeds as feed_repo
from aggregator.store import stories as story_repo
from aggregator.store.db import bump
from aggregator.store.values import EntryText, FeedState, NewMember, NewStory, StoredEntry

if TYPE_CHECKING:
    from aggregator.dedup.prework import Prework
    from aggregator.dedup.titles import Headline

    Work = tuple[Prework, Headline]  # an entry's, made ahead by a worker process

Observed = tuple[int, str, str]  # an entry's feed id, text and title, for the learning pass
Counted = dict[int, tuple[dict[int, int], int]]  # per feed: count changes, entries (``tally``)

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("aggregator.rebuild")

BATCH = 1000  # entries placed per transaction
AHEAD = 2  # batches whose prework the workers make while one is placed

Progress = Callable[[str, int, int], None]  # (phase, done, total)


def rebuild(
    database: Database,
    settings: DedupSettings,
    now: datetime,
    progress: Progress | None = None,
    workers: int | None = None,
) -> tuple[int, int]:
    """Re-form every story; returns (entries placed, stories). ``workers``: processes making
    the entries' prework (None: one per core; 0: all of it here). Runs with the cycle
    collector's thresholds raised (``collecting_less``)."""
    with collecting_less():
        return _rebuild(database, settings, now, progress or (lambda phase, done, total: None), workers)


def _rebuild(
    database: Database, settings: DedupSettings, now: datetime, report: Progress, workers: int | None
) -> tuple[int, int]:
    engine = Engine(settings)
    known: entry_repo.IdentityKeys = {}
    with _Ahead(engine, workers) as ahead:
        with database.transaction("starting the rebuild") as tx:
            database.lock_clustering(tx)
            bump(tx, "cluster_epoch")
            order = dedup_repo.entries_in_order(tx)
            feeds = {f.id: f for f in feed_repo.list_feeds(tx)}
            dedup_repo.forget_learning(tx)
            first = _learn(tx, engine, order, report, ahead)
            batches = [order[start : start + BATCH] for start in range(0, len(order), BATCH)]
            # The learning is finished: the workers start on the first batches while the counts
            # are written.
            for texts in first:
                ahead.start(texts)
            docs = {f: engine.boilerplate.docs(f) for f in feeds}
            dedup_repo.store_learning(tx, engine.boilerplate.snapshot(), docs, now)
        for n, chunk in enumerate(batches):
            work = ahead.take()
            if n + AHEAD < len(batches):
                with database.reading("reading texts to sign") as tx:
                    ahead.start(entry_repo.texts(tx, batches[n + AHEAD]))
            with database.transaction("rebuilding stories") as tx:
                database.lock_clustering(tx)
                batch = entry_repo.get_entries(tx, chunk)
                placing, mapping = _place(tx, engine, feeds, batch, known, now, work)
            placing.commit(mapping)
            for key, (entry_id, story) in list(known.items()):
                if story < 0:
                    known[key] = (entry_id, mapping[story])
            report("placing", min((n + 1) * BATCH, len(order)), len(order))
    # Work the engine had to do itself (a worker failed, or there are none) shows here.
    ahead_n = engine.stats["prework_used"]
    log.info("%d of %d entries cleaned and signed ahead by worker processes", ahead_n, len(order))
    with database.transaction("finishing the rebuild") as tx:
        bump(tx, "cluster_epoch")
        bump(tx)
        return len(order), story_repo.counts(tx)["stories"]


def _learn(
    tx: Tx, engine: Engine, order: list[int], report: Progress, ahead: _Ahead
) -> list[list[EntryText]]:
    """Count every entry's lines into its feed's boilerplate, as the live runs would have (the
    counts are sums, so a feed's entries of a batch are counted together, in any order: one
    array update). The workers count two batches while the next one is read. Returns the
    texts of the first ``AHEAD`` batches, which the workers start on next."""
    first: list[list[EntryText]] = []
    counting: deque[tuple[int, _Tally]] = deque()  # batches being counted: (last entry's place, counts)

    def add_oldest() -> None:
        done, counts = counting.popleft()
        counts.add_to(engine.boilerplate)
        report("learning", done, len(order))

    for start in range(0, len(order), BATCH):
        stored = entry_repo.texts(tx, order[start : start + BATCH])
        if len(first) < AHEAD:
            first.append(stored)
        counting.append((min(start + BATCH, len(order)), ahead.tally(stored)))
        if len(counting) > AHEAD:
            add_oldest()
    while counting:
        add_oldest()
    return first


def _place(
    tx: Tx,
    engine: Engine,
    feeds: dict[int, FeedState],
    batch: list[StoredEntry],
    known: entry_repo.IdentityKeys,
    now: datetime,
    work: dict[int, Work],
) -> tuple[Placing, dict[int, int]]:
    """Place one batch (identity from ``known``, the replayed entries, then the engine) and
    move the entries' memberships; returns the placing to commit and the new stories' ids.
    ``work``: prework and headlines made ahead, by entry (the engine checks the prework still
    fits, else cleans; the headlines were made with the finished learning, as here)."""
    docs = [DedupDoc(e.id, e.feed_id, e.title, e.text, e.published, url=e.url) for e in batch]
    made = [work.get(e.id) for e in batch]
    prepared = engine.prepare(docs, [w[0] if w else None for w in made], [w[1] if w else None for w in made])
    placing = prepared.supply(doc_of(t) for t in entry_repo.texts(tx, prepared.needs))
    key_of = {e.id: story_repo.story_key(feeds[e.feed_id].config_url, e.guid_key) for e in batch}
    reusable = story_repo.ids_by_key(tx, list(key_of.values()))
    before = story_repo.stories_of(tx, [e.id for e in batch])
    founders: list[NewStory] = []
    members: list[NewMember] = []
    signatures = []
    slots = iter(placing)
    for entry in batch:
        slot = next(slots)
        kind, similarity, matched, detail = MatchKind.FIRST, None, None, None
        hit = _identity(known, entry)
        story: int
        if hit is not None:
            kind, similarity, matched, story = hit
        else:
            d = slot.decide()
            if d.story_id is not None:
                story, kind, similarity, matched = d.story_id, d.kind, d.similarity, d.matched_entry_id
                detail = json.dumps(dict(d.detail), sort_keys=True) if d.detail else None
            elif key_of[entry.id] in reusable:  # founded by the same entry as before: same id
                story = reusable[key_of[entry.id]]
            else:
                founders.append(NewStory(key_of[entry.id], entry.id, entry.published))
                story = -len(founders)
        slot.place(story)
        for key in entry_repo.identity_keys(entry):
            known.setdefault(key, (entry.id, story))
        members.append(NewMember(entry.id, story, kind.value, similarity, matched, detail))
        signatures.append(signature_record(entry.id, slot.signature, entry.published))
    ids = story_repo.create_stories(tx, founders, now)
    mapping = {-(i + 1): sid for i, sid in enumerate(ids)}
    members = [replace(m, story_id=mapping.get(m.story_id, m.story_id)) for m in members]
    story_repo.move_members(tx, [m for m in members if m.entry_id in before], now)
    story_repo.add_members(tx, [m for m in members if m.entry_id not in before], now)
    dedup_repo.save_signatures(tx, signatures)
    story_repo.delete_empty_stories(tx)
    touched = sorted({m.story_id for m in members} | set(before.values()))
    story_repo.touch(tx, touched, now)
    reelect(tx, touched, now)
    return placing, mapping


def _identity(known: entry_repo.IdentityKeys, entry: StoredEntry) -> tuple[MatchKind, float, int, int] | None:
    for key in entry_repo.identity_keys(entry):
        hit = known.get(key)
        if hit is not None and hit[0] != entry.id:
            return MatchKind(key[0]), 1.0, hit[0], hit[1]
    return None


class _Tally:
    """The line counts of a batch of texts, being made by the workers (or made here)."""

    def __init__(self, parts: list[tuple[Sequence[Observed], Future[Counted] | None]]) -> None:
        self.parts = parts

    def add_to(self, boilerplate: Boilerplate) -> None:
        for entries, future in self.parts:
            counted: Counted | None = None
            if future is not None:
                try:
                    counted = future.result()
                except Exception as exc:  # any failure: counted here, with the same result
                    log.warning("counting %d entries' lines failed (%s); counted here", len(entries), exc)
            for feed_id, (delta, docs) in (counted if counted is not None else tally(entries)).items():
                boilerplate.count(feed_id, delta, docs)


class _Ahead:
    """Work for worker processes: the line counts of the learning pass (``tally``), then the
    prework and headlines of the next ``AHEAD`` batches while one is placed.

    Best effort: a chunk whose worker failed (or a machine where processes cannot start) is
    simply cleaned and signed by the engine itself, with the same result."""

    def __init__(self, engine: Engine, workers: int | None) -> None:
        self.engine = engine
        self.workers = default_workers() if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None
        # per batch sent and not yet taken, oldest first: its parts' entry ids and futures
        self._pending: deque[list[tuple[list[int], Future[tuple[list[Prework], list[Headline]]]]]] = deque()
        self._learned: dict[int, frozenset[int]] = {}

    def __enter__(self) -> _Ahead:
        if self.workers > 0:  # its processes start on the first submit
            self._pool = process_pool(self.workers, REBUILD_PRELOAD)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def start(self, texts: Sequence[EntryText]) -> None:
        """Send a batch of entries to the workers, behind those sent before (the engine's
        boilerplate is learned)."""
        from aggregator.dedup.prework import prework_and_headlines

        sent: list[tuple[list[int], Future[tuple[list[Prework], list[Headline]]]]] = []
        self._pending.append(sent)
        for part in self._parts(texts):
            items = [(t.title, t.text, t.url) for t in part]
            drop = [self._learned_of(t.feed_id) for t in part]
            future = self._submit("placing", prework_and_headlines, items, drop)
            if future is None:
                return
            sent.append(([t.entry_id for t in part], future))

    def tally(self, texts: Sequence[EntryText]) -> _Tally:
        """Send these entries' lines to the workers to be keyed and counted (``boilerplate.tally``);
        parts no worker took are counted here."""
        entries = [(t.feed_id, t.text, t.title) for t in texts]
        if self._pool is None:
            return _Tally([(entries, None)])
        return _Tally([(part, self._submit("learning", tally, part)) for part in self._parts(entries)])

    def _parts(self, items: Sequence[T]) -> list[Sequence[T]]:
        """``items`` in one part per worker (none without workers)."""
        if self._pool is None or not items:
            return []
        size = -(-len(items) // self.workers)
        return [items[at : at + size] for at in range(0, len(items), size)]

    def _submit(self, doing: str, fn: Callable[..., R], *args: Any) -> Future[R] | None:
        """``fn(*args)`` sent to a worker; None once the pool is broken (or no process could
        start), which is then let go: the rest of the work is done here."""
        if self._pool is None:
            return None
        try:
            return self._pool.submit(fn, *args)
        except (RuntimeError, OSError) as exc:
            log.warning("%s without worker processes: %s", doing, exc)
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            return None

    def take(self) -> dict[int, Work]:
        """The work of the oldest batch sent by ``start`` and not yet taken, by entry."""
        out: dict[int, Work] = {}
        for ids, future in self._pending.popleft() if self._pending else []:
            try:
                work, heads = future.result()
                out.update(zip(ids, zip(work, heads, strict=True), strict=True))
            except Exception as exc:  # any failure: the engine does the work itself
                log.warning("prework of %d entries failed (%s); signing them here", len(ids), exc)
        return out

    def _learned_of(self, feed_id: int) -> frozenset[int]:
        got = self._learned.get(feed_id)
        if got is None:
            got = self._learned[feed_id] = self.engine.boilerplate.learned(feed_id)
        return got
