"""Frozen values the store hands out; no row object leaves ``store/``."""

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
    posting_seconds: int | None = None
    language: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class FeedSummary:
    """A feed with its counts, for ``aggregator feeds`` and the feeds page."""

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
    text: str
    published: datetime
    text_hash: str
    is_new: bool = False
    is_edited: bool = False


@dataclass(frozen=True, slots=True)
class EntryText:
    """What verifying against a stored entry needs: its text, time and current story."""

    entry_id: int
    feed_id: int
    title: str
    text: str
    published: datetime
    story_id: int | None
    url: str = ""


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """A story member as the representative election sees it."""

    entry_id: int
    story_id: int
    url: str
    published: datetime
    text_length: int
    credits: tuple[str, ...]
    feed_url: str
    feed_site_url: str | None
    feed_title: str
    priority: int
    title: str = ""
    text_head: str = ""  # the text's first characters (enough to tell a headline-only entry)


@dataclass(frozen=True, slots=True)
class Membership:
    """How an entry belongs to its story."""

    entry_id: int
    story_id: int
    match: str
    similarity: float | None
    matched_entry_id: int | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class NewStory:
    """A story to create, with its founding entry as representative."""

    key: str
    entry_id: int
    published: datetime


@dataclass(frozen=True, slots=True)
class NewMember:
    """A membership to record."""

    entry_id: int
    story_id: int
    match: str
    similarity: float | None
    matched_entry_id: int | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class SignatureRecord:
    """A signature as stored: bytes with their parameters, and the entry's effective time."""

    entry_id: int
    algo_version: int
    num_perm: int
    seed: int
    data: bytes
    time: datetime


@dataclass(frozen=True, slots=True)
class TitledRecord:
    """A placed entry's headline and where it stands (does a title recur in the window?)."""

    entry_id: int
    story_id: int
    time: datetime
    feed_id: int
    title: str


@dataclass(frozen=True, slots=True)
class IndexedRecord:
    """A stored signature with the story its entry is in (to rebuild an index)."""

    entry_id: int
    story_id: int
    time: datetime
    algo_version: int
    data: bytes
    feed_id: int
    title: str


@dataclass(frozen=True, slots=True)
class RunRecord:
    """The run columns of a feed row after one run, settled by the caller, who holds the feed's
    lease (so nobody else changes them meanwhile) and knows the row as it was claimed."""

    feed_id: int
    owner: str  # the lease this run holds; released with the write
    checked_at: datetime
    success_at: datetime | None
    status: str
    http_status: int | None
    error_count: int
    last_error: str | None
    retry_after: datetime | None
    next_check_at: datetime | None
    gone: bool
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    url: str
    moved_from: str | None
    notes: str | None
    ttl_seconds: int | None
    posting_seconds: int | None
    site_url: str | None
    new_at: datetime | None  # when the run found new entries (None: keep the last time)
    feed_title: str | None = None  # the feed's own title: kept only where none is configured
    language: str | None = None  # the feed's own language: kept only where none is configured
