"""Consistency checks of a database: what ``aggregator db check`` and the crash tests verify."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from aggregator.store.db import Tx
from aggregator.store.schema import entries, stories, story_members


def problems(tx: Tx) -> list[str]:
    """Human-readable problems; an empty list means the database is consistent."""
    found: list[str] = []
    if tx.dialect.name == "sqlite":
        result = [r[0] for r in tx.execute(text("PRAGMA integrity_check"))]
        if result != ["ok"]:
            found.append("SQLite integrity_check: " + "; ".join(result[:5]))
        fk = list(tx.execute(text("PRAGMA foreign_key_check")))
        if fk:
            found.append(f"{len(fk)} rows break a foreign key")
    checks: list[tuple[Any, Any, str]] = [
        (entries, ~entries.c.id.in_(select(story_members.c.entry_id)), "entries belong to no story"),
        (
            story_members,
            ~story_members.c.story_id.in_(select(stories.c.id)),
            "memberships point at missing stories",
        ),
        (stories, ~stories.c.id.in_(select(story_members.c.story_id)), "stories have no members"),
        (
            stories,
            ~select(story_members.c.entry_id)
            .where(
                story_members.c.story_id == stories.c.id,
                story_members.c.entry_id == stories.c.representative_id,
            )
            .exists(),
            "stories are represented by an entry that is not their member",
        ),
        (
            stories,
            stories.c.member_count
            != select(func.count())
            .where(story_members.c.story_id == stories.c.id)
            .correlate(stories)
            .scalar_subquery(),
            "stories have a wrong member count",
        ),
    ]
    for table, condition, problem in checks:
        n = tx.execute(select(func.count()).select_from(table).where(condition)).scalar()
        if n:
            found.append(f"{n} {problem}")
    twice = tx.execute(
        select(func.count()).select_from(
            select(entries.c.feed_id, entries.c.guid_hash)
            .group_by(entries.c.feed_id, entries.c.guid_hash)
            .having(func.count() > 1)
            .subquery()
        )
    ).scalar()
    if twice:
        found.append(f"{twice} entries are stored twice in one feed")
    return found
