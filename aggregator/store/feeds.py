"""Feed rows: syncing them with feeds.yaml, reading them, recording each run's outcome.

Functions here only flush; the caller's transaction decides when to commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from aggregator.store.schema import EntryRow, FeedRow
from aggregator.store.values import FeedState, FeedSummary


class FeedSpecLike(Protocol):
    """The part of a configured feed the store keeps (config's FeedConfig satisfies it)."""

    @property
    def url(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def title(self) -> str | None: ...
    @property
    def priority(self) -> int: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def interval(self) -> timedelta | None: ...
    @property
    def language(self) -> str | None: ...


def _state(row: FeedRow) -> FeedState:
    return FeedState(
        id=row.id,
        config_url=row.config_url,
        url=row.url,
        name=row.name,
        title=row.title,
        site_url=row.site_url,
        priority=row.priority,
        enabled=row.enabled,
        in_config=row.in_config,
        gone=row.gone,
        etag=row.etag,
        last_modified=row.last_modified,
        body_hash=row.body_hash,
        interval_seconds=row.interval_seconds,
        next_check_at=row.next_check_at,
        retry_after=row.retry_after,
        last_checked_at=row.last_checked_at,
        last_success_at=row.last_success_at,
        last_status=row.last_status,
        http_status=row.http_status,
        error_count=row.error_count,
        last_error=row.last_error,
        moved_from=row.moved_from,
        notes=row.notes,
        ttl_seconds=row.ttl_seconds,
    )


def sync_feeds(session: Session, specs: Sequence[FeedSpecLike], now: datetime) -> list[FeedState]:
    """Make the feed rows match the configuration; return the configured feeds in config order.

    Feeds are keyed by the URL written in feeds.yaml, so a feed that moved (301) keeps its row.
    Feeds no longer configured stay in the database (their entries and stories are kept) but are
    marked ``in_config = False`` and are not polled.
    """
    rows = {r.config_url: r for r in session.scalars(select(FeedRow))}
    wanted = {s.url for s in specs}
    for row in rows.values():
        row.in_config = row.config_url in wanted
    out: list[FeedRow] = []
    for spec in specs:
        found = rows.get(spec.url)
        if found is None:
            row = FeedRow(config_url=spec.url, url=spec.url, created_at=now, error_count=0, gone=False)
            session.add(row)
        else:
            row = found
        row.name = spec.name
        if spec.title:
            row.title = spec.title
        elif row.title is None:
            row.title = ""
        row.priority = spec.priority
        row.enabled = spec.enabled
        if spec.language:  # configured language wins over what the feed says
            row.language = spec.language[:35]
        row.in_config = True
        row.interval_seconds = int(spec.interval.total_seconds()) if spec.interval else None
        out.append(row)
    session.flush()
    return [_state(r) for r in out]


def list_feeds(session: Session, *, configured_only: bool = False) -> list[FeedState]:
    stmt = select(FeedRow).order_by(FeedRow.id)
    if configured_only:
        stmt = stmt.where(FeedRow.in_config.is_(True))
    return [_state(r) for r in session.scalars(stmt)]


def feed_summaries(session: Session) -> list[FeedSummary]:
    per_feed = select(EntryRow.feed_id, func.count(EntryRow.id), func.max(EntryRow.first_seen_at)).group_by(
        EntryRow.feed_id
    )
    stats: dict[int, tuple[int, datetime | None]] = {
        fid: (n, last) for fid, n, last in session.execute(per_feed)
    }
    return [
        FeedSummary(
            state=s, entries=stats.get(s.id, (0, None))[0], last_entry_at=stats.get(s.id, (0, None))[1]
        )
        for s in list_feeds(session)
    ]


def get_feed(session: Session, feed_id: int) -> FeedState:
    return _state(session.get_one(FeedRow, feed_id))


def record_success(
    session: Session,
    feed_id: int,
    *,
    now: datetime,
    status: str,
    http_status: int | None,
    etag: str | None,
    last_modified: str | None,
    body_hash: str | None,
    feed_title: str | None = None,
    site_url: str | None = None,
    language: str | None = None,
    ttl_seconds: int | None = None,
    moved_to: str | None = None,
    notes: str | None = None,
    had_new: bool = False,
) -> None:
    """A run that fetched the feed (200 or 304): validators, titles, error state cleared."""
    row = session.get_one(FeedRow, feed_id)
    row.last_checked_at = now
    row.last_success_at = now
    row.last_status = status
    row.http_status = http_status
    row.error_count = 0
    row.last_error = None
    row.retry_after = None
    if etag is not None or last_modified is not None or http_status == 200:
        row.etag, row.last_modified = etag, last_modified
    if body_hash is not None:
        row.body_hash = body_hash
    if feed_title and not row.title:
        row.title = feed_title[:1000]
    if site_url:
        row.site_url = site_url[:2048]
    if language and not row.language:
        row.language = language[:35]
    if ttl_seconds is not None:
        row.ttl_seconds = ttl_seconds
    if moved_to and moved_to != row.url:
        row.moved_from, row.url = row.url, moved_to
    if notes is not None:
        row.notes = notes
    if had_new:
        row.last_new_at = now
    session.flush()


def record_error(
    session: Session,
    feed_id: int,
    *,
    now: datetime,
    error: str,
    http_status: int | None = None,
    retry_after: datetime | None = None,
    gone: bool = False,
) -> None:
    """A failed run: count it, keep the message, stop polling on 410 Gone."""
    session.execute(
        update(FeedRow)
        .where(FeedRow.id == feed_id)
        .values(
            last_checked_at=now,
            last_status="gone" if gone else "error",
            http_status=http_status,
            error_count=FeedRow.error_count + 1,
            last_error=error[:4000],
            retry_after=retry_after,
            gone=FeedRow.gone | gone,
        )
    )
    session.flush()


def set_next_check(session: Session, feed_id: int, when: datetime | None) -> None:
    session.execute(update(FeedRow).where(FeedRow.id == feed_id).values(next_check_at=when))


def claim_due(session: Session, *, now: datetime, owner: str, lease: timedelta, limit: int) -> list[int]:
    """Lease up to ``limit`` due feeds to ``owner``; returns their ids.

    One ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING id`` on
    PostgreSQL, so any number of daemons share the feeds without polling one twice; the same
    statement without row locks on SQLite, whose writer lock serialises claims. An expired lease
    (a daemon that died) makes its feeds claimable again.
    """
    due = (
        select(FeedRow.id)
        .where(
            FeedRow.enabled.is_(True),
            FeedRow.in_config.is_(True),
            FeedRow.gone.is_(False),
            (FeedRow.next_check_at.is_(None)) | (FeedRow.next_check_at <= now),
            (FeedRow.retry_after.is_(None)) | (FeedRow.retry_after <= now),
            (FeedRow.lease_until.is_(None)) | (FeedRow.lease_until < now),
        )
        .order_by(FeedRow.next_check_at.is_not(None), FeedRow.next_check_at, FeedRow.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(FeedRow)
        .where(FeedRow.id.in_(due.scalar_subquery()))
        .values(lease_until=now + lease, lease_owner=owner)
        .returning(FeedRow.id)
    )
    return list(session.scalars(stmt))


def release(session: Session, feed_id: int, *, owner: str, next_check_at: datetime | None) -> None:
    """End a lease and schedule the next check (None: never, e.g. after 410 Gone)."""
    session.execute(
        update(FeedRow)
        .where(FeedRow.id == feed_id, FeedRow.lease_owner == owner)
        .values(lease_until=None, lease_owner=None, next_check_at=next_check_at)
    )


def recent_published(session: Session, feed_id: int, n: int = 20) -> list[datetime]:
    stmt = (
        select(EntryRow.published_at)
        .where(EntryRow.feed_id == feed_id, EntryRow.published_is_fallback.is_(False))
        .order_by(EntryRow.published_at.desc())
        .limit(n)
    )
    return list(session.scalars(stmt))


def release_all(session: Session, owner: str) -> None:
    """On shutdown: give back every lease this process holds."""
    session.execute(
        update(FeedRow).where(FeedRow.lease_owner == owner).values(lease_until=None, lease_owner=None)
    )
