"""Start-up cost of the dedup index: load N stored signatures from SQLite into a ready engine.

    python bench/startup_bench.py [N]      (default 100000)

Builds a throw-away SQLite database with N entries, stories, memberships and signatures, then
times ``ClusterState.warm`` (what a process does before its first run that has new entries).
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

from aggregator.cluster.state import ClusterState
from aggregator.dedup import ALGO_VERSION, DedupSettings, Signature
from aggregator.store import Database

NOW = "2024-08-12 00:00:00"
FEED = (
    "INSERT INTO feeds (id, config_url, url, name, title, priority, enabled, in_config, error_count,"
    " gone, boilerplate_docs, boilerplate_seq, created_at)"
    " VALUES (1, 'u', 'u', 'n', 't', 0, 1, 1, 0, 0, 0, 0, ?)"
)
ENTRY = (
    "INSERT INTO entries (id, feed_id, guid_key, guid_hash, url, canonical_url, title, content_html,"
    " summary_html, text, published_at, published_is_fallback, first_seen_at, last_seen_at,"
    " changed_at, content_hash, text_hash, credits)"
    " VALUES (?, 1, ?, ?, '', '', '', '', '', '', ?, 0, ?, ?, ?, '', '', '')"
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
    database = Database(f"sqlite:///{path}")
    database.ensure_schema()
    database.close()
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
    database = Database(f"sqlite:///{path}")
    state = ClusterState(DedupSettings())
    started = time.perf_counter()
    state.warm(database)
    elapsed = time.perf_counter() - started
    assert state.engine is not None
    print(f"loaded {len(state.engine)} signatures from SQLite into a ready index in {elapsed:.2f} s")
    database.close()


if __name__ == "__main__":
    main()
