"""Frozen values handed from one pipeline stage to the next.

No feedparser dict, aiohttp response or ORM row crosses a stage boundary: each stage takes and
returns these. They carry no behaviour beyond small derived properties.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


# --------------------------------------------------------------------------- fetch
@dataclass(frozen=True, slots=True)
class FetchRequest:
    """What the fetcher needs to ask politely: the URL and the validators from the last success."""

    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A successful HTTP exchange (200 with a body, or 304 Not Modified).

    Failures are raised as ``FetchError`` subclasses instead, so a result is always usable.
    """

    url: str  # the URL we asked for
    final_url: str  # after redirects; the base for relative links
    status: int  # 200 or 304
    headers: Mapping[str, str]  # lower-case names, last value wins
    body: bytes | None  # None on 304
    etag: str | None = None
    last_modified: str | None = None
    # Set when every hop from ``url`` to ``final_url`` was permanent (301/308): the feed has moved.
    permanent_url: str | None = None
    elapsed: float = 0.0  # seconds

    @property
    def not_modified(self) -> bool:
        return self.status == 304


# --------------------------------------------------------------------------- parse
@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One entry as the feed states it: nothing cleaned, nothing inferred beyond the format's rules."""

    guid: str | None
    link: str | None
    title: str  # as the feed gives it: plain text, or markup when ``title_is_html``
    content_html: str  # full content when the feed has it, else ""
    summary_html: str  # description/summary, else ""
    published: datetime | None  # timezone-aware UTC when the feed gave a readable date
    updated: datetime | None
    author: str | None = None
    language: str | None = None
    title_is_html: bool = False
    # The base URI the document sets (xml:base) for the content's relative links; None when it
    # sets none, and they resolve against the entry's own address.
    base: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A feed document reduced to what the pipeline needs."""

    format: str  # "rss20", "atom10", "rss10", "json11", ... (feedparser's version names, ours for JSON Feed)
    title: str
    link: str | None  # the site's home page
    language: str | None
    entries: tuple[ParsedEntry, ...]
    ttl_minutes: int | None = None  # RSS <ttl>, sy:updatePeriod/updateFrequency folded into minutes
    warnings: tuple[str, ...] = ()  # salvaged problems (feedparser "bozo"), kept as data
    title_is_html: bool = False


@dataclass(frozen=True, slots=True)
class FeedDiscovery:
    """The body was an HTML page that advertises a feed at ``feed_url`` (``<link rel=alternate>``)."""

    page_url: str
    feed_url: str


# --------------------------------------------------------------------------- normalise
@dataclass(frozen=True, slots=True)
class Entry:
    """A normalised entry, ready to store: identity keys computed, HTML sanitised, dates in UTC."""

    guid_key: str  # per-feed identity: the GUID, else the canonical link, else a content hash
    url: str  # the link as published (absolute), or "" when the entry has none
    canonical_url: str  # tracking parameters, www., AMP, fragment removed; "" when no link
    title: str
    content_html: str  # sanitised
    summary_html: str  # sanitised
    text: str  # plain text of the fullest body, block elements on their own lines
    published: datetime  # timezone-aware UTC; falls back to first-seen time
    published_is_fallback: bool  # True when the feed gave no usable date
    updated: datetime | None
    author: str | None
    language: str | None
    content_hash: str  # hash of title + content + summary as stored: detects edits
    text_hash: str  # hash of normalised text: identical-text identity key ("" when text too short)
    raw_hash: str = ""  # hash of the entry as parsed: an unchanged entry is skipped next time
    credits: tuple[str, ...] = ()  # sources the text names as its origin ("Sumber: x"), lower-case


@dataclass(frozen=True, slots=True)
class Digest:
    """A fetched document made ready to store: what a parser process hands back.

    ``entries`` are the new and changed ones only: an entry whose ``raw_hash`` the store already
    had is left out before normalising (``unchanged`` counts them)."""

    feed: ParsedFeed  # the document's own fields; its ``entries`` are dropped (see above)
    title: str  # the feed's title as plain text
    entries: tuple[Entry, ...]
    unchanged: int = 0
    # guid_key -> the entry's dedup prework (``aggregator.dedup.prework.Prework``), made in the
    # parser process when asked for; the placing side checks it before using it
    prework: Mapping[str, Any] = field(default_factory=dict)

    @property
    def seen(self) -> int:
        return len(self.entries) + self.unchanged


class MatchKind(StrEnum):
    """How an entry joined its story (stored with the membership, shown by ``explain``)."""

    FIRST = "first"  # it started the story
    GUID = "guid"  # the same URI GUID as a member
    URL = "url"  # the same canonical URL
    TEXT = "text"  # the same normalised text
    COPY = "similar:copy"  # most word sequences shared: a verbatim or lightly edited copy
    REWORDED = "similar:reworded"  # most words shared, few sequences: a rewrite, a spun copy
    EXCERPT = "similar:excerpt"  # a short text found in the opening of a member
    HEADLINE = "similar:headline"  # a headline-only entry carrying a member's headline

    @property
    def identity(self) -> bool:
        return self in (MatchKind.GUID, MatchKind.URL, MatchKind.TEXT)

    @classmethod
    def of(cls, value: str) -> MatchKind | None:
        """The kind stored as ``value`` (None for a value this version does not know)."""
        try:
            return cls(value)
        except ValueError:
            return None


# --------------------------------------------------------------------------- runs
class RunStatus(StrEnum):
    NEW = "new"  # new entries stored
    UPDATED = "updated"  # only edits of known entries
    UNCHANGED = "unchanged"  # fetched, nothing new
    NOT_MODIFIED = "not_modified"  # 304, or same body hash as last time
    ERROR = "error"
    GONE = "gone"  # 410: polling stopped
    DEFERRED = "deferred"  # not asked: the server's Retry-After has not passed yet
    BUSY = "busy"  # not asked: another process is fetching it right now (it holds the lease)


@dataclass(frozen=True, slots=True)
class FeedRunResult:
    """What one feed run did; the poll summary and the feeds table are built from these."""

    feed_url: str
    status: RunStatus
    new: int = 0
    updated: int = 0
    seen: int = 0  # entries in the document
    http_status: int | None = None
    error: str | None = None
    duration: float = 0.0
    notes: tuple[str, ...] = ()
    # What the server said about when to come back (the scheduler uses these).
    retry_after: datetime | None = None
    cache_seconds: float | None = None  # Cache-Control max-age / Expires
    ttl_minutes: int | None = None  # RSS <ttl>, sy:updatePeriod
    bytes: int = 0
    new_stories: int = 0  # new entries that started a story (the rest joined one)


# --------------------------------------------------------------------------- publish
@dataclass(frozen=True, slots=True)
class MemberView:
    """One copy of a story, as the combined feeds list it."""

    entry_id: int
    url: str
    feed_url: str
    feed_title: str
    title: str
    published: datetime
    match: str  # "first", "guid", "url", "text", "similar" ...: how it joined the story
    similarity: float | None  # 1.0 for identity matches, the verified score for near-duplicates
    is_representative: bool = False


@dataclass(frozen=True, slots=True)
class Relation:
    """How one copy of a story relates to the story's original, for the story page.

    ``kind``: original, same-link, identical, verbatim, edited, reworded, excerpt, headline,
    or via-copy (it joined through another copy and is too far from the original itself to
    say more); ``share``: the figure the words quote (wording or words shared), when any.
    """

    kind: str
    share: float | None = None
    signals: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class StoryView:
    """One item of a combined feed: the representative entry plus its members."""

    story_id: int
    key: str  # stable, unique id of the story (Atom id, RSS guid, JSON Feed id): never reused
    title: str
    url: str  # representative's URL as it appeared in its feed
    content_html: str  # sanitised
    summary_html: str  # sanitised
    published: datetime  # representative's published time
    updated: datetime  # last time the story changed (a member joined, the representative edited)
    author: str | None
    feed_title: str  # representative's feed
    feed_url: str
    members: tuple[MemberView, ...]  # representative first, then by published time
    sources: tuple[str, ...] = field(default=())  # distinct feed titles, representative's first
    language: str | None = None  # representative's language, when the feed or entry states it
    text: str = ""  # the opening of the representative's text, plain (a snippet for pages)


@dataclass(frozen=True, slots=True)
class OutputMeta:
    """Feed-level metadata of one combined output."""

    name: str
    title: str
    description: str
    home_url: str | None  # where the web UI serves it, when known
    self_url: str | None  # the URL of this feed document, when known
    updated: datetime  # newest story's updated time: keeps the document (and its ETag) stable
