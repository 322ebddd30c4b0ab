"""Store and migrations on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect

from aggregator.cluster.place import Placed, place_new_entries
from aggregator.cluster.state import ClusterState
from aggregator.dedup import DedupSettings
from aggregator.errors import DatabaseUnavailable
from aggregator.models import Entry, MatchKind, StoryView
from aggregator.store import Database, Tx, migrate
from aggregator.store import entries as entry_repo
from aggregator.store import feeds as feed_repo
from aggregator.store import stories as story_repo
from aggregator.store.schema import SCHEMA_REVISION, metadata
from aggregator.store.values import FeedState, StoredEntry

NOW = datetime(2024, 8, 12, 7, 0, tzinfo=UTC)
IDENTITY_ONLY = DedupSettings(enabled=False)


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


def ingest(
    database: Database,
    feed: FeedState,
    batch: list[Entry],
    now: datetime = NOW,
    cluster: ClusterState | None = None,
) -> tuple[list[StoredEntry], Placed]:
    """What a feed run does with a document's entries, without the fetching."""
    state = cluster or ClusterState(IDENTITY_ONLY)
    placed = Placed()
    with database.transaction() as tx:
        changes = entry_repo.classify(tx, feed.id, batch)
        database.lock_clustering(tx)
        new = entry_repo.insert_new(tx, feed.id, changes.new, now)
        entry_repo.apply_edits(tx, feed.id, changes.edited, now)
        place_new_entries(tx, state, feed, new, now, placed)
    placed.commit()
    return new, placed


def sync(database: Database, *specs: Spec, now: datetime = NOW) -> list[FeedState]:
    with database.transaction() as tx:
        return feed_repo.sync_feeds(tx, specs, now)[0]


def views(tx: Tx, feed_ids: list[int] | None = None, limit: int | None = None) -> list[StoryView]:
    return story_repo.story_views(tx, story_repo.latest_story_ids(tx, feed_ids=feed_ids, limit=limit))


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    db.ensure_schema()
    yield db
    db.close()


def test_migrations_up_down_up(database_url: str) -> None:
    db = Database(database_url)
    try:
        migrate.upgrade(db.engine)
        assert set(metadata.tables) <= set(inspect(db.engine).get_table_names())
        assert migrate.current_revision(db.engine) == migrate.head_revision() == SCHEMA_REVISION
        migrate.downgrade(db.engine, "base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(db.engine)
        assert set(metadata.tables) <= set(inspect(db.engine).get_table_names())
        assert db.ensure_schema() is None  # current: nothing to do, no Alembic needed
    finally:
        db.close()


def test_migrations_match_the_tables(database_url: str) -> None:
    """The migration history builds exactly the schema ``schema.py`` declares."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    db = Database(database_url)
    try:
        assert db.ensure_schema() == (None, SCHEMA_REVISION)
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        db.close()


def test_schema_created_once_by_processes_starting_together(database_url: str) -> None:
    """Two processes opening an empty database at once: one migrates, the other finds it done."""
    results: list[object] = []

    def start() -> None:
        db = Database(database_url)
        try:
            results.append(db.ensure_schema())
        finally:
            db.close()

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(None) == 2 and (None, SCHEMA_REVISION) in results


def test_sync_feeds_keeps_removed_feeds_and_is_idempotent(database: Database) -> None:
    states = sync(database, Spec("https://a.example/rss", "a"), Spec("https://b.example/rss", "b"))
    assert [f.name for f in states] == ["a", "b"]
    with database.transaction() as tx:
        _, changed = feed_repo.sync_feeds(
            tx, [Spec("https://a.example/rss", "a"), Spec("https://b.example/rss", "b")], NOW
        )
        assert not changed  # nothing to do: no writes, no change counted
    sync(database, Spec("https://b.example/rss", "b", title="B"))
    with database.reading() as tx:
        rows = {f.name: f for f in feed_repo.list_feeds(tx)}
    assert not rows["a"].in_config and rows["b"].in_config and rows["b"].title == "B"


def test_ingest_is_idempotent_and_edits_update_in_place(database: Database) -> None:
    (feed,) = sync(database, Spec("https://a.example/rss", "a"))
    first, _ = ingest(database, feed, [entry("g1", "https://a.example/1")])
    assert [e.is_new for e in first] == [True]
    with database.transaction() as tx:
        changes = entry_repo.classify(tx, feed.id, [entry("g1", "https://a.example/1")])
        assert changes.new == [] and changes.edited == []
        changes = entry_repo.classify(tx, feed.id, [entry("g1", "https://a.example/1", title="Judul baru")])
        (edited,) = entry_repo.apply_edits(tx, feed.id, changes.edited, NOW)
        assert edited.is_edited
    with database.reading() as tx:
        assert story_repo.counts(tx) == {"entries": 1, "members": 1, "stories": 1}
        (view,) = views(tx)
        assert view.title == "Judul baru"


@pytest.mark.parametrize(
    ("second", "match"),
    [
        (entry("x9", "https://www.a.example/1?utm_source=x", text="lain sekali " * 5), "url"),
        (entry("x9", "https://b.example/other", text="isi berita g1 " * 5), "text"),
        (
            entry("https://a.example/guid/1", "https://b.example/z", text="kabar dari sumber lain " * 3),
            "guid",
        ),
    ],
)
def test_identity_dedup_joins_existing_story(database: Database, second: Entry, match: str) -> None:
    fa, fb = sync(database, Spec("https://a.example/rss", "a"), Spec("https://b.example/rss", "b"))
    e1 = entry("https://a.example/guid/1" if match == "guid" else "g1", "https://a.example/1", minutes=5)
    ingest(database, fa, [e1])
    _, placed = ingest(database, fb, [second])
    (placement,) = placed.placements
    assert placement.kind is MatchKind(match)
    with database.reading() as tx:
        (view,) = views(tx)
        assert len(view.members) == 2
        # the earliest published member represents the story
        assert view.url == (second.url if second.published < e1.published else e1.url)
        assert {m.match for m in view.members} == {"first", match}


def test_every_entry_in_exactly_one_story(database: Database) -> None:
    (feed,) = sync(database, Spec("https://a.example/rss", "a"))
    ingest(database, feed, [entry(f"g{i}", f"https://a.example/{i}", minutes=i) for i in range(30)])
    with database.reading() as tx:
        assert story_repo.counts(tx) == {"entries": 30, "members": 30, "stories": 30}
        got = views(tx, [feed.id])
        published = [v.published for v in got]
        assert published == sorted(published, reverse=True)
        assert len(views(tx, [feed.id], 5)) == 5


def test_utc_round_trip(database: Database) -> None:
    wib = datetime(2024, 8, 12, 7, 5, tzinfo=UTC)
    (feed,) = sync(database, Spec("https://a.example/rss", "a"))
    e = replace(entry("g", "https://a.example/g"), published=wib.astimezone(ZoneInfo("Asia/Jakarta")))
    (stored,), _ = ingest(database, feed, [e])
    with database.reading() as tx:
        (got,) = entry_repo.get_entries(tx, [stored.id])
    assert got.published == wib and got.published.tzinfo is not None


# --------------------------------------------------------------------------- leases
def test_concurrent_claims_get_disjoint_feeds(database: Database, database_url: str) -> None:
    specs = [Spec(f"https://f{i}.example/rss", f"f{i}") for i in range(40)]
    sync(database, *specs)
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)

    def claim(owner: str) -> None:
        db = Database(database_url)
        try:
            barrier.wait()
            got: list[int] = []
            for _ in range(5):
                with db.transaction() as tx:
                    got += [
                        s.id
                        for s in feed_repo.claim_due(
                            tx, now=NOW, owner=owner, lease=timedelta(minutes=5), limit=4
                        )
                    ]
            claimed[owner] = got
        finally:
            db.close()

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == len(set(every)) == 40  # each feed once, all of them


def test_an_expired_lease_is_claimed_again_and_a_held_one_is_not(database: Database) -> None:
    (feed,) = sync(database, Spec("https://a.example/rss", "a"))
    lease = timedelta(minutes=5)
    with database.transaction() as tx:
        assert [s.id for s in feed_repo.claim_due(tx, now=NOW, owner="dead", lease=lease, limit=10)] == [
            feed.id
        ]
    with database.transaction() as tx:
        assert (
            feed_repo.claim_due(tx, now=NOW + timedelta(minutes=1), owner="other", lease=lease, limit=10)
            == []
        )
        assert (
            feed_repo.claim_ids(tx, [feed.id], now=NOW + timedelta(minutes=1), owner="poll", lease=lease)
            == []
        )
    with database.transaction() as tx:
        again = feed_repo.claim_due(tx, now=NOW + timedelta(minutes=6), owner="other", lease=lease, limit=10)
        assert [(s.id, s.lease_owner) for s in again] == [(feed.id, "other")]


def test_translated_errors_say_what_was_being_done(tmp_path: object) -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(DatabaseUnavailable, match="leasing feeds"), db.transaction("leasing feeds") as tx:
            feed_repo.list_feeds(tx)
    finally:
        db.close()
