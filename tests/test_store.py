"""Store and migrations on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, inspect

from aggregator.clustering import assign_new_entries
from aggregator.models import Entry
from aggregator.store import db
from aggregator.store import entries as entry_repo
from aggregator.store import feeds as feed_repo
from aggregator.store import stories as story_repo
from aggregator.store.schema import Base

NOW = datetime(2024, 8, 12, 7, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Spec:
    url: str
    name: str
    title: str | None = None
    priority: int = 0
    enabled: bool = True
    interval: timedelta | None = None
    language: str | None = None


def entry(guid: str, url: str, text: str = "", minutes: int = 0, title: str = "Judul") -> Entry:
    words = text or f"isi berita {guid} " * 5
    return Entry(
        guid_key=guid,
        url=url,
        canonical_url=url.replace("https://www.", "https://").split("?")[0],
        title=title,
        content_html=f"<p>{words}</p>",
        summary_html="",
        text=words,
        published=NOW + timedelta(minutes=minutes),
        published_is_fallback=False,
        updated=None,
        author=None,
        language="id",
        content_hash=hashlib.sha256(f"{guid}\0{words}\0{title}".encode()).hexdigest(),
        text_hash=hashlib.sha256(words.encode()).hexdigest(),
    )


@pytest.fixture
def engine(database_url: str) -> Engine:
    eng = db.open_engine(database_url)
    db.ensure_schema(eng)
    yield eng
    eng.dispose()


def test_migrations_up_down_up(database_url: str) -> None:
    eng = db.open_engine(database_url)
    try:
        db.upgrade(eng)
        tables = set(inspect(eng).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert db.current_revision(eng) == db.head_revision(eng)
        db.downgrade(eng, "base")
        assert set(inspect(eng).get_table_names()) <= {"alembic_version"}
        db.upgrade(eng)
        assert set(Base.metadata.tables) <= set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def test_migrations_match_models(database_url: str) -> None:
    """The migration history builds exactly the schema the models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    eng = db.open_engine(database_url)
    try:
        db.upgrade(eng)
        with eng.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        eng.dispose()


def test_sync_feeds_keeps_removed_feeds(engine: Engine) -> None:
    sessions = db.session_factory(engine)
    with sessions.begin() as s:
        states = feed_repo.sync_feeds(
            s, [Spec("https://a.example/rss", "a"), Spec("https://b.example/rss", "b")], NOW
        )
        assert [f.name for f in states] == ["a", "b"]
    with sessions.begin() as s:
        feed_repo.sync_feeds(s, [Spec("https://b.example/rss", "b", title="B")], NOW)
    with sessions() as s:
        rows = {f.name: f for f in feed_repo.list_feeds(s)}
    assert not rows["a"].in_config and rows["b"].in_config and rows["b"].title == "B"


def test_ingest_is_idempotent_and_edits_update_in_place(engine: Engine) -> None:
    sessions = db.session_factory(engine)
    with sessions.begin() as s:
        (feed,) = feed_repo.sync_feeds(s, [Spec("https://a.example/rss", "a")], NOW)
        first = entry_repo.upsert_entries(s, feed.id, [entry("g1", "https://a.example/1")], NOW)
        assert [e.is_new for e in first] == [True]
        assign_new_entries(s, feed, first, NOW)
    with sessions.begin() as s:
        again = entry_repo.upsert_entries(s, feed.id, [entry("g1", "https://a.example/1")], NOW)
        assert again == []
        edited = entry_repo.upsert_entries(
            s, feed.id, [entry("g1", "https://a.example/1", title="Judul baru")], NOW
        )
        assert [e.is_edited for e in edited] == [True]
    with sessions() as s:
        c = story_repo.counts(s)
        assert c == {"entries": 1, "members": 1, "stories": 1}
        (view,) = story_repo.latest_stories(s, feed_ids=None, limit=None)
        assert view.title == "Judul baru"


@pytest.mark.parametrize(
    ("second", "match"),
    [
        (entry("x9", "https://www.a.example/1?utm_source=x", text="lain sekali " * 5), "url"),
        (entry("x9", "https://b.example/other", text="isi berita g1 " * 5), "text"),
        (entry("https://a.example/guid/1", "https://b.example/z", text="beda " * 9), "guid"),
    ],
)
def test_identity_dedup_joins_existing_story(engine: Engine, second: Entry, match: str) -> None:
    sessions = db.session_factory(engine)
    with sessions.begin() as s:
        fa, fb = feed_repo.sync_feeds(
            s, [Spec("https://a.example/rss", "a"), Spec("https://b.example/rss", "b")], NOW
        )
        e1 = entry("https://a.example/guid/1" if match == "guid" else "g1", "https://a.example/1", minutes=5)
        assign_new_entries(s, fa, entry_repo.upsert_entries(s, fa.id, [e1], NOW), NOW)
        later = entry_repo.upsert_entries(s, fb.id, [second], NOW)
        (placement,) = assign_new_entries(s, fb, later, NOW)
        assert placement.match == match
    with sessions() as s:
        (view,) = story_repo.latest_stories(s, feed_ids=None, limit=None)
        assert len(view.members) == 2
        # the earliest published member represents the story
        assert view.url == (second.url if second.published < e1.published else e1.url)
        assert {m.match for m in view.members} == {"first", match}


def test_every_entry_in_exactly_one_story(engine: Engine) -> None:
    sessions = db.session_factory(engine)
    with sessions.begin() as s:
        (feed,) = feed_repo.sync_feeds(s, [Spec("https://a.example/rss", "a")], NOW)
        batch = [entry(f"g{i}", f"https://a.example/{i}", minutes=i) for i in range(30)]
        assign_new_entries(s, feed, entry_repo.upsert_entries(s, feed.id, batch, NOW), NOW)
    with sessions() as s:
        assert story_repo.counts(s) == {"entries": 30, "members": 30, "stories": 30}
        views = story_repo.latest_stories(s, feed_ids=[feed.id], limit=None)
        assert [v.published for v in views] == sorted((v.published for v in views), reverse=True)
        assert len(story_repo.latest_stories(s, feed_ids=[feed.id], limit=5)) == 5


def test_utc_round_trip(engine: Engine) -> None:
    sessions = db.session_factory(engine)
    wib = datetime(2024, 8, 12, 7, 5, tzinfo=UTC)
    with sessions.begin() as s:
        (feed,) = feed_repo.sync_feeds(s, [Spec("https://a.example/rss", "a")], NOW)
        e = replace(entry("g", "https://a.example/g"), published=wib.astimezone(ZoneInfo("Asia/Jakarta")))
        (stored,) = entry_repo.upsert_entries(s, feed.id, [e], NOW)
    with sessions() as s:
        (got,) = entry_repo.get_entries(s, [stored.id])
    assert got.published == wib and got.published.tzinfo is not None
