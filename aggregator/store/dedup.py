"""Persistence of the near-duplicate engine's state: signatures and learned boilerplate."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from aggregator.store.schema import (
    BoilerplateRow,
    EntryRow,
    FeedRow,
    SignatureRow,
    StoryMemberRow,
    StoryRow,
)


def save_signature(
    session: Session, entry_id: int, *, version: int, num_perm: int, seed: int, data: bytes, time: datetime
) -> None:
    row = session.get(SignatureRow, entry_id)
    if row is None:
        session.add(
            SignatureRow(
                entry_id=entry_id, algo_version=version, num_perm=num_perm, seed=seed, data=data, time=time
            )
        )
    else:
        row.algo_version, row.num_perm, row.seed, row.data, row.time = version, num_perm, seed, data, time


def signatures_with_stories(
    session: Session, *, after: int = 0
) -> Iterator[tuple[int, int, datetime, int, bytes]]:
    """(entry id, story id, time, algo version, signature bytes) for signed entries past ``after``."""
    stmt = (
        select(
            SignatureRow.entry_id,
            StoryMemberRow.story_id,
            SignatureRow.time,
            SignatureRow.algo_version,
            SignatureRow.data,
        )
        .join(StoryMemberRow, StoryMemberRow.entry_id == SignatureRow.entry_id)
        .where(SignatureRow.entry_id > after)
        .order_by(SignatureRow.entry_id)
    )
    for row in session.execute(stmt).yield_per(2000):
        yield row[0], row[1], row[2], row[3], row[4]


def add_boilerplate(
    session: Session, feed_id: int, delta: Mapping[int, int], docs: int, now: datetime
) -> None:
    keys = list(delta)
    existing = {
        r.line_hash: r
        for i in range(0, len(keys), 500)
        for r in session.scalars(
            select(BoilerplateRow).where(
                BoilerplateRow.feed_id == feed_id, BoilerplateRow.line_hash.in_(keys[i : i + 500])
            )
        )
    }
    for key, n in delta.items():
        row = existing.get(key)
        if row is None:
            session.add(BoilerplateRow(feed_id=feed_id, line_hash=key, count=n, last_seen_at=now))
        else:
            row.count += n
            row.last_seen_at = now
    session.execute(
        update(FeedRow).where(FeedRow.id == feed_id).values(boilerplate_docs=FeedRow.boilerplate_docs + docs)
    )


def boilerplate_state(session: Session) -> Iterator[tuple[int, int, dict[int, int]]]:
    """(feed id, entries counted, {line key: count}) per feed; lines seen once are skipped."""
    docs = {fid: n for fid, n in session.execute(select(FeedRow.id, FeedRow.boilerplate_docs))}
    counts: dict[int, dict[int, int]] = {fid: {} for fid in docs}
    stmt = select(BoilerplateRow.feed_id, BoilerplateRow.line_hash, BoilerplateRow.count).where(
        BoilerplateRow.count > 1
    )
    for fid, key, n in session.execute(stmt):
        counts.setdefault(fid, {})[key] = n
    for fid, n in docs.items():
        yield fid, n, counts.get(fid, {})


def entry_texts(session: Session, ids: Sequence[int]) -> list[tuple[int, int, str, str, datetime]]:
    """(id, feed id, title, text, published) for ``ids``."""
    out: list[tuple[int, int, str, str, datetime]] = []
    for i in range(0, len(ids), 500):
        stmt = select(
            EntryRow.id, EntryRow.feed_id, EntryRow.title, EntryRow.text, EntryRow.published_at
        ).where(EntryRow.id.in_(ids[i : i + 500]))
        out.extend((a, b, c, d, e) for a, b, c, d, e in session.execute(stmt))
    return out


def all_entries_in_order(session: Session) -> list[int]:
    """Every entry id by (published, id): the deterministic order of a rebuild."""
    return list(session.scalars(select(EntryRow.id).order_by(EntryRow.published_at, EntryRow.id)))


def clear_clusters(session: Session) -> None:
    """Forget every story, membership, signature and learned line (before a rebuild)."""
    session.execute(delete(StoryMemberRow))
    session.execute(delete(StoryRow))
    session.execute(delete(SignatureRow))
    session.execute(delete(BoilerplateRow))
    session.execute(update(FeedRow).values(boilerplate_docs=0))
