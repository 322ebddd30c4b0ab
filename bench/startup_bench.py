"""Start-up cost of the dedup index: load N stored signatures from SQLite into a ready engine.

    python bench/startup_bench.py [N]      (default 100000)

Builds a throw-away SQLite database with N entries, stories, memberships and signatures, then
times ``StoreMatcher.load`` (what `aggregator run` and every `poll` do at start).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator.dedup import ALGO_VERSION, DedupSettings, Signature
from aggregator.dedup_matcher import StoreMatcher
from aggregator.store import db

NOW = "2024-08-12 00:00:00"
FEED = (
    "INSERT INTO feeds (id, config_url, url, name, title, priority, enabled, in_config, error_count,"
    " gone, boilerplate_docs, created_at) VALUES (1, 'u', 'u', 'n', 't', 0, 1, 1, 0, 0, 0, ?)"
)
ENTRY = (
    "INSERT INTO entries (id, feed_id, guid_key, guid_hash, url, canonical_url, title, content_html,"
    " summary_html, text, published_at, published_is_fallback, first_seen_at, last_seen_at,"
    " changed_at, content_hash, text_hash) VALUES (?, 1, ?, ?, '', '', '', '', '', '', ?, 0, ?, ?, ?, '', '')"
)
STORY = (
    "INSERT INTO stories (id, key, representative_id, published_at, created_at, updated_at, member_count)"
    " VALUES (?, ?, ?, ?, ?, ?, 1)"
)
MEMBER = "INSERT INTO story_members (entry_id, story_id, match, joined_at) VALUES (?, ?, 'first', ?)"
SIGNATURE = (
    "INSERT INTO signatures (entry_id, algo_version, num_perm, seed, data, time) VALUES (?, ?, 128, 1, ?, ?)"
)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    path = os.path.join(tempfile.mkdtemp(prefix="startup."), "agg.db")
    engine = db.open_engine(f"sqlite:///{path}")
    db.ensure_schema(engine)
    engine.dispose()
    rng = np.random.default_rng(1)
    ids = range(1, n + 1)
    sigs = [
        Signature(
            rng.integers(0, 2**32, 128, dtype=np.uint32),
            rng.integers(0, 2**32, 128, dtype=np.uint32),
            full_size=150,
            lead_size=16,
        ).to_bytes()
        for _ in ids
    ]
    con = sqlite3.connect(path)
    con.execute(FEED, (NOW,))
    con.executemany(ENTRY, [(i, f"g{i}", f"{i:064d}", NOW, NOW, NOW, NOW) for i in ids])
    con.executemany(STORY, [(i, f"k{i}", i, NOW, NOW, NOW) for i in ids])
    con.executemany(MEMBER, [(i, i, NOW) for i in ids])
    con.executemany(SIGNATURE, [(i, ALGO_VERSION, s, NOW) for i, s in zip(ids, sigs, strict=True)])
    con.commit()
    con.close()
    engine = db.open_engine(f"sqlite:///{path}")
    matcher = StoreMatcher(DedupSettings())
    started = time.perf_counter()
    with db.session_factory(engine, write=False)() as session:
        loaded = matcher.load(session)
    elapsed = time.perf_counter() - started
    assert not matcher.resigned, "the stored signatures should be current"
    print(f"loaded {loaded} signatures from SQLite into a ready index in {elapsed:.2f} s")
    engine.dispose()


if __name__ == "__main__":
    main()
