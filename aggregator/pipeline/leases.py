"""Lease owners: who holds a feed, and whether that process still lives.

A lease names its owner ``host:pid:random``. A lease expires after ``LEASE`` whoever held it, so
a worker that died on another machine frees its feeds within minutes. One that died on this
machine (a killed cron poll, a crashed service) is known dead at once — its pid is gone — and
its leases are freed when the next process starts, rather than holding feeds idle until they
expire. (A reused pid only delays that to the expiry: the safe side.)
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from aggregator.store import Database
from aggregator.store import feeds as feed_repo

LEASE = timedelta(minutes=5)  # a run longer than this is presumed dead; its feed is reclaimed


def owner_name() -> str:
    """This process's name on the leases it holds: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """Whether ``owner`` was a process of this machine that no longer exists."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def release_dead_owners(database: Database, now: datetime) -> int:
    """Free the leases of this machine's dead processes; returns how many feeds were freed."""
    with database.transaction("freeing the leases of dead processes") as tx:
        dead = [o for o in feed_repo.lease_owners(tx, now) if owner_is_dead(o)]
        return sum(feed_repo.release_owner(tx, o) for o in dead)
