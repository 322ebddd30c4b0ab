"""Frozen values the store hands out; no ORM row leaves ``store/``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed row as the pipeline and the CLI need it."""

    id: int
    config_url: str
    url: str
    name: str
    title: str
    site_url: str | None
    priority: int
    enabled: bool
    in_config: bool
    gone: bool
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    interval_seconds: int | None
    next_check_at: datetime | None
    retry_after: datetime | None
    last_checked_at: datetime | None
    last_success_at: datetime | None
    last_status: str | None
    http_status: int | None
    error_count: int
    last_error: str | None
    moved_from: str | None
    notes: str | None
    ttl_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class FeedSummary:
    """A feed with its counts, for ``aggregator feeds``."""

    state: FeedState
    entries: int
    last_entry_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry after ingest; ``is_new``/``is_edited`` say what this run did to it."""

    id: int
    feed_id: int
    guid_key: str
    url: str
    canonical_url: str
    title: str
    content_html: str
    summary_html: str
    text: str
    published: datetime
    published_is_fallback: bool
    first_seen: datetime
    text_hash: str
    language: str | None
    is_new: bool = False
    is_edited: bool = False


@dataclass(frozen=True, slots=True)
class Membership:
    """How an entry belongs to its story."""

    entry_id: int
    story_id: int
    match: str
    similarity: float | None
    matched_entry_id: int | None
    detail: str | None
