"""Entry rows: idempotent ingest (new, edited, unchanged) and identity look-ups.

Re-polling the same document creates no rows: an entry is keyed by (feed, GUID key). An edit
(same key, other content hash) updates the row in place and keeps its story. Every statement
handles a whole feed run: one look-up, one multi-row insert, one ``executemany`` of edits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update

from aggregator.models import Entry
from aggregator.store.db import Tx, once, upsert
from aggregator.store.schema import entries, story_members
from aggregator.store.values import EntryText, StoredEntry

CHUNK = 500  # bound the size of IN (...) lists
KNOWN_RAW = 10_000  # raw hashes of a feed's newest entries handed to the parser to skip


def guid_hash(guid_key: str) -> str:
    return hashlib.sha256(guid_key.encode("utf-8", "surrogatepass")).hexdigest()


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass(frozen=True, slots=True)
class Changes:
    """What a document changes: entries to insert, edits to apply, entries whose normalised
    content is the same but whose raw form moved (only their ``raw_hash`` is refreshed)."""

    new: list[Entry]
    edited: list[tuple[int, Entry]]
    refreshed: list[tuple[int, str]]


_EXISTING = select(entries.c.guid_hash, entries.c.id, entries.c.content_hash, entries.c.raw_hash).where(
    entries.c.feed_id == bindparam("feed"), entries.c.guid_hash.in_(bindparam("hashes", expanding=True))
)


def classify(tx: Tx, feed_id: int, batch: Sequence[Entry]) -> Changes:
    """Sort a document's entries into new, edited and unchanged (one look-up per 500)."""
    by_key = {guid_hash(e.guid_key): e for e in batch}
    existing: dict[str, tuple[int, str, str | None]] = {}
    for part in chunks(list(by_key)):
        existing.update(
            {h: (i, c, r) for h, i, c, r in tx.execute(_EXISTING, {"feed": feed_id, "hashes": part})}
        )
    new, edited, refreshed = [], [], []
    for h, e in by_key.items():
        found = existing.get(h)
        if found is None:
            new.append(e)
        elif found[1] != e.content_hash:
            edited.append((found[0], e))
        elif found[2] != e.raw_hash:
            refreshed.append((found[0], e.raw_hash))
    return Changes(new, edited, refreshed)


def _columns(e: Entry) -> dict[str, Any]:
    return {
        "url": e.url,
        "canonical_url": e.canonical_url[:2048],
        "title": e.title,
        "content_html": e.content_html,
        "summary_html": e.summary_html,
        "text": e.text,
        "author": e.author[:1000] if e.author else None,
        "language": e.language[:35] if e.language else None,
        "updated_at": e.updated,
        "content_hash": e.content_hash,
        "text_hash": e.text_hash,
        "raw_hash": e.raw_hash or None,
        "credits": "\n".join(e.credits),
    }


def _stored(entry_id: int, feed_id: int, e: Entry, *, new: bool) -> StoredEntry:
    return StoredEntry(
        id=entry_id,
        feed_id=feed_id,
        guid_key=e.guid_key,
        url=e.url,
        canonical_url=e.canonical_url[:2048],
        title=e.title,
        text=e.text,
        published=e.published,
        text_hash=e.text_hash,
        is_new=new,
        is_edited=not new,
    )


_INSERT = once(
    lambda tx: (
        upsert(tx, entries)
        .on_conflict_do_nothing(index_elements=["feed_id", "guid_hash"])
        .returning(entries.c.guid_hash, entries.c.id, sort_by_parameter_order=True)
    )
)


def insert_new(tx: Tx, feed_id: int, batch: Sequence[Entry], now: datetime) -> list[StoredEntry]:
    """Insert new entries (one multi-row statement); returns them with their ids, in order.

    An entry another process inserted meanwhile (it can only happen once a lease expired) is
    skipped, not an error.
    """
    if not batch:
        return []
    rows = [
        {
            "feed_id": feed_id,
            "guid_key": e.guid_key,
            "guid_hash": guid_hash(e.guid_key),
            "published_at": e.published,
            "published_is_fallback": e.published_is_fallback,
            "first_seen_at": now,
            "last_seen_at": now,
            "changed_at": now,
            **_columns(e),
        }
        for e in batch
    ]
    ids = {h: i for h, i in tx.execute(_INSERT(tx), rows)}
    return [
        _stored(ids[r["guid_hash"]], feed_id, e, new=True)
        for r, e in zip(rows, batch, strict=True)
        if r["guid_hash"] in ids
    ]


def apply_edits(tx: Tx, feed_id: int, edits: Sequence[tuple[int, Entry]], now: datetime) -> list[StoredEntry]:
    """Update edited entries in place (they keep their story). A fallback publish date, fixed
    when the entry was first seen, moves only when the feed now gives a real one."""
    if not edits:
        return []
    rows = []
    for entry_id, e in edits:
        cols = _columns(e)
        rows.append({f"b_{k}": v for k, v in cols.items()} | {"b_id": entry_id, "b_now": now})
    names = list(_columns(edits[0][1]))
    values: dict[str, Any] = {n: bindparam(f"b_{n}") for n in names}
    values.update(last_seen_at=bindparam("b_now"), changed_at=bindparam("b_now"))
    stmt = update(entries).where(entries.c.id == bindparam("b_id")).values(values)
    tx.execute(stmt, rows)
    dated = [{"b_id": i, "b_published": e.published} for i, e in edits if not e.published_is_fallback]
    if dated:
        tx.execute(
            update(entries)
            .where(entries.c.id == bindparam("b_id"))
            .values(published_at=bindparam("b_published"), published_is_fallback=False),
            dated,
        )
    return [_stored(i, feed_id, e, new=False) for i, e in edits]


def refresh_raw(tx: Tx, refreshed: Sequence[tuple[int, str]]) -> None:
    if refreshed:
        tx.execute(
            update(entries).where(entries.c.id == bindparam("b_id")).values(raw_hash=bindparam("b_raw")),
            [{"b_id": i, "b_raw": r} for i, r in refreshed],
        )


def known_raw_hashes(tx: Tx, feed_id: int) -> frozenset[str]:
    """Raw hashes of the feed's newest entries: the parser skips those entries unchanged."""
    stmt = (
        select(entries.c.raw_hash)
        .where(entries.c.feed_id == feed_id, entries.c.raw_hash.is_not(None))
        .order_by(entries.c.id.desc())
        .limit(KNOWN_RAW)
    )
    return frozenset(tx.execute(stmt).scalars())


# --------------------------------------------------------------------------- reading
_TEXTS = (
    select(
        entries.c.id,
        entries.c.feed_id,
        entries.c.title,
        entries.c.text,
        entries.c.published_at,
        story_members.c.story_id,
        entries.c.url,
    )
    .outerjoin(story_members, story_members.c.entry_id == entries.c.id)
    .where(entries.c.id.in_(bindparam("ids", expanding=True)))
)


def texts(tx: Tx, ids: Sequence[int]) -> list[EntryText]:
    """Texts of stored entries to verify against, with the story each is in now."""
    out: list[EntryText] = []
    for part in chunks(list(ids)):
        out.extend(EntryText(*r) for r in tx.execute(_TEXTS, {"ids": part}))
    return out


_STORED = (
    entries.c.id,
    entries.c.feed_id,
    entries.c.guid_key,
    entries.c.url,
    entries.c.canonical_url,
    entries.c.title,
    entries.c.text,
    entries.c.published_at,
    entries.c.text_hash,
)


def _stored_row(r: Any) -> StoredEntry:
    return StoredEntry(*r)


def get_entries(tx: Tx, ids: Sequence[int]) -> list[StoredEntry]:
    found: dict[int, StoredEntry] = {}
    for part in chunks(list(ids)):
        found.update(
            (r.id, _stored_row(r)) for r in tx.execute(select(*_STORED).where(entries.c.id.in_(part)))
        )
    return [found[i] for i in ids if i in found]


def find_entries_by_url(tx: Tx, url: str) -> list[StoredEntry]:
    """Entries whose URL as published, or canonical URL, equals ``url`` (for ``explain``)."""
    stmt = select(*_STORED).where((entries.c.url == url) | (entries.c.canonical_url == url))
    return [_stored_row(r) for r in tx.execute(stmt.order_by(entries.c.id))]


def count(tx: Tx) -> int:
    return int(tx.execute(select(func.count()).select_from(entries)).scalar() or 0)


# --------------------------------------------------------------------------- identity
def _global_guid(guid_key: str) -> bool:
    """GUIDs that are URIs are globally unique by intent; bare numbers collide across sites."""
    return len(guid_key) >= 16 and ":" in guid_key and not guid_key.startswith("sha1:")


IdentityKey = tuple[str, str]  # (kind: "guid" | "url" | "text", value)
IdentityKeys = dict[IdentityKey, tuple[int, int]]  # key -> (earliest entry id, its story id)


def identity_keys(entry: StoredEntry) -> list[IdentityKey]:
    """The entry's identity keys, strongest first: URI GUID, canonical URL, normalised text."""
    keys = []
    if _global_guid(entry.guid_key):
        keys.append(("guid", guid_hash(entry.guid_key)))
    if entry.canonical_url:
        keys.append(("url", entry.canonical_url))
    if entry.text_hash:
        keys.append(("text", entry.text_hash))
    return keys


_IDENTITY = (
    select(
        entries.c.guid_hash,
        entries.c.canonical_url,
        entries.c.text_hash,
        entries.c.id,
        story_members.c.story_id,
    )
    .join(story_members, story_members.c.entry_id == entries.c.id)
    .where(
        entries.c.guid_hash.in_(bindparam("guid", expanding=True))
        | entries.c.canonical_url.in_(bindparam("url", expanding=True))
        | entries.c.text_hash.in_(bindparam("text", expanding=True))
    )
    .order_by(entries.c.id)
)


def identity_index(tx: Tx, batch: Sequence[StoredEntry]) -> IdentityKeys:
    """For a batch of new entries: the earliest stored member behind each of their identity keys
    (one query for the whole batch: GUID, canonical URL or text hash, each by its index)."""
    wanted: dict[str, set[str]] = {"guid": set(), "url": set(), "text": set()}
    for e in batch:
        for kind, value in identity_keys(e):
            wanted[kind].add(value)
    found: IdentityKeys = {}
    if not any(wanted.values()):
        return found
    for i in range(0, max(len(v) for v in wanted.values()), CHUNK):
        params = {kind: sorted(values)[i : i + CHUNK] for kind, values in wanted.items()}
        for guid, url, text, entry_id, story_id in tx.execute(_IDENTITY, params):
            for kind, value in (("guid", guid), ("url", url), ("text", text)):
                if value in wanted[kind]:
                    found.setdefault((kind, value), (entry_id, story_id))
    return found
