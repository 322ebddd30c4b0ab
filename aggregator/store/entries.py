"""Entry rows: idempotent ingest (new, edited, unchanged) and identity look-ups.

Re-polling the same document creates no rows: an entry is keyed by (feed, GUID key). An edit
(same key, other content hash) updates the row in place and keeps its story.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.models import Entry
from aggregator.store.schema import EntryRow, StoryMemberRow
from aggregator.store.values import StoredEntry

_CHUNK = 500  # bound the size of IN (...) lists


def guid_hash(guid_key: str) -> str:
    return hashlib.sha256(guid_key.encode("utf-8", "surrogatepass")).hexdigest()


def _stored(row: EntryRow, *, is_new: bool = False, is_edited: bool = False) -> StoredEntry:
    return StoredEntry(
        id=row.id,
        feed_id=row.feed_id,
        guid_key=row.guid_key,
        url=row.url,
        canonical_url=row.canonical_url,
        title=row.title,
        content_html=row.content_html,
        summary_html=row.summary_html,
        text=row.text,
        published=row.published_at,
        published_is_fallback=row.published_is_fallback,
        first_seen=row.first_seen_at,
        text_hash=row.text_hash,
        language=row.language,
        is_new=is_new,
        is_edited=is_edited,
    )


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _apply(row: EntryRow, e: Entry) -> None:
    row.url = e.url
    row.canonical_url = e.canonical_url[:2048]
    row.title = e.title
    row.content_html = e.content_html
    row.summary_html = e.summary_html
    row.text = e.text
    row.author = e.author[:1000] if e.author else None
    row.language = e.language[:35] if e.language else None
    row.updated_at = e.updated
    row.content_hash = e.content_hash
    row.text_hash = e.text_hash


def upsert_entries(
    session: Session, feed_id: int, entries: Sequence[Entry], now: datetime
) -> list[StoredEntry]:
    """Store a document's entries; return the new and edited ones (unchanged ones are skipped).

    A fallback publish date (the feed gave none) is fixed at first sight and not moved later,
    so an undated entry keeps its place in time across polls.
    """
    keys = {guid_hash(e.guid_key): e for e in entries}
    existing: dict[str, EntryRow] = {}
    for chunk in _chunks(list(keys)):
        stmt = select(EntryRow).where(EntryRow.feed_id == feed_id, EntryRow.guid_hash.in_(chunk))
        existing.update({r.guid_hash: r for r in session.scalars(stmt)})
    out: list[tuple[EntryRow, bool]] = []
    for h, e in keys.items():
        row = existing.get(h)
        if row is None:
            row = EntryRow(
                feed_id=feed_id,
                guid_key=e.guid_key,
                guid_hash=h,
                published_at=e.published,
                published_is_fallback=e.published_is_fallback,
                first_seen_at=now,
                last_seen_at=now,
                changed_at=now,
            )
            _apply(row, e)
            session.add(row)
            out.append((row, True))
            continue
        row.last_seen_at = now
        if row.content_hash != e.content_hash:
            _apply(row, e)
            if not e.published_is_fallback:
                row.published_at, row.published_is_fallback = e.published, False
            row.changed_at = now
            out.append((row, False))
    session.flush()
    return [_stored(r, is_new=new, is_edited=not new) for r, new in out]


def get_entries(session: Session, ids: Sequence[int]) -> list[StoredEntry]:
    rows: list[EntryRow] = []
    for i in range(0, len(ids), _CHUNK):
        rows.extend(session.scalars(select(EntryRow).where(EntryRow.id.in_(ids[i : i + _CHUNK]))))
    by_id = {r.id: r for r in rows}
    return [_stored(by_id[i]) for i in ids if i in by_id]


def find_entries_by_url(session: Session, url: str) -> list[StoredEntry]:
    """Entries whose URL as published, or canonical URL, equals ``url`` (for ``explain``)."""
    stmt = select(EntryRow).where((EntryRow.url == url) | (EntryRow.canonical_url == url))
    return [_stored(r) for r in session.scalars(stmt.order_by(EntryRow.id))]


def _global_guid(guid_key: str) -> bool:
    """GUIDs that are URIs are globally unique by intent; bare numbers collide across sites."""
    return len(guid_key) >= 16 and ":" in guid_key and not guid_key.startswith("sha1:")


IdentityKeys = dict[tuple[str, str], tuple[int, int]]  # (kind, value) -> (entry id, story id)


def identity_index(session: Session, entries: Sequence[StoredEntry]) -> IdentityKeys:
    """For a batch of new entries: the earliest stored member behind each of their identity keys.

    Three queries for the whole batch (GUID, canonical URL, text hash) instead of three per entry.
    """
    wanted = {
        "guid": sorted({guid_hash(e.guid_key) for e in entries if _global_guid(e.guid_key)}),
        "url": sorted({e.canonical_url for e in entries if e.canonical_url}),
        "text": sorted({e.text_hash for e in entries if e.text_hash}),
    }
    columns = {"guid": EntryRow.guid_hash, "url": EntryRow.canonical_url, "text": EntryRow.text_hash}
    found: IdentityKeys = {}
    for kind, values in wanted.items():
        column = columns[kind]
        for chunk in _chunks(values):
            stmt = (
                select(column, EntryRow.id, StoryMemberRow.story_id)
                .join(StoryMemberRow, StoryMemberRow.entry_id == EntryRow.id)
                .where(column.in_(chunk))
                .order_by(EntryRow.id)
            )
            for value, entry_id, story_id in session.execute(stmt):
                found.setdefault((kind, value), (entry_id, story_id))
    return found


def identity_keys(entry: StoredEntry) -> list[tuple[str, str]]:
    """The entry's identity keys, strongest first: URI GUID, canonical URL, normalised text."""
    keys = []
    if _global_guid(entry.guid_key):
        keys.append(("guid", guid_hash(entry.guid_key)))
    if entry.canonical_url:
        keys.append(("url", entry.canonical_url))
    if entry.text_hash:
        keys.append(("text", entry.text_hash))
    return keys
