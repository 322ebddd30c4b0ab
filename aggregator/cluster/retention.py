"""Retention: entries first stored longer ago than ``retention.entries`` are removed.

A story goes when its last member does; a story that lost members (its representative among
them, perhaps) is recounted and elects its representative anew.
"""

from __future__ import annotations

from datetime import datetime

from aggregator.cluster.elect import reelect
from aggregator.cluster.state import ClusterState
from aggregator.store import Database
from aggregator.store import stories as story_repo
from aggregator.store.db import bump


def expire(database: Database, cluster: ClusterState | None, before: datetime, now: datetime) -> int:
    """Delete entries first stored before ``before``; returns how many."""
    with database.transaction("removing old entries") as tx:
        database.lock_clustering(tx)
        removed, touched = story_repo.expire_entries(tx, before)
        if touched:
            story_repo.touch(tx, touched, now)
            reelect(tx, touched, now)
        if removed:
            bump(tx)
    if removed and cluster is not None and cluster.engine is not None:
        cluster.engine.remove(removed)
    return len(removed)
