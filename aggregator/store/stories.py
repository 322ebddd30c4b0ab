"""Stories and their members: set-based writes for a feed run, and the read side that builds
``StoryView`` values for publishing and the web pages."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, delete, func, insert, select, update

from aggregator.models import MemberView, StoryView
from aggregator.store.db import Tx
from aggregator.store.entries import chunks
from aggregator.store.schema import entries, feeds, signatures, stories, story_members
from aggregator.store.values import MemberFacts, Membership, NewMember, NewStory

# Story keys are derived from the founding entry, so they are permanent and never reused.
_KEY_NS = uuid.UUID("3f0c8f3e-6d0b-4b8e-9a47-2b7e4c1f5a10")
SNIPPET = 280  # characters of the representative's text a page shows
TEXT_HEAD = 300  # characters of a member's text the election reads (to tell a headline-only one)


def story_key(feed_url: str, guid_key: str) -> str:
    return "urn:uuid:" + str(uuid.uuid5(_KEY_NS, f"{feed_url}\n{guid_key}"))


# --------------------------------------------------------------------------- writes
_CREATE = insert(stories).returning(stories.c.id, sort_by_parameter_order=True)
_ADD = insert(story_members)
_COUNT = (
    select(func.count()).where(story_members.c.story_id == stories.c.id).correlate(stories).scalar_subquery()
)
_TOUCH = (
    update(stories)
    .where(stories.c.id.in_(bindparam("ids", expanding=True)))
    .values(member_count=_COUNT, updated_at=bindparam("now"))
)
_CURRENT_REPS = select(stories.c.id, stories.c.representative_id, stories.c.published_at).where(
    stories.c.id.in_(bindparam("ids", expanding=True))
)
_SET_REP = (
    update(stories)
    .where(stories.c.id == bindparam("b_id"))
    .values(
        representative_id=bindparam("b_rep"),
        published_at=bindparam("b_published"),
        updated_at=bindparam("b_now"),
    )
)


def create_stories(tx: Tx, new: Sequence[NewStory], now: datetime) -> list[int]:
    """Create stories, each represented by its founding entry; returns their ids in order."""
    if not new:
        return []
    rows = [
        {
            "key": s.key,
            "representative_id": s.entry_id,
            "published_at": s.published,
            "created_at": now,
            "updated_at": now,
            "member_count": 1,
        }
        for s in new
    ]
    return [int(i) for i in tx.execute(_CREATE, rows).scalars()]


def ids_by_key(tx: Tx, keys: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in chunks(list(keys)):
        out.update(
            (k, i) for k, i in tx.execute(select(stories.c.key, stories.c.id).where(stories.c.key.in_(part)))
        )
    return out


def add_members(tx: Tx, rows: Sequence[NewMember], now: datetime) -> None:
    if rows:
        tx.execute(
            _ADD,
            [
                {
                    "entry_id": m.entry_id,
                    "story_id": m.story_id,
                    "match": m.match,
                    "similarity": m.similarity,
                    "matched_entry_id": m.matched_entry_id,
                    "detail": m.detail,
                    "joined_at": now,
                }
                for m in rows
            ],
        )


def move_members(tx: Tx, rows: Sequence[NewMember], now: datetime) -> None:
    """Put entries that are members already into other stories (``dedup rebuild``)."""
    if rows:
        tx.execute(
            update(story_members)
            .where(story_members.c.entry_id == bindparam("b_entry"))
            .values(
                story_id=bindparam("b_story"),
                match=bindparam("b_match"),
                similarity=bindparam("b_similarity"),
                matched_entry_id=bindparam("b_matched"),
                detail=bindparam("b_detail"),
                joined_at=now,
            ),
            [
                {
                    "b_entry": m.entry_id,
                    "b_story": m.story_id,
                    "b_match": m.match,
                    "b_similarity": m.similarity,
                    "b_matched": m.matched_entry_id,
                    "b_detail": m.detail,
                }
                for m in rows
            ],
        )


def touch(tx: Tx, story_ids: Iterable[int], now: datetime) -> None:
    """Stories that gained or lost members: recount them, mark them updated."""
    ids = sorted(set(story_ids))
    for part in chunks(ids):
        tx.execute(_TOUCH, {"ids": part, "now": now})


def set_representatives(tx: Tx, reps: Sequence[tuple[int, int, datetime]], now: datetime) -> None:
    """(story, entry, entry's publish time) for stories whose representative is elected anew;
    a story whose representative changes is updated (its items move in readers' feeds)."""
    if not reps:
        return
    current = {
        sid: (rep, published)
        for part in chunks([s for s, _, _ in reps])
        for sid, rep, published in tx.execute(
            select(stories.c.id, stories.c.representative_id, stories.c.published_at).where(
                stories.c.id.in_(part)
            )
        )
    }
    changed = [
        {"b_id": sid, "b_rep": rep, "b_published": published}
        for sid, rep, published in reps
        if current.get(sid) != (rep, published)
    ]
    if changed:
        tx.execute(
            update(stories)
            .where(stories.c.id == bindparam("b_id"))
            .values(
                representative_id=bindparam("b_rep"), published_at=bindparam("b_published"), updated_at=now
            ),
            changed,
        )


def member_facts(tx: Tx, story_ids: Iterable[int]) -> dict[int, list[MemberFacts]]:
    """Every member of these stories, with its feed, for electing representatives."""
    out: dict[int, list[MemberFacts]] = defaultdict(list)
    for part in chunks(sorted(set(story_ids))):
        for eid, sid, url, published, length, credit, furl, site, ftitle, priority, title, head in tx.execute(
            _FACTS, {"ids": part}
        ):
            out[sid].append(
                MemberFacts(
                    eid,
                    sid,
                    url,
                    published,
                    int(length or 0),
                    tuple(credit.split("\n")) if credit else (),
                    furl,
                    site,
                    ftitle or "",
                    priority,
                    title or "",
                    head or "",
                )
            )
    return dict(out)


_FACTS = (
    select(
        entries.c.id,
        story_members.c.story_id,
        entries.c.url,
        entries.c.published_at,
        func.length(entries.c.text),
        entries.c.credits,
        feeds.c.url,
        feeds.c.site_url,
        feeds.c.title,
        feeds.c.priority,
        entries.c.title,
        func.substr(entries.c.text, 1, TEXT_HEAD),
    )
    .join(story_members, story_members.c.entry_id == entries.c.id)
    .join(feeds, feeds.c.id == entries.c.feed_id)
    .where(story_members.c.story_id.in_(bindparam("ids", expanding=True)))
    .order_by(entries.c.id)
)


def delete_empty_stories(tx: Tx) -> int:
    """Remove stories left without members (after merges, a rebuild or retention)."""
    has_members = select(story_members.c.story_id).distinct()
    result = tx.execute(delete(stories).where(stories.c.id.not_in(has_members)))
    return int(result.rowcount or 0)


def expire_entries(tx: Tx, before: datetime) -> tuple[list[int], list[int]]:
    """Delete entries first stored before ``before``; returns (deleted ids, touched stories).

    Memberships and signatures go with their entries; stories left empty are deleted; the
    caller re-elects the touched stories that remain.
    """
    old = list(tx.execute(select(entries.c.id).where(entries.c.first_seen_at < before)).scalars())
    if not old:
        return [], []
    touched: set[int] = set()
    for part in chunks(old):
        touched.update(
            tx.execute(select(story_members.c.story_id).where(story_members.c.entry_id.in_(part))).scalars()
        )
        tx.execute(delete(story_members).where(story_members.c.entry_id.in_(part)))
        tx.execute(delete(signatures).where(signatures.c.entry_id.in_(part)))
        tx.execute(delete(entries).where(entries.c.id.in_(part)))
    delete_empty_stories(tx)
    remaining = set(tx.execute(select(stories.c.id).where(stories.c.id.in_(sorted(touched)))).scalars())
    return old, sorted(remaining)


# --------------------------------------------------------------------------- read side
def stories_of(tx: Tx, entry_ids: Sequence[int]) -> dict[int, int]:
    """{entry: its story} for those of ``entry_ids`` that are in one."""
    out: dict[int, int] = {}
    for part in chunks(list(entry_ids)):
        stmt = select(story_members.c.entry_id, story_members.c.story_id).where(
            story_members.c.entry_id.in_(part)
        )
        out.update((e, s) for e, s in tx.execute(stmt))
    return out


def membership(tx: Tx, entry_id: int) -> Membership | None:
    row = tx.execute(select(*_MEMBERSHIP).where(story_members.c.entry_id == entry_id)).first()
    return Membership(*row) if row else None


def members_of(tx: Tx, story_id: int) -> list[Membership]:
    stmt = select(*_MEMBERSHIP).where(story_members.c.story_id == story_id).order_by(story_members.c.entry_id)
    return [Membership(*r) for r in tx.execute(stmt)]


_MEMBERSHIP = (
    story_members.c.entry_id,
    story_members.c.story_id,
    story_members.c.match,
    story_members.c.similarity,
    story_members.c.matched_entry_id,
    story_members.c.detail,
)

Order = Literal["newest", "covered"]


def latest_story_ids(
    tx: Tx,
    *,
    feed_ids: Sequence[int] | None,
    limit: int | None,
    offset: int = 0,
    order: Order = "newest",
    search: str | None = None,
    since: timedelta | None = None,
) -> list[int]:
    """Story ids, newest first (by representative's publish time, then id), or the most
    covered first (most members). ``feed_ids``: only stories with a member from those feeds
    (the representative stays the global one); ``search``: a word or phrase in a member's
    title or text, any case; ``since``: only stories published within this span of the newest
    story (measured on the data, not the clock: an archive browses like fresh news)."""
    stmt = select(stories.c.id)
    if feed_ids is not None:
        in_feeds = (
            select(story_members.c.story_id)
            .join(entries, entries.c.id == story_members.c.entry_id)
            .where(entries.c.feed_id.in_(list(feed_ids)))
        )
        stmt = stmt.where(stories.c.id.in_(in_feeds))
    if search:
        pattern = f"%{_escape_like(search)}%"
        hits = (
            select(story_members.c.story_id)
            .join(entries, entries.c.id == story_members.c.entry_id)
            .where(entries.c.title.ilike(pattern, escape="\\") | entries.c.text.ilike(pattern, escape="\\"))
        )
        stmt = stmt.where(stories.c.id.in_(hits))
    if since is not None:
        newest = tx.execute(select(func.max(stories.c.published_at))).scalar()
        if newest is not None:
            stmt = stmt.where(stories.c.published_at >= newest - since)
    if order == "covered":
        stmt = stmt.order_by(
            stories.c.member_count.desc(), stories.c.published_at.desc(), stories.c.id.desc()
        )
    else:
        stmt = stmt.order_by(stories.c.published_at.desc(), stories.c.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    if offset:
        stmt = stmt.offset(offset)
    return list(tx.execute(stmt).scalars())


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def story_views(tx: Tx, story_ids: Sequence[int]) -> list[StoryView]:
    """Views of ``story_ids``, in that order, with two queries per 500 stories."""
    out: list[StoryView] = []
    for part in chunks(list(story_ids)):
        out.extend(_views_chunk(tx, part))
    return out


_MEMBER_COLUMNS = (
    story_members.c.story_id,
    story_members.c.match,
    story_members.c.similarity,
    entries.c.id,
    entries.c.url,
    entries.c.title,
    entries.c.published_at,
    entries.c.changed_at,
    entries.c.content_html,
    entries.c.summary_html,
    entries.c.author,
    entries.c.language,
    feeds.c.url,
    feeds.c.title,
    feeds.c.language,
    func.substr(entries.c.text, 1, SNIPPET + 40),
)


def _views_chunk(tx: Tx, ids: Sequence[int]) -> list[StoryView]:
    heads = {
        r.id: r
        for r in tx.execute(
            select(stories.c.id, stories.c.key, stories.c.representative_id, stories.c.updated_at).where(
                stories.c.id.in_(list(ids))
            )
        )
    }
    rows: dict[int, list[Any]] = defaultdict(list)
    stmt = (
        select(*_MEMBER_COLUMNS)
        .join(entries, entries.c.id == story_members.c.entry_id)
        .join(feeds, feeds.c.id == entries.c.feed_id)
        .where(story_members.c.story_id.in_(list(ids)))
    )
    for r in tx.execute(stmt):
        rows[r[0]].append(r)
    return [_view(heads[sid], rows[sid]) for sid in ids if sid in heads and rows[sid]]


def _view(head: Any, rows: list[Any]) -> StoryView:
    rep_id = head.representative_id
    rows.sort(key=lambda r: (r[3] != rep_id, r[6], r[3]))
    rep = rows[0]
    members = tuple(
        MemberView(
            entry_id=r[3],
            url=r[4],
            feed_url=r[12],
            feed_title=r[13] or r[12],
            title=r[5],
            published=r[6],
            match=r[1],
            similarity=r[2],
            is_representative=r[3] == rep[3],
        )
        for r in rows
    )
    return StoryView(
        story_id=head.id,
        key=head.key,
        title=rep[5],
        url=rep[4],
        content_html=rep[8],
        summary_html=rep[9],
        published=rep[6],
        updated=max(head.updated_at, max(r[7] for r in rows)),
        author=rep[10],
        feed_title=rep[13] or rep[12],
        feed_url=rep[12],
        members=members,
        sources=tuple(dict.fromkeys(m.feed_title for m in members)),
        language=rep[11] or rep[14],
        text=_snippet(rep[15] or ""),
    )


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= SNIPPET:
        return flat
    return flat[:SNIPPET].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


def counts(tx: Tx) -> dict[str, int]:
    """Totals used by integrity checks and the CLI."""
    return {
        "entries": tx.execute(select(func.count()).select_from(entries)).scalar() or 0,
        "members": tx.execute(select(func.count()).select_from(story_members)).scalar() or 0,
        "stories": tx.execute(select(func.count()).select_from(stories)).scalar() or 0,
    }


def keys_to_ids(tx: Tx) -> Mapping[str, int]:
    """Every story's key and id (a rebuild keeps the ids of stories it forms again)."""
    return {k: i for k, i in tx.execute(select(stories.c.key, stories.c.id))}
