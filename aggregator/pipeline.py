"""One feed run: fetch → parse → normalise → store → cluster, in one transaction.

The network part (``fetch_feed``) holds no database transaction; the database part
(``ingest``) is one transaction per feed, so a failure or a crash leaves the previous state.
Either part returns values; a failing feed is a result, never an exception that stops a round.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from aggregator.clustering import NearDuplicateMatcher, assign_new_entries
from aggregator.errors import FeedError, HTTPStatusError, ParseError, StoreError
from aggregator.fetch import Fetcher, cache_lifetime
from aggregator.models import FeedDiscovery, FeedRunResult, FetchRequest, FetchResult, ParsedFeed, RunStatus
from aggregator.normalise import normalise_feed, plain_title
from aggregator.parse.pool import ParsePool
from aggregator.store import entries as entry_repo
from aggregator.store import feeds as feed_repo
from aggregator.store.values import FeedState


@dataclass(frozen=True, slots=True)
class Fetched:
    """The network half of a run: the last HTTP result, the parsed feed (None when unchanged)."""

    result: FetchResult
    parsed: ParsedFeed | None
    body_hash: str | None
    discovered_from: str | None = None  # the HTML page that advertised this feed
    elapsed: float = 0.0


async def fetch_feed(
    feed: FeedState, fetcher: Fetcher, parser: ParsePool, now: Callable[[], datetime]
) -> Fetched:
    """Fetch and parse one feed. Raises ``FeedError``; a 304 or an identical body skips parsing."""
    started = time.monotonic()
    result = await fetcher.fetch(FetchRequest(feed.url, feed.etag, feed.last_modified), now=now)
    if result.not_modified:
        return Fetched(result, None, None, elapsed=time.monotonic() - started)
    body = result.body or b""
    digest = hashlib.sha256(body).hexdigest()
    if digest == feed.body_hash:  # many servers ignore conditional GET
        return Fetched(result, None, digest, elapsed=time.monotonic() - started)
    doc = await parser.parse(body, result.headers, result.final_url)
    page: str | None = None
    if isinstance(doc, FeedDiscovery):
        page = doc.page_url
        result = await fetcher.fetch(FetchRequest(doc.feed_url), now=now)
        body = result.body or b""
        digest = hashlib.sha256(body).hexdigest()
        doc = await parser.parse(body, result.headers, result.final_url)
        if isinstance(doc, FeedDiscovery):
            raise ParseError(feed.url, f"{doc.page_url} is another HTML page, not a feed")
    return Fetched(result, doc, digest, page, time.monotonic() - started)


def ingest(
    sessions: sessionmaker[Session],
    feed: FeedState,
    outcome: Fetched | FeedError,
    now: datetime,
    matcher: NearDuplicateMatcher | None = None,
) -> FeedRunResult:
    """Store one run's outcome in one transaction and return what it did."""
    if isinstance(outcome, FeedError):
        return _record_failure(sessions, feed, outcome, now)
    try:
        with sessions.begin() as session:
            return _store(session, feed, outcome, now, matcher)
    except SQLAlchemyError as exc:
        raise StoreError(f"storing {feed.url} failed: {exc}") from exc


def _store(
    session: Session,
    feed: FeedState,
    fetched: Fetched,
    now: datetime,
    matcher: NearDuplicateMatcher | None,
) -> FeedRunResult:
    res = fetched.result
    moved = res.permanent_url if res.permanent_url and res.permanent_url != feed.url else None
    notes = []
    if fetched.discovered_from:
        moved = res.final_url
        notes.append(f"feed discovered at {res.final_url} via the HTML page {fetched.discovered_from}")
    if moved and not fetched.discovered_from:
        notes.append(f"moved permanently from {feed.url} to {moved}")
    lifetime = cache_lifetime(res.headers, now)
    base = FeedRunResult(
        feed.url,
        RunStatus.NOT_MODIFIED,
        http_status=res.status,
        duration=fetched.elapsed,
        notes=tuple(notes),
        cache_seconds=lifetime.total_seconds() if lifetime is not None else None,
        bytes=len(res.body or b""),
    )
    if fetched.parsed is None:
        feed_repo.record_success(
            session,
            feed.id,
            now=now,
            status=RunStatus.NOT_MODIFIED,
            http_status=res.status,
            etag=res.etag,
            last_modified=res.last_modified,
            body_hash=fetched.body_hash,
            moved_to=moved,
        )
        return base
    parsed = fetched.parsed
    entries = normalise_feed(parsed, feed_url=feed.url, base_url=res.final_url, now=now)
    changed = entry_repo.upsert_entries(session, feed.id, entries, now)
    new = [e for e in changed if e.is_new]
    placements = assign_new_entries(session, feed, new, now, matcher)
    status = RunStatus.NEW if new else (RunStatus.UPDATED if changed else RunStatus.UNCHANGED)
    notes.extend(parsed.warnings[:3])
    feed_repo.record_success(
        session,
        feed.id,
        now=now,
        status=status,
        http_status=res.status,
        etag=res.etag,
        last_modified=res.last_modified,
        body_hash=fetched.body_hash,
        feed_title=plain_title(parsed.title, parsed.title_is_html),
        site_url=parsed.link,
        language=parsed.language,
        ttl_seconds=parsed.ttl_minutes * 60 if parsed.ttl_minutes else None,
        moved_to=moved,
        notes="; ".join(notes) or None,
        had_new=bool(new),
    )
    return replace(
        base,
        status=status,
        new=len(new),
        updated=len(changed) - len(new),
        seen=len(entries),
        notes=tuple(notes),
        ttl_minutes=parsed.ttl_minutes,
        new_stories=sum(p.match == "first" for p in placements),
    )


def _record_failure(
    sessions: sessionmaker[Session], feed: FeedState, err: FeedError, now: datetime
) -> FeedRunResult:
    status = err.status if isinstance(err, HTTPStatusError) else None
    gone = status == 410
    retry = err.retry_after if isinstance(err, HTTPStatusError) else None
    try:
        with sessions.begin() as session:
            feed_repo.record_error(
                session,
                feed.id,
                now=now,
                error=err.reason,
                http_status=status,
                retry_after=retry,
                gone=gone,
            )
    except SQLAlchemyError as exc:
        raise StoreError(f"recording the error of {feed.url} failed: {exc}") from exc
    return FeedRunResult(
        feed.url,
        RunStatus.GONE if gone else RunStatus.ERROR,
        http_status=status,
        error=err.reason,
        retry_after=retry,
    )
