"""Put each new entry into a story: identity keys first, then the near-duplicate matcher.

This is orchestration between the store (look-ups, membership rows) and the dedup engine (pure
decisions); the decisions themselves live in ``aggregator.dedup``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from aggregator.store import entries as entry_repo
from aggregator.store import stories as story_repo
from aggregator.store.values import FeedState, StoredEntry


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an entry went and why."""

    story_id: int
    match: str
    similarity: float | None
    matched_entry_id: int | None
    detail: dict[str, float] | None = None


class NearDuplicateMatcher(Protocol):
    """What clustering needs from the near-duplicate engine (``aggregator.dedup``)."""

    def observe(self, session: Session, feed: FeedState, entries: Sequence[StoredEntry]) -> None: ...
    def prepare(self, session: Session, entries: Sequence[StoredEntry]) -> None: ...
    def place(self, session: Session, feed: FeedState, entry: StoredEntry) -> Placement | None: ...
    def placed(self, session: Session, entry: StoredEntry, story_id: int) -> None: ...
    def elect(self, session: Session, story_id: int) -> tuple[int, datetime]: ...


def earliest_member(session: Session, story_id: int) -> tuple[int, datetime]:
    """Representative by the simplest rule: earliest published, then lowest id."""
    ids = [m.entry_id for m in story_repo.members_of(session, story_id)]
    best = min(entry_repo.get_entries(session, ids), key=lambda e: (e.published, e.id))
    return best.id, best.published


def assign_new_entries(
    session: Session,
    feed: FeedState,
    new_entries: Sequence[StoredEntry],
    now: datetime,
    matcher: NearDuplicateMatcher | None = None,
    *,
    learn: bool = True,
) -> list[Placement]:
    """Place every new entry of one feed run; returns the placements in input order.

    ``learn=False`` skips boilerplate learning (a rebuild has already observed every entry).
    """
    if matcher is not None:
        if learn:
            matcher.observe(session, feed, new_entries)
        matcher.prepare(session, new_entries)
    placements: list[Placement] = []
    touched: set[int] = set()
    known = entry_repo.identity_index(session, new_entries)
    for entry in new_entries:
        placement = _identity(known, entry) or (
            matcher.place(session, feed, entry) if matcher is not None else None
        )
        placement = _record(session, feed, entry, placement, now)
        for ident in entry_repo.identity_keys(entry):  # later entries of this batch find it too
            known.setdefault(ident, (entry.id, placement.story_id))
        if matcher is not None:
            matcher.placed(session, entry, placement.story_id)
        if placement.match != "first":  # a new story's only member already represents it
            touched.add(placement.story_id)
        placements.append(placement)
    session.flush()
    for sid in sorted(touched):
        rep, published = matcher.elect(session, sid) if matcher else earliest_member(session, sid)
        story_repo.set_representative(session, sid, rep, published, now)
    return placements


def _record(
    session: Session, feed: FeedState, entry: StoredEntry, placement: Placement | None, now: datetime
) -> Placement:
    """Store the membership; an entry that matched nothing starts a story of its own."""
    if placement is None:
        key = story_repo.story_key(feed.config_url, entry.guid_key)
        sid = story_repo.create_story(session, key=key, entry_id=entry.id, published=entry.published, now=now)
        placement = Placement(sid, "first", None, None)
    story_repo.add_member(
        session,
        entry_id=entry.id,
        story_id=placement.story_id,
        match=placement.match,
        similarity=placement.similarity,
        matched_entry_id=placement.matched_entry_id,
        detail=placement.detail,
        now=now,
    )
    return placement


def _identity(known: entry_repo.IdentityKeys, entry: StoredEntry) -> Placement | None:
    """The same entry already stored under another feed (or earlier in this batch)."""
    for key in entry_repo.identity_keys(entry):
        hit = known.get(key)
        if hit is not None and hit[0] != entry.id:
            return Placement(hit[1], key[0], 1.0, hit[0])
    return None
