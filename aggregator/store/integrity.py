"""Consistency checks of a database: what ``aggregator db check`` and the crash tests verify."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from aggregator.store.schema import EntryRow, StoryMemberRow, StoryRow


def problems(session: Session) -> list[str]:
    """Human-readable problems; an empty list means the database is consistent."""
    found: list[str] = []
    if session.get_bind().dialect.name == "sqlite":
        result = [r[0] for r in session.execute(text("PRAGMA integrity_check"))]
        if result != ["ok"]:
            found.append("SQLite integrity_check: " + "; ".join(result[:5]))
        fk = list(session.execute(text("PRAGMA foreign_key_check")))
        if fk:
            found.append(f"{len(fk)} rows break a foreign key")
    checks: list[tuple[Any, Any, str]] = [
        (EntryRow, ~EntryRow.id.in_(select(StoryMemberRow.entry_id)), "entries belong to no story"),
        (
            StoryMemberRow,
            ~StoryMemberRow.story_id.in_(select(StoryRow.id)),
            "memberships point at missing stories",
        ),
        (StoryRow, ~StoryRow.id.in_(select(StoryMemberRow.story_id)), "stories have no members"),
        (
            StoryRow,
            ~select(StoryMemberRow.entry_id)
            .where(
                StoryMemberRow.story_id == StoryRow.id, StoryMemberRow.entry_id == StoryRow.representative_id
            )
            .exists(),
            "stories are represented by an entry that is not their member",
        ),
    ]
    for table, condition, problem in checks:
        n = session.scalar(select(func.count()).select_from(table).where(condition))
        if n:
            found.append(f"{n} {problem}")
    twice = session.scalar(
        select(func.count()).select_from(
            select(EntryRow.feed_id, EntryRow.guid_hash)
            .group_by(EntryRow.feed_id, EntryRow.guid_hash)
            .having(func.count() > 1)
            .subquery()
        )
    )
    if twice:
        found.append(f"{twice} entries are stored twice in one feed")
    return found
