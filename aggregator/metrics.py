"""Prometheus metrics of one process (a registry of its own, not the global one)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.polls = Counter("aggregator_polls_total", "Feed runs by outcome", ["status"], registry=r)
        self.fetch_seconds = Histogram(
            "aggregator_fetch_seconds",
            "Time to fetch and parse one feed",
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.bytes = Counter("aggregator_fetched_bytes_total", "Feed body bytes received", registry=r)
        self.entries = Counter("aggregator_entries_created_total", "New entries stored", registry=r)
        self.stories = Counter("aggregator_stories_created_total", "New stories started", registry=r)
        self.merged = Counter(
            "aggregator_duplicates_merged_total", "New entries that joined an existing story", registry=r
        )
        self.backoff = Gauge("aggregator_feeds_in_backoff", "Feeds whose last run failed", registry=r)
        self.last_round = Gauge(
            "aggregator_last_success_timestamp_seconds", "When a feed run last succeeded", registry=r
        )
