"""Stories and their members; the read side that builds ``StoryView`` values for publishing."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from aggregator.models import MemberView, StoryView
from aggregator.store.schema import EntryRow, FeedRow, SignatureRow, StoryMemberRow, StoryRow
from aggregator.store.values import Membership

# Story keys are derived from the founding entry, so they are permanent and never reused.
_KEY_NS = uuid.UUID("3f0c8f3e-6d0b-4b8e-9a47-2b7e4c1f5a10")


def story_key(feed_url: str, guid_key: str) -> str:
    return "urn:uuid:" + str(uuid.uuid5(_KEY_NS, f"{feed_url}\n{guid_key}"))


def create_story(session: Session, *, key: str, entry_id: int, published: datetime, now: datetime) -> int:
    """A new story whose only member (and representative) is ``entry_id``."""
    row = StoryRow(
        key=key,
        representative_id=entry_id,
        published_at=published,
        created_at=now,
        updated_at=now,
        member_count=1,
    )
    session.add(row)
    session.flush()
    return row.id


def add_member(
    session: Session,
    *,
    entry_id: int,
    story_id: int,
    match: str,
    similarity: float | None,
    matched_entry_id: int | None,
    detail: Mapping[str, float] | None,
    now: datetime,
    moving: bool = False,
) -> None:
    """Put ``entry_id`` in ``story_id`` (moving it if it was elsewhere) and record how it matched."""
    if moving:
        old = session.get(StoryMemberRow, entry_id)
        if old is not None:
            session.delete(old)
            session.flush()
    session.add(
        StoryMemberRow(
            entry_id=entry_id,
            story_id=story_id,
            match=match,
            similarity=similarity,
            matched_entry_id=matched_entry_id,
            detail=json.dumps(dict(detail), sort_keys=True) if detail else None,
            joined_at=now,
        )
    )
    story = session.get_one(StoryRow, story_id)
    story.updated_at = now


def membership(session: Session, entry_id: int) -> Membership | None:
    row = session.get(StoryMemberRow, entry_id)
    if row is None:
        return None
    return Membership(row.entry_id, row.story_id, row.match, row.similarity, row.matched_entry_id, row.detail)


def members_of(session: Session, story_id: int) -> list[Membership]:
    stmt = select(StoryMemberRow).where(StoryMemberRow.story_id == story_id)
    return [
        Membership(r.entry_id, r.story_id, r.match, r.similarity, r.matched_entry_id, r.detail)
        for r in session.scalars(stmt.order_by(StoryMemberRow.entry_id))
    ]


def set_representative(
    session: Session, story_id: int, entry_id: int, published: datetime, now: datetime
) -> bool:
    """Make ``entry_id`` the representative; returns True when it changed."""
    story = session.get_one(StoryRow, story_id)
    story.member_count = session.scalar(select(func.count()).where(StoryMemberRow.story_id == story_id)) or 0
    if story.representative_id == entry_id and story.published_at == published:
        return False
    story.representative_id = entry_id
    story.published_at = published
    story.updated_at = now
    session.flush()
    return True


def delete_empty_stories(session: Session) -> int:
    """Remove stories left without members (after merges or a rebuild)."""
    has_members = select(StoryMemberRow.story_id).distinct()
    result = session.execute(delete(StoryRow).where(StoryRow.id.not_in(has_members)))
    return int(getattr(result, "rowcount", 0) or 0)


# --------------------------------------------------------------------------- read side
def latest_stories(session: Session, *, feed_ids: Sequence[int] | None, limit: int | None) -> list[StoryView]:
    """Newest stories first (by representative's publish time, then id).

    With ``feed_ids`` only stories with at least one member from those feeds are returned; the
    representative stays the global one. ``limit=None`` returns every story.
    """
    stmt = select(StoryRow.id).order_by(StoryRow.published_at.desc(), StoryRow.id.desc())
    if feed_ids is not None:
        in_feeds = (
            select(StoryMemberRow.story_id)
            .join(EntryRow, EntryRow.id == StoryMemberRow.entry_id)
            .where(EntryRow.feed_id.in_(feed_ids))
        )
        stmt = stmt.where(StoryRow.id.in_(in_feeds))
    if limit is not None:
        stmt = stmt.limit(limit)
    ids = list(session.scalars(stmt))
    return story_views(session, ids)


def story_views(session: Session, story_ids: Sequence[int]) -> list[StoryView]:
    """Build views for ``story_ids``, in that order, with a bounded number of queries."""
    out: list[StoryView] = []
    for i in range(0, len(story_ids), 500):
        out.extend(_views_chunk(session, story_ids[i : i + 500]))
    return out


def _views_chunk(session: Session, ids: Sequence[int]) -> list[StoryView]:
    stories = {s.id: s for s in session.scalars(select(StoryRow).where(StoryRow.id.in_(ids)))}
    rows = session.execute(
        select(StoryMemberRow, EntryRow, FeedRow)
        .join(EntryRow, EntryRow.id == StoryMemberRow.entry_id)
        .join(FeedRow, FeedRow.id == EntryRow.feed_id)
        .where(StoryMemberRow.story_id.in_(ids))
    )
    by_story: dict[int, list[tuple[StoryMemberRow, EntryRow, FeedRow]]] = defaultdict(list)
    for m, e, f in rows:
        by_story[m.story_id].append((m, e, f))
    return [_view(stories[sid], by_story[sid]) for sid in ids if sid in stories and by_story[sid]]


def _view(story: StoryRow, rows: list[tuple[StoryMemberRow, EntryRow, FeedRow]]) -> StoryView:
    rows.sort(key=lambda t: (t[1].id != story.representative_id, t[1].published_at, t[1].id))
    _, rep, rep_feed = rows[0]
    members = tuple(
        MemberView(
            entry_id=e.id,
            url=e.url,
            feed_url=f.url,
            feed_title=f.title or f.url,
            title=e.title,
            published=e.published_at,
            match=m.match,
            similarity=m.similarity,
            is_representative=e.id == rep.id,
        )
        for m, e, f in rows
    )
    sources = tuple(dict.fromkeys(mv.feed_title for mv in members))
    return StoryView(
        story_id=story.id,
        key=story.key,
        title=rep.title,
        url=rep.url,
        content_html=rep.content_html,
        summary_html=rep.summary_html,
        published=rep.published_at,
        updated=max(story.updated_at, max(e.changed_at for _, e, _ in rows)),
        author=rep.author,
        feed_title=rep_feed.title or rep_feed.url,
        feed_url=rep_feed.url,
        members=members,
        sources=sources,
        language=rep.language or rep_feed.language,
    )


def counts(session: Session) -> dict[str, int]:
    """Totals used by integrity checks and the CLI."""
    return {
        "entries": session.scalar(select(func.count()).select_from(EntryRow)) or 0,
        "members": session.scalar(select(func.count()).select_from(StoryMemberRow)) or 0,
        "stories": session.scalar(select(func.count()).select_from(StoryRow)) or 0,
    }


def members_with_feeds(session: Session, entry_ids: Sequence[int]) -> list[tuple[EntryRow, FeedRow]]:
    """Entry and feed rows for representative election (read-only use inside ``store``'s callers)."""
    stmt = select(EntryRow, FeedRow).join(FeedRow, FeedRow.id == EntryRow.feed_id)
    return [(e, f) for e, f in session.execute(stmt.where(EntryRow.id.in_(list(entry_ids))))]


def version(session: Session) -> tuple[int, datetime | None, int]:
    """Changes whenever any story changes: (stories, newest update, newest entry edit count)."""
    n, newest = session.execute(select(func.count(StoryRow.id), func.max(StoryRow.updated_at))).one()
    edits = session.scalar(select(func.count()).select_from(EntryRow)) or 0
    return int(n or 0), newest, int(edits)


def expire_entries(session: Session, before: datetime) -> tuple[list[int], list[int]]:
    """Delete entries first stored before ``before``; returns (deleted ids, stories to re-elect).

    Memberships and signatures go with their entries; stories left empty are deleted; stories
    that lost their representative are returned so the caller elects a new one.
    """
    old = list(session.scalars(select(EntryRow.id).where(EntryRow.first_seen_at < before)))
    if not old:
        return [], []
    touched: set[int] = set()
    for i in range(0, len(old), 500):
        chunk = old[i : i + 500]
        touched.update(
            session.scalars(select(StoryMemberRow.story_id).where(StoryMemberRow.entry_id.in_(chunk)))
        )
        session.execute(delete(StoryMemberRow).where(StoryMemberRow.entry_id.in_(chunk)))
        session.execute(delete(SignatureRow).where(SignatureRow.entry_id.in_(chunk)))
        session.execute(delete(EntryRow).where(EntryRow.id.in_(chunk)))
    delete_empty_stories(session)
    gone = set(old)
    orphaned = [
        sid
        for sid, rep in session.execute(
            select(StoryRow.id, StoryRow.representative_id).where(StoryRow.id.in_(sorted(touched)))
        )
        if rep is None or rep in gone
    ]
    return old, orphaned
