"""Composition helpers shared by the CLI commands: settings → database → round → outputs.

Builds the objects (engine, sessions, fetcher, parser pool, dedup matcher) from settings and
wires them; holds no policy of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from aggregator import USER_AGENT
from aggregator.clustering import assign_new_entries, earliest_member
from aggregator.config import OutputConfig, Settings
from aggregator.dedup_matcher import StoreMatcher, build_matcher, settings_for_dedup
from aggregator.errors import StoreError
from aggregator.fetch import Fetcher, FetchSettings
from aggregator.models import FeedRunResult, OutputMeta, StoryView
from aggregator.outputs import keep_story
from aggregator.parse.pool import ParsePool
from aggregator.rounds import poll_round
from aggregator.store import db
from aggregator.store import dedup as dedup_repo
from aggregator.store import entries as entry_repo
from aggregator.store import feeds as feed_repo
from aggregator.store import stories as story_repo
from aggregator.store.values import FeedState, StoredEntry


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker[Session]  # for writing: one transaction per unit of work
    readers: sessionmaker[Session]  # for reading: never waits for or blocks the writer

    @classmethod
    def of(cls, engine: Engine) -> Database:
        return cls(engine, db.session_factory(engine), db.session_factory(engine, write=False))

    def close(self) -> None:
        self.engine.dispose()


@contextlib.contextmanager
def open_database(settings: Settings, *, migrate: bool = True) -> Iterator[Database]:
    engine = db.open_engine(settings.database_url)
    try:
        if migrate:
            db.ensure_schema(engine)
        yield Database.of(engine)
    finally:
        engine.dispose()


def sync_config(database: Database, settings: Settings, now: datetime) -> list[FeedState]:
    """Feed rows matching feeds.yaml, in config order."""
    try:
        with database.sessions.begin() as session:
            return feed_repo.sync_feeds(session, settings.feeds, now)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot update the feeds table: {exc}") from exc


def fetch_settings(settings: Settings) -> FetchSettings:
    p = settings.polling
    return FetchSettings(
        user_agent=p.user_agent or USER_AGENT,
        total_timeout=p.timeout.total_seconds(),
        max_body_bytes=p.max_body,
        limit=max(p.concurrency, 1),
        limit_per_host=max(p.per_host, 1),
    )


@contextlib.asynccontextmanager
async def round_tools(settings: Settings) -> AsyncIterator[tuple[Fetcher, ParsePool]]:
    async with Fetcher(fetch_settings(settings)) as fetcher:
        with ParsePool(workers=1, timeout=settings.polling.timeout.total_seconds()) as parser:
            yield fetcher, parser


async def run_round(
    settings: Settings,
    database: Database,
    feeds: Sequence[FeedState],
    *,
    on_result: Callable[[FeedState, FeedRunResult], None] | None = None,
) -> list[FeedRunResult]:
    matcher = build_matcher(settings, database)
    async with round_tools(settings) as (fetcher, parser):
        results = await poll_round(
            feeds,
            fetcher=fetcher,
            parser=parser,
            sessions=database.sessions,
            clock=utcnow,
            matcher=matcher,
            concurrency=settings.polling.concurrency,
            on_result=on_result,
        )
    if settings.retention.entries is not None:
        expire(database, matcher, utcnow() - settings.retention.entries)
    return results


def output_stories(
    settings: Settings, database: Database, output: OutputConfig, limit: int | None
) -> tuple[OutputMeta, list[StoryView]]:
    """The stories of one output, newest first, filtered, at most ``limit`` (None = all)."""
    names = output.feed_names(settings.feeds)
    with database.readers() as session:
        feeds = feed_repo.list_feeds(session)
        ids = [f.id for f in feeds if f.name in names]
        every = len(names) == len(settings.feeds)
        stories = story_repo.latest_stories(
            session, feed_ids=None if every else ids, limit=None if _filters(output) else limit
        )
    kept = [
        s
        for s in stories
        if (s.title or s.url)  # an entry with no title, link or text has nothing to show
        and keep_story(
            s,
            include=output.include,
            exclude=output.exclude,
            language=output.language,
        )
    ]
    if limit is not None:
        kept = kept[:limit]
    updated = max((s.updated for s in kept), default=datetime(1970, 1, 1, tzinfo=UTC))
    base = settings.server.base_url
    meta = OutputMeta(
        name=output.name,
        title=output.title,
        description=output.description or f"{output.title}: one item per story, copies listed",
        home_url=f"{base.rstrip('/')}/" if base else None,
        self_url=None,
        updated=updated,
    )
    return meta, kept


def _filters(output: OutputConfig) -> bool:
    return bool(output.include or output.exclude or output.language)


def rebuild_clusters(settings: Settings, database: Database, now: datetime) -> tuple[int, int]:
    """Forget all stories and place every entry again, in publication order, in one transaction."""
    with database.sessions.begin() as session:
        dedup_repo.clear_clusters(session)
        feeds = {f.id: f for f in feed_repo.list_feeds(session)}
        ids = dedup_repo.all_entries_in_order(session)
        entries = entry_repo.get_entries(session, ids)
        matcher = StoreMatcher(settings_for_dedup(settings)) if settings.dedup.enabled else None
        if matcher is not None:
            by_feed: dict[int, list[StoredEntry]] = {}
            for e in entries:
                by_feed.setdefault(e.feed_id, []).append(e)
            for fid in sorted(by_feed):
                matcher.observe(session, feeds[fid], by_feed[fid])
        for e in entries:
            assign_new_entries(session, feeds[e.feed_id], [e], now, matcher, learn=False)
        return len(entries), story_repo.counts(session)["stories"]


def expire(database: Database, matcher: StoreMatcher | None, before: datetime) -> int:
    """Delete old entries, re-elect stories that lost their representative; returns the count."""
    now = utcnow()
    with database.sessions.begin() as session:
        removed, orphaned = story_repo.expire_entries(session, before)
        for sid in orphaned:
            rep, published = matcher.elect(session, sid) if matcher else earliest_member(session, sid)
            story_repo.set_representative(session, sid, rep, published, now)
    if matcher is not None and removed:
        matcher.engine.remove(set(removed))
    return len(removed)
