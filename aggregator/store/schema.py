"""The tables: feeds, entries, stories, story membership, signatures, boilerplate, meta.

SQLAlchemy Core tables, not ORM classes: every statement of the pipeline is set-based (a feed
run's rows go in as a few multi-row statements), and the ORM's identity map and unit of work
would only sit in between. The schema is also built, step by step, by the Alembic migrations in
``alembic/versions``; a test checks that ``upgrade head`` gives exactly these tables, and that
``SCHEMA_REVISION`` names the newest migration. Times are stored as UTC (SQLite keeps no
offset, so every datetime column is written and read as UTC-aware via ``UTCDateTime``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect

# The newest migration: a database at this revision needs no Alembic at start-up (importing
# Alembic costs half a second, which a cron job or a 304 round should not pay).
SCHEMA_REVISION = "0002"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"a datetime column returned {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

# One subscribed feed: its identity, fetch validators, schedule, lease and error state.
feeds = Table(
    "feeds",
    metadata,
    Column("id", Integer, primary_key=True),
    # The URL as written in feeds.yaml: how the config refers to this feed, even after a move.
    Column("config_url", String(2048), nullable=False, unique=True),
    # The URL fetched now: config_url, or where a stable permanent redirect moved it.
    Column("url", String(2048), nullable=False),
    Column("name", String(200), nullable=False),
    Column("title", String(1000), nullable=False, default=""),  # configured title, else the feed's
    Column("site_url", String(2048)),
    Column("language", String(35)),
    Column("priority", Integer, nullable=False, default=0),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("in_config", Boolean, nullable=False, default=True),
    # HTTP validators and the hash of the last body parsed (servers that ignore conditional GET).
    Column("etag", String(1024)),
    Column("last_modified", String(200)),
    Column("body_hash", String(64)),
    # Schedule and lease (workers claim due feeds with an UPDATE ... RETURNING).
    Column("interval_seconds", Integer),
    Column("next_check_at", UTCDateTime, index=True),
    Column("retry_after", UTCDateTime),
    Column("lease_until", UTCDateTime),
    Column("lease_owner", String(200)),
    Column("ttl_seconds", Integer),
    # Median gap between the feed's recent entries, kept so a 304 can be scheduled without a query.
    Column("posting_seconds", Integer),
    # Outcome of the last runs.
    Column("last_checked_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_new_at", UTCDateTime),
    Column("last_status", String(32)),
    Column("http_status", Integer),
    Column("error_count", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("gone", Boolean, nullable=False, default=False),
    Column("moved_from", String(2048)),
    Column("notes", Text),
    Column("boilerplate_docs", Integer, nullable=False, default=0),  # entries counted for it
    # The change number (meta "changes") of the last boilerplate update: other workers reload
    # the counts of feeds stamped after the change they last saw.
    Column("boilerplate_seq", BigInteger, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
)

# One entry of one feed, as last seen (edits update it in place).
entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("guid_key", Text, nullable=False),
    Column("guid_hash", String(64), nullable=False, index=True),  # sha256 of guid_key
    Column("url", Text, nullable=False, default=""),
    Column("canonical_url", String(2048), nullable=False, default="", index=True),
    Column("title", Text, nullable=False, default=""),
    Column("content_html", Text, nullable=False, default=""),
    Column("summary_html", Text, nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("author", String(1000)),
    Column("language", String(35)),
    Column("published_at", UTCDateTime, nullable=False),
    Column("published_is_fallback", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime),  # the publisher's "updated"
    Column("first_seen_at", UTCDateTime, nullable=False, index=True),
    Column("last_seen_at", UTCDateTime, nullable=False),  # when it was last stored or edited
    Column("changed_at", UTCDateTime, nullable=False),  # when we stored the last edit
    Column("content_hash", String(64), nullable=False),
    Column("text_hash", String(64), nullable=False, default="", index=True),
    # Hash of the entry as parsed, before normalising: an unchanged entry is recognised (and
    # skipped) without sanitising its HTML again.
    Column("raw_hash", String(32)),
    # Sources the entry names as its origin ("Sumber: x", "originally appeared on y"), one a line.
    Column("credits", Text),
    UniqueConstraint("feed_id", "guid_hash", name="uq_entries_feed_id_guid_hash"),
    Index("ix_entries_published_at", "published_at"),
)

# One story: a group of entries carrying the same news, with an elected representative.
stories = Table(
    "stories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),
    # No foreign key: stories and entries would reference each other. The pipeline keeps it valid.
    Column("representative_id", Integer),
    Column("published_at", UTCDateTime, nullable=False, index=True),  # representative's
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False, index=True),
    Column("member_count", Integer, nullable=False, default=0),
)

# Membership: every entry is in exactly one story (entry_id is the primary key).
story_members = Table(
    "story_members",
    metadata,
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("match", String(32), nullable=False),  # a MatchKind value: first, guid, url, text, similar:...
    Column("similarity", Float),
    Column("matched_entry_id", Integer),
    Column("detail", Text),  # JSON score breakdown
    Column("joined_at", UTCDateTime, nullable=False),
)

# A stored near-duplicate signature with the parameters needed to trust it after a restart.
signatures = Table(
    "signatures",
    metadata,
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    Column("algo_version", Integer, nullable=False),
    Column("num_perm", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("time", UTCDateTime, nullable=False, index=True),  # effective time for the window
)

# Learned per-feed boilerplate: how many of a feed's entries contained a given line.
boilerplate = Table(
    "boilerplate",
    metadata,
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True),
    Column("line_hash", BigInteger, primary_key=True),
    Column("count", Integer, nullable=False, default=0),
    Column("last_seen_at", UTCDateTime, nullable=False),
)

# Counters shared by every process on the database: "changes" (bumped by every write that
# changes what is published or learned; the web cache and the workers' catch-up read it) and
# "cluster_epoch" (bumped when `dedup rebuild` re-forms every story: in-memory indexes reload).
meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False, default=0),
)
