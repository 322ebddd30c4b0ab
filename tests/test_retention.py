"""Retention: old entries go, stories go with their last member, representatives are re-elected."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from aggregator.app import Database, expire
from aggregator.clustering import assign_new_entries
from aggregator.store import db
from aggregator.store import entries as entry_repo
from aggregator.store import feeds as feed_repo
from aggregator.store import stories as story_repo
from aggregator.store.integrity import problems
from tests.test_store import NOW, Spec, entry


def test_expire_keeps_the_database_consistent(database_url: str) -> None:
    engine = db.open_engine(database_url)
    db.ensure_schema(engine)
    database = Database.of(engine)
    old, new = NOW - timedelta(days=40), NOW
    with database.sessions.begin() as s:
        fa, fb = feed_repo.sync_feeds(
            s, [Spec("https://a.example/rss", "a"), Spec("https://b.example/rss", "b")], old
        )
        # story 1: an old original and a recent copy (same canonical URL); story 2: old only
        first = entry_repo.upsert_entries(s, fa.id, [entry("g1", "https://a.example/1", minutes=0)], old)
        assign_new_entries(s, fa, first, old)
        lone = entry_repo.upsert_entries(
            s, fa.id, [entry("g2", "https://a.example/2", text="lain " * 20)], old
        )
        assign_new_entries(s, fa, lone, old)
        copy = replace(entry("c1", "https://www.a.example/1?utm_source=x", minutes=30), text="salinan " * 20)
        assign_new_entries(s, fb, entry_repo.upsert_entries(s, fb.id, [copy], new), new)
    removed = expire(database, None, NOW - timedelta(days=30))
    assert removed == 2
    with database.readers() as s:
        assert problems(s) == []
        assert story_repo.counts(s) == {"entries": 1, "members": 1, "stories": 1}
        (view,) = story_repo.latest_stories(s, feed_ids=None, limit=None)
        assert view.url == "https://www.a.example/1?utm_source=x"  # the surviving copy represents it
    engine.dispose()
