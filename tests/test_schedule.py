"""The polling policy, as a pure function of observations and ``now``."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.pipeline.schedule import (
    Observation,
    Policy,
    adapted_interval,
    first_check,
    next_check,
    posting_interval,
)

NOW = datetime(2024, 8, 12, 7, 0, tzinfo=UTC)
POLICY = Policy(interval=timedelta(minutes=30), floor=timedelta(minutes=5), ceiling=timedelta(days=1))


def every(minutes: float, n: int = 10) -> list[datetime]:
    return [NOW - timedelta(minutes=minutes * i) for i in range(n)]


def test_posting_interval_is_the_median_gap() -> None:
    assert posting_interval(every(20)) == timedelta(minutes=20)
    assert posting_interval(every(20, 2)) is None  # too few entries to say


@pytest.mark.parametrize(
    ("gap", "expected"),
    [
        (4, timedelta(minutes=15)),  # busy feed: half its gap, but never under half the interval
        (40, timedelta(minutes=20)),  # half the posting gap
        (60 * 24 * 7, timedelta(hours=2)),  # weekly blog: at most 4x the interval
    ],
)
def test_interval_adapts_to_posting_rate_within_bounds(gap: float, expected: timedelta) -> None:
    assert adapted_interval(POLICY, posting_interval(every(gap))) == expected


def test_short_explicit_interval_is_kept() -> None:
    fast = Policy(interval=timedelta(seconds=1), floor=timedelta(seconds=1), ceiling=timedelta(days=1))
    rng = random.Random(1)
    for _ in range(50):
        when = next_check(NOW, fast, Observation(ok=True), rng)
        assert when is not None and timedelta(seconds=0.9) <= when - NOW <= timedelta(seconds=1.1)


def test_never_faster_than_half_the_interval_even_with_jitter() -> None:
    rng = random.Random(7)
    for _ in range(200):
        when = next_check(NOW, POLICY, Observation(ok=True, posting=posting_interval(every(1))), rng)
        assert when is not None and when - NOW >= timedelta(minutes=15)


def test_errors_back_off_exponentially_up_to_the_ceiling() -> None:
    rng = random.Random(3)
    waits = [
        next_check(NOW, POLICY, Observation(ok=False, error_count=n), rng) - NOW  # type: ignore[operator]
        for n in range(1, 10)
    ]
    assert waits[0] < waits[1] < waits[2]
    assert all(w <= POLICY.ceiling * 1.1 for w in waits)
    assert waits[-1] >= POLICY.ceiling * 0.9


def test_retry_after_is_never_undercut_and_gone_stops() -> None:
    later = NOW + timedelta(hours=5)
    seen = Observation(ok=False, error_count=1, retry_after=later)
    assert next_check(NOW, POLICY, seen, random.Random(1)) == later
    assert next_check(NOW, POLICY, Observation(ok=False, gone=True), random.Random(1)) is None


def test_server_hints_push_later_not_earlier() -> None:
    rng = random.Random(5)
    long_cache = Observation(ok=True, cache_lifetime=timedelta(hours=3))
    assert next_check(NOW, POLICY, long_cache, rng) - NOW >= timedelta(hours=2, minutes=40)  # type: ignore[operator]
    short_ttl = Observation(ok=True, ttl=timedelta(minutes=1))
    assert next_check(NOW, POLICY, short_ttl, rng) - NOW >= timedelta(minutes=27)  # type: ignore[operator]


def test_first_checks_are_spread() -> None:
    rng = random.Random(9)
    firsts = {first_check(NOW, POLICY, rng) for _ in range(20)}
    assert len(firsts) == 20 and all(NOW <= t <= NOW + timedelta(seconds=30) for t in firsts)
