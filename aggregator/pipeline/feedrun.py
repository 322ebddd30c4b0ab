"""One feed run: fetch → digest (parse, normalise) → store → cluster, and the next check.

The network half (``fetch``) holds no transaction. The database half is one transaction: for a
document with entries, ``store_document`` (insert and edit entries, form stories, record the
run and its next check, release the lease); for a run that only updates the feed row (304, an
unchanged body, an error), ``settle`` computes the row's new state, which the runner writes
together with other such runs. Either way a failure or a crash leaves the previous state.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aggregator.cluster.state import ClusterState
from aggregator.errors import FeedError, HTTPStatusError, ParseError
from aggregator.fetch import Fetcher, cache_lifetime
from aggregator.models import Digest, FeedDiscovery, FeedRunResult, FetchRequest, FetchResult, RunStatus
from aggregator.pipeline.digest import DigestJob
from aggregator.pipeline.schedule import Observation, Policy, next_check, posting_interval
from aggregator.pipeline.workers import WorkerPool
from aggregator.store import Database
from aggregator.store import entries as entry_repo
from aggregator.store import feeds as feed_repo
from aggregator.store.db import bump
from aggregator.store.values import FeedState, RunRecord

Known = Callable[[int], Awaitable[frozenset[str]]]  # raw hashes of a feed's stored entries


@dataclass(frozen=True, slots=True)
class Fetched:
    """The network half of a run: the last HTTP result and the digest (None when unchanged)."""

    result: FetchResult
    digest: Digest | None
    body_hash: str | None
    discovered_from: str | None = None  # the HTML page that advertised this feed
    elapsed: float = 0.0


async def fetch(
    feed: FeedState, fetcher: Fetcher, pool: WorkerPool, known: Known, now: datetime, *, prework: bool = False
) -> Fetched:
    """Fetch and digest one feed. Raises ``FeedError``; a 304 or an identical body skips parsing.
    ``prework``: the parser process also makes the new entries' dedup prework."""
    started = time.monotonic()
    result = await fetcher.fetch(FetchRequest(feed.url, feed.etag, feed.last_modified))
    if result.not_modified:
        return Fetched(result, None, None, elapsed=time.monotonic() - started)
    body = result.body or b""
    digest = hashlib.sha256(body).hexdigest()
    if digest == feed.body_hash:  # many servers ignore conditional GET
        return Fetched(result, None, digest, elapsed=time.monotonic() - started)
    job = DigestJob(body, result.headers, result.final_url, feed.url, now, await known(feed.id), prework)
    doc = await pool.run(job)
    page: str | None = None
    if isinstance(doc, FeedDiscovery):
        page = doc.page_url
        result = await fetcher.fetch(FetchRequest(doc.feed_url))
        body = result.body or b""
        digest = hashlib.sha256(body).hexdigest()
        job = DigestJob(body, result.headers, result.final_url, feed.url, now, prework=prework)
        doc = await pool.run(job)
        if isinstance(doc, FeedDiscovery):
            raise ParseError(feed.url, f"{doc.page_url} is another HTML page, not a feed")
    return Fetched(result, doc, digest, page, time.monotonic() - started)


# --------------------------------------------------------------------------- the feed row
@dataclass(frozen=True, slots=True)
class Stored:
    """What storing a document did."""

    new: int = 0
    edited: int = 0
    new_stories: int = 0
    posting: timedelta | None = None


def _moved(feed: FeedState, fetched: Fetched) -> tuple[str | None, list[str]]:
    res = fetched.result
    if fetched.discovered_from:
        return res.final_url, [
            f"feed discovered at {res.final_url} via the HTML page {fetched.discovered_from}"
        ]
    if res.permanent_url and res.permanent_url != feed.url:
        return res.permanent_url, [f"moved permanently from {feed.url} to {res.permanent_url}"]
    return None, []


def settle(
    feed: FeedState,
    outcome: Fetched | FeedError,
    *,
    now: datetime,
    policy: Policy,
    rng: random.Random,
    owner: str,
    stored: Stored | None = None,
) -> tuple[RunRecord, FeedRunResult]:
    """The feed row after this run, and the run's result. Pure."""
    if isinstance(outcome, FeedError):
        return _failed(feed, outcome, now=now, policy=policy, rng=rng, owner=owner)
    res, digest = outcome.result, outcome.digest
    moved, notes = _moved(feed, outcome)
    lifetime = cache_lifetime(res.headers, now)
    posting = stored.posting if stored else _seconds(feed.posting_seconds)
    ttl = digest.feed.ttl_minutes * 60 if digest and digest.feed.ttl_minutes else feed.ttl_seconds
    seen = Observation(ok=True, cache_lifetime=lifetime, ttl=_seconds(ttl), posting=posting)
    if digest is None:
        status = RunStatus.NOT_MODIFIED
    elif stored and stored.new:
        status = RunStatus.NEW
    else:
        status = RunStatus.UPDATED if stored and stored.edited else RunStatus.UNCHANGED
    if digest is not None:
        notes.extend(digest.feed.warnings[:3])
    record = RunRecord(
        feed_id=feed.id,
        owner=owner,
        checked_at=now,
        success_at=now,
        status=status.value,
        http_status=res.status,
        error_count=0,
        last_error=None,
        retry_after=None,
        next_check_at=next_check(now, policy, seen, rng),
        gone=False,
        etag=res.etag,
        last_modified=res.last_modified,
        body_hash=outcome.body_hash or feed.body_hash,
        url=moved or feed.url,
        moved_from=feed.url if moved else feed.moved_from,
        # A document's run says what it noticed now; a 304 leaves the last notes standing.
        notes=("; ".join(notes) or None) if digest is not None or notes else feed.notes,
        ttl_seconds=ttl,
        posting_seconds=int(posting.total_seconds()) if posting else None,
        site_url=(digest.feed.link if digest else None) or feed.site_url,
        new_at=now if stored and stored.new else None,
        feed_title=digest.title if digest else None,
        language=digest.feed.language if digest else None,
    )
    result = FeedRunResult(
        feed.url,
        status,
        new=stored.new if stored else 0,
        updated=stored.edited if stored else 0,
        seen=digest.seen if digest else 0,
        http_status=res.status,
        duration=outcome.elapsed,
        notes=tuple(notes),
        cache_seconds=lifetime.total_seconds() if lifetime is not None else None,
        ttl_minutes=digest.feed.ttl_minutes if digest else None,
        bytes=len(res.body or b""),
        new_stories=stored.new_stories if stored else 0,
    )
    return record, result


def _seconds(value: int | None) -> timedelta | None:
    return timedelta(seconds=value) if value else None


def _failed(
    feed: FeedState, err: FeedError, *, now: datetime, policy: Policy, rng: random.Random, owner: str
) -> tuple[RunRecord, FeedRunResult]:
    status = err.status if isinstance(err, HTTPStatusError) else None
    gone = status == 410
    retry = err.retry_after if isinstance(err, HTTPStatusError) else None
    errors = feed.error_count + 1
    seen = Observation(ok=False, gone=gone, error_count=errors, retry_after=retry)
    record = RunRecord(
        feed_id=feed.id,
        owner=owner,
        checked_at=now,
        success_at=feed.last_success_at,
        status="gone" if gone else "error",
        http_status=status,
        error_count=errors,
        last_error=err.reason,
        retry_after=retry,
        next_check_at=next_check(now, policy, seen, rng),
        gone=feed.gone or gone,
        etag=feed.etag,
        last_modified=feed.last_modified,
        body_hash=feed.body_hash,
        url=feed.url,
        moved_from=feed.moved_from,
        notes=feed.notes,
        ttl_seconds=feed.ttl_seconds,
        posting_seconds=feed.posting_seconds,
        site_url=feed.site_url,
        new_at=None,
    )
    result = FeedRunResult(
        feed.url,
        RunStatus.GONE if gone else RunStatus.ERROR,
        http_status=status,
        error=err.reason,
        retry_after=retry,
    )
    return record, result


# --------------------------------------------------------------------------- a document
def store_document(
    database: Database,
    cluster: ClusterState,
    feed: FeedState,
    fetched: Fetched,
    *,
    now: datetime,
    policy: Policy,
    rng: random.Random,
    owner: str,
) -> FeedRunResult:
    """Store a document's entries, form stories and record the run, in one transaction."""
    from aggregator.cluster.place import Placed, place_new_entries  # the engine: loaded on first need

    digest = fetched.digest
    assert digest is not None
    if digest.entries:
        cluster.warm(database)  # first need: load the index outside any lock
    placed = Placed()
    try:
        with database.transaction(f"storing {feed.url}") as tx:
            changes = entry_repo.classify(tx, feed.id, digest.entries)
            new = []
            if changes.new:
                database.lock_clustering(tx)  # entries go in under the lock (see cluster.state)
                new = entry_repo.insert_new(tx, feed.id, changes.new, now)
            edited = entry_repo.apply_edits(tx, feed.id, changes.edited, now)
            entry_repo.refresh_raw(tx, changes.refreshed)
            posting = _seconds(feed.posting_seconds)
            if new:
                place_new_entries(tx, cluster, feed, new, now, placed, digest.prework)
                posting = posting_interval(feed_repo.recent_published(tx, feed.id))
            stored = Stored(len(new), len(edited), placed.new_stories, posting)
            record, result = settle(
                feed, fetched, now=now, policy=policy, rng=rng, owner=owner, stored=stored
            )
            feed_repo.record_runs(tx, [record])
            version = bump(tx) if new or edited else None
    except BaseException:
        placed.abandon()
        raise
    placed.commit()
    if new and version is not None:
        cluster.committed(version)
    return result
