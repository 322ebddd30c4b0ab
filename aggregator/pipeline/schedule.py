"""When to check a feed next: the polling policy, as a pure function of what we observed.

Inputs are values (``now`` included) and the result is a time, so the policy is tested without
clocks or servers. The rules, in order:

1. ``410 Gone`` ends polling (no next time).
2. Errors back off exponentially from the feed's interval (×2 per consecutive error, capped at
   the ceiling, at least 1 minute); a ``Retry-After`` from a 429/503 is never undercut.
3. Otherwise the interval adapts to the feed's posting rate: half the median gap between its
   recent entries, kept within [max(floor, interval/2), min(ceiling, interval×4)] — a feed that
   posts every few minutes is checked often, a weekly blog rarely, and neither strays far from
   what the user configured.
4. The server's own hints (``Cache-Control: max-age``, ``Expires``, RSS ``<ttl>``,
   ``sy:updatePeriod``) push the next check later, never earlier, up to the ceiling.
5. ±10 % jitter (from the caller's random source) so feeds of one host do not fire together.
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MIN_ERROR_BACKOFF = timedelta(minutes=1)
JITTER = 0.10
ADAPT_DOWN, ADAPT_UP = 0.5, 4.0  # adaptation stays within these factors of the set interval


@dataclass(frozen=True, slots=True)
class Policy:
    interval: timedelta  # the feed's configured interval (or the default)
    floor: timedelta  # never closer than this
    ceiling: timedelta  # never further than this (except Retry-After)

    @classmethod
    def of(
        cls, default: timedelta, floor: timedelta, ceiling: timedelta, own: timedelta | None = None
    ) -> Policy:
        """A feed's policy from the configured values: its own interval (else the default),
        and the global floor and ceiling; an interval set for a feed is its own floor when
        shorter than the global one (a feed the user wants every minute gets every minute)."""
        interval = own or default
        return cls(interval=interval, floor=min(floor, interval), ceiling=max(ceiling, interval))


@dataclass(frozen=True, slots=True)
class Observation:
    ok: bool
    gone: bool = False
    error_count: int = 0  # consecutive errors, this one included
    retry_after: datetime | None = None
    cache_lifetime: timedelta | None = None  # Cache-Control / Expires
    ttl: timedelta | None = None  # RSS <ttl> / sy:updatePeriod
    posting: timedelta | None = None  # median gap between the feed's recent entries


def posting_interval(times: Sequence[datetime]) -> timedelta | None:
    """Median gap between consecutive entries (None with fewer than three entries)."""
    ordered = sorted(times)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ordered) if b > a]
    if len(gaps) < 2:
        return None
    return timedelta(seconds=statistics.median(gaps))


def adapted_interval(policy: Policy, rate: timedelta | None) -> timedelta:
    """The interval for a feed posting every ``rate`` (None: unknown)."""
    low = max(policy.floor, policy.interval * ADAPT_DOWN)
    high = min(policy.ceiling, policy.interval * ADAPT_UP)
    high = max(high, low)
    if rate is None:
        return min(max(policy.interval, low), high)
    return min(max(rate / 2, low), high)


def next_check(now: datetime, policy: Policy, seen: Observation, rng: random.Random) -> datetime | None:
    """The time of the next request to this feed, or None to stop polling it."""
    if seen.gone:
        return None
    if not seen.ok:
        backoff = max(policy.interval, MIN_ERROR_BACKOFF) * (2 ** max(0, seen.error_count - 1))
        wait = min(backoff, max(policy.ceiling, policy.interval))
        when = now + _jitter(wait, rng)
        return max(when, seen.retry_after) if seen.retry_after else when
    wait = adapted_interval(policy, seen.posting)
    for hint in (seen.cache_lifetime, seen.ttl):
        if hint is not None and hint > wait:
            wait = min(hint, max(policy.ceiling, policy.interval))
    # Jitter never takes a feed below its floor or under half its interval.
    return now + max(_jitter(wait, rng), policy.floor, policy.interval * ADAPT_DOWN)


def _jitter(wait: timedelta, rng: random.Random) -> timedelta:
    return wait * (1 + rng.uniform(-JITTER, JITTER))


FIRST_SPREAD = timedelta(seconds=60)


def first_check(now: datetime, policy: Policy, rng: random.Random) -> datetime:
    """A new feed's first check: soon, but spread so many new feeds do not fire at once."""
    return now + min(policy.interval, FIRST_SPREAD) * rng.uniform(0, 0.5)
