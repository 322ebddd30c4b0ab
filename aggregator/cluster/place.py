"""Put a feed run's new entries into stories: identity keys first, then the dedup engine.

The glue between the store and the pure engine, in the run's transaction, under the
clustering lock: catch the engine up, look up identities (three queries), learn boilerplate,
prepare the batch, read the texts it needs (one query), decide each entry in order, then write
stories, memberships and signatures as a few multi-row statements and re-elect the
representatives of the stories that changed. The engine takes the placements only once the
transaction has committed (``Placed.commit``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aggregator.cluster.elect import reelect
from aggregator.cluster.state import ClusterState, doc_of, signature_record
from aggregator.dedup import DedupDoc, Engine, Placing, Slot
from aggregator.dedup.prework import Prework
from aggregator.models import MatchKind
from aggregator.store import Tx
from aggregator.store import dedup as dedup_repo
from aggregator.store import entries as entry_repo
from aggregator.store import stories as story_repo
from aggregator.store.values import FeedState, NewMember, NewStory, SignatureRecord, StoredEntry


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one entry went and why (``story_id`` may be provisional, i.e. negative, until the
    stories are created)."""

    entry: StoredEntry
    story_id: int
    kind: MatchKind
    similarity: float | None = None
    matched_entry_id: int | None = None
    detail: dict[str, float] | None = None


@dataclass
class Placed:
    """What a run's clustering did, and the engine's side of it, applied after the commit."""

    placements: list[Placement] = field(default_factory=list)
    _placing: Placing | None = None
    _stories: dict[int, int] = field(default_factory=dict)  # provisional -> real story id
    _learned: tuple[Engine, int, dict[int, int], int] | None = None  # engine, feed, delta, docs

    @property
    def new_stories(self) -> int:
        return sum(p.kind is MatchKind.FIRST for p in self.placements)

    def commit(self) -> None:
        """The transaction committed: the engine takes the placements."""
        if self._placing is not None:
            self._placing.commit(self._stories)
            self._placing = None

    def abandon(self) -> None:
        """The transaction failed: the engine forgets the batch and the lines it counted."""
        if self._placing is not None:
            self._placing.abandon()
            self._placing = None
        if self._learned is not None:
            engine, feed_id, delta, docs = self._learned
            engine.boilerplate.revert(feed_id, delta, docs)
            self._learned = None


def _identity(known: entry_repo.IdentityKeys, entry: StoredEntry) -> Placement | None:
    """The same entry already stored under another feed (or earlier in this batch)."""
    for key in entry_repo.identity_keys(entry):
        hit = known.get(key)
        if hit is not None and hit[0] != entry.id:
            return Placement(entry, hit[1], MatchKind(key[0]), 1.0, hit[0])
    return None


def place_new_entries(
    tx: Tx,
    state: ClusterState,
    feed: FeedState,
    new: Sequence[StoredEntry],
    now: datetime,
    placed: Placed,
    prework: Mapping[str, Prework] | None = None,
) -> None:
    """Place every new entry of one feed run (the caller holds the clustering lock), recording
    in ``placed`` what was done, so the caller can commit or abandon the engine's side.
    ``prework``: what the parser process made of the entries, by guid key (see dedup/prework.py)."""
    if not new:
        return
    engine = state.sync(tx)
    known = entry_repo.identity_index(tx, new)
    slots: Iterator[Slot] | None = None
    if engine is not None:
        delta = engine.boilerplate.observe(feed.id, [e.text for e in new], [e.title for e in new])
        placed._learned = (engine, feed.id, delta, len(new))
        state.learned(dedup_repo.add_boilerplate(tx, feed.id, delta, len(new), now))
        docs = [DedupDoc(e.id, feed.id, e.title, e.text, e.published, url=e.url) for e in new]
        given = prework or {}
        prepared = engine.prepare(docs, [given.get(e.guid_key) for e in new])
        placing = prepared.supply(doc_of(t) for t in entry_repo.texts(tx, prepared.needs))
        placed._placing = placing
        slots = iter(placing)
    founders: list[StoredEntry] = []
    signatures: list[SignatureRecord] = []
    for entry in new:
        slot = next(slots) if slots is not None else None  # one at a time: each after the last is placed
        placement = _identity(known, entry) or _decided(entry, slot, -(len(founders) + 1))
        if placement.kind is MatchKind.FIRST:
            founders.append(entry)
        if slot is not None:
            slot.place(placement.story_id)
            signatures.append(signature_record(entry.id, slot.signature, entry.published))
        for key in entry_repo.identity_keys(entry):  # later entries of this batch find it too
            known.setdefault(key, (entry.id, placement.story_id))
        placed.placements.append(placement)
    _write(tx, placed, feed, founders, now)
    dedup_repo.save_signatures(tx, signatures)


def _decided(entry: StoredEntry, slot: Slot | None, provisional: int) -> Placement:
    if slot is None:
        return Placement(entry, provisional, MatchKind.FIRST)
    d = slot.decide()
    if d.story_id is None:
        return Placement(entry, provisional, MatchKind.FIRST)
    return Placement(entry, d.story_id, d.kind, d.similarity, d.matched_entry_id, dict(d.detail))


def _write(tx: Tx, placed: Placed, feed: FeedState, founders: list[StoredEntry], now: datetime) -> None:
    """Create the new stories, record every membership, re-elect the stories that changed."""
    keys = [NewStory(story_repo.story_key(feed.config_url, e.guid_key), e.id, e.published) for e in founders]
    ids = story_repo.create_stories(tx, keys, now)
    placed._stories = {-(i + 1): sid for i, sid in enumerate(ids)}
    real = placed._stories
    members = [
        NewMember(
            p.entry.id,
            real.get(p.story_id, p.story_id),
            p.kind.value,
            p.similarity,
            p.matched_entry_id,
            json.dumps(p.detail, sort_keys=True) if p.detail else None,
        )
        for p in placed.placements
    ]
    story_repo.add_members(tx, members, now)
    # A new story's only member already represents it; every other story gained a member.
    touched = sorted(
        {m.story_id for m, p in zip(members, placed.placements, strict=True) if p.kind is not MatchKind.FIRST}
    )
    if touched:
        story_repo.touch(tx, touched, now)
        reelect(tx, touched, now)
