"""Feed rows: syncing them with feeds.yaml, leases, each run's outcome, reading them.

Functions here take an open transaction (``Tx``) and never commit: the caller's unit of work
does. Runs are recorded many at a time (one ``executemany`` for a batch of finished runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import String, and_, bindparam, case, func, or_, select, update

from aggregator.store.db import Tx
from aggregator.store.schema import UTCDateTime, entries, feeds
from aggregator.store.values import FeedState, FeedSummary, RunRecord


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


_STATE_COLUMNS = (
    feeds.c.id,
    feeds.c.config_url,
    feeds.c.url,
    feeds.c.name,
    feeds.c.title,
    feeds.c.site_url,
    feeds.c.priority,
    feeds.c.enabled,
    feeds.c.in_config,
    feeds.c.gone,
    feeds.c.etag,
    feeds.c.last_modified,
    feeds.c.body_hash,
    feeds.c.interval_seconds,
    feeds.c.next_check_at,
    feeds.c.retry_after,
    feeds.c.last_checked_at,
    feeds.c.last_success_at,
    feeds.c.last_status,
    feeds.c.http_status,
    feeds.c.error_count,
    feeds.c.last_error,
    feeds.c.moved_from,
    feeds.c.notes,
    feeds.c.ttl_seconds,
    feeds.c.posting_seconds,
    feeds.c.language,
    feeds.c.lease_owner,
    feeds.c.lease_until,
)


def _state(row: Any) -> FeedState:
    return FeedState(*row)


def _states(tx: Tx, *where: Any) -> list[FeedState]:
    stmt = select(*_STATE_COLUMNS).order_by(feeds.c.id)
    if where:
        stmt = stmt.where(*where)
    return [_state(r) for r in tx.execute(stmt)]


def _wanted(spec: FeedSpecLike) -> dict[str, Any]:
    """The configured columns of a feed row."""
    return {
        "name": spec.name,
        "priority": spec.priority,
        "enabled": spec.enabled,
        "interval_seconds": int(spec.interval.total_seconds()) if spec.interval else None,
        "in_config": True,
    }


def sync_feeds(tx: Tx, specs: Sequence[FeedSpecLike], now: datetime) -> tuple[list[FeedState], bool]:
    """Make the feed rows match the configuration; return the configured feeds in config order
    and whether anything changed.

    Feeds are keyed by the URL written in feeds.yaml, so a feed that moved (301) keeps its row.
    Feeds no longer configured stay (their entries and stories are kept) but are marked
    ``in_config = False`` and not polled. Safe when several processes start together: new rows
    go in with ``ON CONFLICT DO NOTHING`` and rows are only updated where they differ.
    """
    current = {s.config_url: s for s in _states(tx)}
    missing = [s for s in specs if s.url not in current]
    if missing:
        stmt = _insert(tx).values(
            [
                {
                    "config_url": s.url,
                    "url": s.url,
                    "title": s.title or "",
                    "language": s.language[:35] if s.language else None,
                    "created_at": now,
                    "error_count": 0,
                    "gone": False,
                    **_wanted(s),
                }
                for s in missing
            ]
        )
        tx.execute(stmt.on_conflict_do_nothing(index_elements=["config_url"]))
        current = {s.config_url: s for s in _states(tx)}
    changed = bool(missing)
    wanted_urls = {s.url for s in specs}
    updates: list[dict[str, Any]] = []
    for spec in specs:
        row = current[spec.url]
        want = _wanted(spec)
        have = {
            "name": row.name,
            "priority": row.priority,
            "enabled": row.enabled,
            "interval_seconds": row.interval_seconds,
            "in_config": row.in_config,
        }
        title = spec.title or row.title  # a configured title wins over the feed's own
        language = spec.language[:35] if spec.language else row.language
        if want != have or title != row.title or language != row.language:
            updates.append({"b_id": row.id, **want, "title": title, "language": language})
    if updates:
        tx.execute(
            update(feeds)
            .where(feeds.c.id == bindparam("b_id"))
            .values({k: bindparam(k) for k in updates[0] if k != "b_id"}),
            updates,
        )
    gone_from_config = [s.id for s in current.values() if s.in_config and s.config_url not in wanted_urls]
    if gone_from_config:
        tx.execute(update(feeds).where(feeds.c.id.in_(gone_from_config)).values(in_config=False))
    changed = changed or bool(updates or gone_from_config)
    if changed:
        current = {s.config_url: s for s in _states(tx)}
    return [current[s.url] for s in specs], changed


def _insert(tx: Tx) -> Any:
    if tx.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(feeds)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(feeds)


def list_feeds(tx: Tx, *, configured_only: bool = False) -> list[FeedState]:
    return _states(tx, feeds.c.in_config.is_(True)) if configured_only else _states(tx)


def get_feeds(tx: Tx, ids: Sequence[int]) -> list[FeedState]:
    return _states(tx, feeds.c.id.in_(list(ids))) if ids else []


def get_feed(tx: Tx, feed_id: int) -> FeedState:
    (state,) = _states(tx, feeds.c.id == feed_id)
    return state


def feed_summaries(tx: Tx) -> list[FeedSummary]:
    per_feed = select(entries.c.feed_id, func.count(), func.max(entries.c.first_seen_at)).group_by(
        entries.c.feed_id
    )
    stats = {fid: (n, last) for fid, n, last in tx.execute(per_feed)}
    return [FeedSummary(s, *stats.get(s.id, (0, None))) for s in _states(tx)]


def health(tx: Tx) -> tuple[int, int, int, int, bool]:
    """(feeds configured and enabled, asked at least once, failing now, failing and never
    answered with a feed, whether any entry is stored): the home page's notices, from the
    feeds table and one probe of the entries (no count over all entries)."""
    active = and_(feeds.c.in_config.is_(True), feeds.c.enabled.is_(True))
    row = tx.execute(
        select(
            func.count(),
            func.count(feeds.c.last_checked_at),
            func.count().filter(feeds.c.error_count > 0),
            func.count().filter(and_(feeds.c.error_count > 0, feeds.c.last_success_at.is_(None))),
        ).where(active)
    ).one()
    any_entry = tx.execute(select(entries.c.id).limit(1)).first() is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3]), any_entry


# --------------------------------------------------------------------------- leases
def _claimable(now: datetime) -> Any:
    return and_(
        feeds.c.enabled.is_(True),
        feeds.c.in_config.is_(True),
        feeds.c.gone.is_(False),
        or_(feeds.c.retry_after.is_(None), feeds.c.retry_after <= now),
        or_(feeds.c.lease_until.is_(None), feeds.c.lease_until < now),
    )


def _lease(tx: Tx, due: Any, now: datetime, owner: str, lease: timedelta) -> list[FeedState]:
    if tx.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(feeds)
        .where(feeds.c.id.in_(due.scalar_subquery()))
        .values(lease_until=now + lease, lease_owner=owner)
        .returning(*_STATE_COLUMNS)
    )
    return sorted((_state(r) for r in tx.execute(stmt)), key=lambda s: s.id)


def claim_due(tx: Tx, *, now: datetime, owner: str, lease: timedelta, limit: int) -> list[FeedState]:
    """Lease up to ``limit`` due feeds to ``owner`` (the daemon's tick).

    One ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`` on PostgreSQL,
    so any number of workers share the feeds without fetching one twice; the same statement
    without row locks on SQLite, whose write lock serialises claims. An expired lease (a worker
    that died) makes its feeds claimable again.
    """
    due = (
        select(feeds.c.id)
        .where(_claimable(now), or_(feeds.c.next_check_at.is_(None), feeds.c.next_check_at <= now))
        .order_by(feeds.c.next_check_at.is_not(None), feeds.c.next_check_at, feeds.c.id)
        .limit(limit)
    )
    return _lease(tx, due, now, owner, lease)


def claim_ids(tx: Tx, ids: Sequence[int], *, now: datetime, owner: str, lease: timedelta) -> list[FeedState]:
    """Lease these feeds now, due or not (a one-shot ``poll``), except those another process
    holds, that are gone, or whose server asked us to wait (Retry-After)."""
    due = select(feeds.c.id).where(_claimable(now), feeds.c.id.in_(list(ids)))
    return _lease(tx, due, now, owner, lease)


def release(tx: Tx, feed_ids: Iterable[int], owner: str) -> None:
    """Give leases back without a run (a stop, a run abandoned); the schedule is unchanged."""
    ids = list(feed_ids)
    if ids:
        tx.execute(
            update(feeds)
            .where(feeds.c.id.in_(ids), feeds.c.lease_owner == owner)
            .values(lease_until=None, lease_owner=None)
        )


def release_all(tx: Tx, owner: str) -> None:
    """On shutdown: give back every lease this process holds."""
    release_owner(tx, owner)


def release_owner(tx: Tx, owner: str) -> int:
    """Give back every lease ``owner`` holds; returns how many."""
    result = tx.execute(
        update(feeds).where(feeds.c.lease_owner == owner).values(lease_until=None, lease_owner=None)
    )
    return int(result.rowcount or 0)


def lease_owners(tx: Tx, now: datetime) -> list[str]:
    """Owners of leases that have not expired."""
    stmt = select(feeds.c.lease_owner).where(feeds.c.lease_until >= now, feeds.c.lease_owner.is_not(None))
    return sorted(set(tx.execute(stmt.distinct()).scalars()))


def set_next_check(tx: Tx, checks: Sequence[tuple[int, datetime | None]]) -> None:
    if checks:
        tx.execute(
            update(feeds).where(feeds.c.id == bindparam("b_id")).values(next_check_at=bindparam("b_when")),
            [{"b_id": i, "b_when": w} for i, w in checks],
        )


# --------------------------------------------------------------------------- runs
_FEED_TITLE = bindparam("b_feed_title", type_=String())  # typed: PostgreSQL must know it in IS NULL
_RECORD = (
    update(feeds)
    .where(feeds.c.id == bindparam("b_feed_id"), feeds.c.lease_owner == bindparam("b_owner"))
    .values(
        last_checked_at=bindparam("b_checked_at"),
        last_success_at=bindparam("b_success_at"),
        last_status=bindparam("b_status"),
        http_status=bindparam("b_http_status"),
        error_count=bindparam("b_error_count"),
        last_error=bindparam("b_last_error"),
        retry_after=bindparam("b_retry_after"),
        next_check_at=bindparam("b_next_check_at"),
        gone=bindparam("b_gone"),
        etag=bindparam("b_etag"),
        last_modified=bindparam("b_last_modified"),
        body_hash=bindparam("b_body_hash"),
        url=bindparam("b_url"),
        moved_from=bindparam("b_moved_from"),
        notes=bindparam("b_notes"),
        ttl_seconds=bindparam("b_ttl_seconds"),
        posting_seconds=bindparam("b_posting_seconds"),
        site_url=bindparam("b_site_url"),
        last_new_at=func.coalesce(bindparam("b_new_at", type_=UTCDateTime()), feeds.c.last_new_at),
        # A configured title or language wins; the feed's own fills in only what is empty.
        title=case(
            (and_(feeds.c.title == "", _FEED_TITLE.is_not(None)), _FEED_TITLE),
            else_=feeds.c.title,
        ),
        language=func.coalesce(feeds.c.language, bindparam("b_language", type_=String())),
        lease_until=None,
        lease_owner=None,
    )
)


def record_runs(tx: Tx, records: Sequence[RunRecord]) -> None:
    """Store the outcome of finished runs and release their leases: one statement for all.

    A run whose lease another worker took meanwhile (it outlived the lease) changes nothing
    here: the newer run's outcome stands.
    """
    if not records:
        return
    rows = []
    for r in records:
        row = {f"b_{name}": getattr(r, name) for name in r.__dataclass_fields__}
        row["b_feed_title"] = r.feed_title[:1000] if r.feed_title else None
        row["b_language"] = r.language[:35] if r.language else None
        row["b_site_url"] = r.site_url[:2048] if r.site_url else None
        row["b_last_error"] = r.last_error[:4000] if r.last_error else None
        rows.append(row)
    tx.execute(_RECORD, rows)


def recent_published(tx: Tx, feed_id: int, n: int = 20) -> list[datetime]:
    stmt = (
        select(entries.c.published_at)
        .where(entries.c.feed_id == feed_id, entries.c.published_is_fallback.is_(False))
        .order_by(entries.c.published_at.desc())
        .limit(n)
    )
    return list(tx.execute(stmt).scalars())
