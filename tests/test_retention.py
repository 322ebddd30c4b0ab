"""Retention: old entries go, stories go with their last member, representatives are re-elected."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from aggregator.cluster.retention import expire
from aggregator.store import Database
from aggregator.store.integrity import problems
from tests.test_store import NOW, Spec, entry, ingest, sync, views


def test_expire_keeps_the_database_consistent(database_url: str) -> None:
    database = Database(database_url)
    database.ensure_schema()
    old, new = NOW - timedelta(days=40), NOW
    try:
        fa, fb = sync(
            database, Spec("https://a.example/rss", "a"), Spec("https://b.example/rss", "b"), now=old
        )
        # story 1: an old original and a recent copy (same canonical URL); story 2: old only
        ingest(database, fa, [entry("g1", "https://a.example/1", minutes=0)], old)
        ingest(database, fa, [entry("g2", "https://a.example/2", text="lain " * 20)], old)
        copy = replace(entry("c1", "https://www.a.example/1?utm_source=x", minutes=30), text="salinan " * 20)
        ingest(database, fb, [copy], new)
        assert expire(database, None, NOW - timedelta(days=30), NOW) == 2
        with database.reading() as tx:
            assert problems(tx) == []
            (view,) = views(tx)
            assert view.url == "https://www.a.example/1?utm_source=x"
            assert len(view.members) == 1
    finally:
        database.close()
