"""SQLAlchemy table definitions: feeds, entries, stories, story membership, signatures.

The schema is also described, step by step, by the Alembic migrations in ``alembic/versions``;
tests check that ``alembic upgrade head`` gives exactly these tables. Times are stored as UTC
(SQLite drops offsets, so every datetime column is written and read as UTC-aware via ``UTCDateTime``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class FeedRow(Base):
    """One subscribed feed: its identity, fetch validators, schedule and error state."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The URL as written in feeds.yaml: how the config refers to this feed, even after a move.
    config_url: Mapped[str] = mapped_column(String(2048), unique=True)
    # The URL fetched now: config_url, or where a stable permanent redirect moved it.
    url: Mapped[str] = mapped_column(String(2048))
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(1000), default="")  # configured title, else the feed's
    site_url: Mapped[str | None] = mapped_column(String(2048))
    language: Mapped[str | None] = mapped_column(String(35))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    in_config: Mapped[bool] = mapped_column(Boolean, default=True)
    # HTTP validators and the hash of the last body parsed (servers that ignore conditional GET).
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(200))
    body_hash: Mapped[str | None] = mapped_column(String(64))
    # Schedule and lease (the daemon claims due feeds with an UPDATE ... RETURNING).
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    retry_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    ttl_seconds: Mapped[int | None] = mapped_column(Integer)
    # Outcome of the last runs.
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_new_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[str | None] = mapped_column(String(32))
    http_status: Mapped[int | None] = mapped_column(Integer)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
    moved_from: Mapped[str | None] = mapped_column(String(2048))
    notes: Mapped[str | None] = mapped_column(Text)
    boilerplate_docs: Mapped[int] = mapped_column(Integer, default=0)  # entries counted for it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EntryRow(Base):
    """One entry of one feed, as last seen (edits update it in place)."""

    __tablename__ = "entries"
    __table_args__ = (
        UniqueConstraint("feed_id", "guid_hash", name="uq_entries_feed_id_guid_hash"),
        Index("ix_entries_published_at", "published_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    guid_key: Mapped[str] = mapped_column(Text)
    guid_hash: Mapped[str] = mapped_column(String(64), index=True)  # sha256 of guid_key
    url: Mapped[str] = mapped_column(Text, default="")
    canonical_url: Mapped[str] = mapped_column(String(2048), default="", index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    content_html: Mapped[str] = mapped_column(Text, default="")
    summary_html: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(String(1000))
    language: Mapped[str | None] = mapped_column(String(35))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_is_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the publisher's "updated"
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when we stored the last edit
    content_hash: Mapped[str] = mapped_column(String(64))
    text_hash: Mapped[str] = mapped_column(String(64), default="", index=True)


class StoryRow(Base):
    """One story: a group of entries carrying the same news, with an elected representative."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    # No foreign key: stories and entries would reference each other. The pipeline keeps it valid.
    representative_id: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # representative's
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    member_count: Mapped[int] = mapped_column(Integer, default=0)


class StoryMemberRow(Base):
    """Membership: every entry is in exactly one story (entry_id is the primary key)."""

    __tablename__ = "story_members"

    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    match: Mapped[str] = mapped_column(String(32))  # first, guid, url, text, similar, excerpt ...
    similarity: Mapped[float | None] = mapped_column(Float)
    matched_entry_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)  # JSON score breakdown
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignatureRow(Base):
    """A stored near-duplicate signature with the parameters needed to trust it after a restart."""

    __tablename__ = "signatures"

    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True)
    algo_version: Mapped[int] = mapped_column(Integer)
    num_perm: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # effective time for the window


class BoilerplateRow(Base):
    """Learned per-feed boilerplate: how many of a feed's entries contained a given line."""

    __tablename__ = "boilerplate"

    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True)
    line_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
