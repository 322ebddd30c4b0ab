"""Connects the in-memory dedup engine to the store: load state, place entries, persist.

The engine is built once per process from stored signatures and boilerplate counts (never
from pickles, never by re-reading every text); each feed run then reads candidate texts on
demand through the run's own session, so uncommitted entries of the same run are visible.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from aggregator.clustering import Placement
from aggregator.dedup import (
    ALGO_VERSION,
    DedupDoc,
    DedupSettings,
    Engine,
    MemberInfo,
    Prepared,
    Signature,
    elect_representative,
)
from aggregator.normalise.urls import is_variant_url, site_host
from aggregator.store import dedup as dedup_repo
from aggregator.store import stories as story_repo
from aggregator.store.values import FeedState, StoredEntry

if TYPE_CHECKING:
    from aggregator.app import Database
    from aggregator.config import Settings

log = logging.getLogger(__name__)


def _doc(entry_id: int, feed_id: int, title: str, text: str, time: datetime) -> DedupDoc:
    return DedupDoc(entry_id=entry_id, feed_id=feed_id, title=title, text=text, time=time)


def _save(session: Session, entry_id: int, sig: Signature, time: datetime) -> None:
    dedup_repo.save_signature(
        session,
        entry_id,
        version=sig.algo_version,
        num_perm=sig.num_perm,
        seed=sig.seed,
        data=sig.to_bytes(),
        time=time,
    )


class StoreMatcher:
    """``NearDuplicateMatcher`` backed by ``Engine`` and the store."""

    def __init__(self, settings: DedupSettings) -> None:
        self.settings = settings
        self._session: Session | None = None
        self.engine = Engine(settings, self._lookup)
        self._pending: dict[int, Prepared] = {}
        self.resigned: dict[int, tuple[Signature, datetime]] = {}

    # ------------------------------------------------------------------ loading
    def catch_up(self, session: Session) -> int:
        """Index entries other processes stored since we last looked; returns how many."""
        return self.load(session, after=self.engine.max_entry_id(), boilerplate=False)

    def load(self, session: Session, *, after: int = 0, boilerplate: bool = True) -> int:
        """Rebuild the engine from the database; returns the number of entries indexed.

        Signatures of another algorithm version (stored by an older release) are re-made from
        the entries' texts and kept in ``resigned`` for ``save_resigned`` to store.
        """
        if boilerplate:
            for feed_id, docs, counts in dedup_repo.boilerplate_state(session):
                self.engine.boilerplate.load(feed_id, docs, counts)
        before = len(self.engine)
        batch: list[tuple[int, int, datetime, Signature]] = []
        stale: dict[int, int] = {}
        for entry_id, story_id, time, version, data in dedup_repo.signatures_with_stories(
            session, after=after
        ):
            if self.engine.story_of(entry_id) is not None:
                continue
            try:
                sig: Signature | None = Signature.from_bytes(data)
            except ValueError:  # another algorithm version, or damaged bytes
                sig = None
            if sig is None or version != ALGO_VERSION or not sig.compatible():
                stale[entry_id] = story_id
                continue
            batch.append((entry_id, story_id, time, sig))
        self.engine.add_many(batch)
        if stale:
            log.info("re-signing %d entries signed by another algorithm version", len(stale))
            ids = sorted(stale)
            for row in dedup_repo.entry_texts(session, ids):
                doc = _doc(*row)
                sig = self.engine.sign(doc)
                self.resigned[doc.entry_id] = (sig, doc.time)
                self.engine.add(doc.entry_id, stale[doc.entry_id], doc.time, sig)
        return len(self.engine) - before

    def save_resigned(self, session: Session) -> None:
        """Store the signatures ``load`` re-made."""
        for entry_id, (sig, time) in sorted(self.resigned.items()):
            _save(session, entry_id, sig, time)
        self.resigned.clear()

    def _lookup(self, ids: Sequence[int]) -> list[DedupDoc]:
        if self._session is None:
            return []
        return [_doc(*row) for row in dedup_repo.entry_texts(self._session, list(ids))]

    # ------------------------------------------------------------------ NearDuplicateMatcher
    def observe(self, session: Session, feed: FeedState, entries: Sequence[StoredEntry]) -> None:
        self._session = session
        if self.resigned:  # re-made while catching up with another process's entries
            self.save_resigned(session)
        if not entries:
            return
        delta = self.engine.boilerplate.observe(feed.id, [e.text for e in entries])
        dedup_repo.add_boilerplate(session, feed.id, delta, len(entries), entries[0].first_seen)

    def prepare(self, session: Session, entries: Sequence[StoredEntry]) -> None:
        """Sign a run's new entries together and store their signatures (see ``Engine.prepare``)."""
        self._session = session
        docs = [
            _doc(e.id, e.feed_id, e.title, e.text, e.published) for e in entries if e.id not in self._pending
        ]
        if not docs:
            return
        for doc, prep in zip(docs, self.engine.prepare(docs), strict=True):
            self._pending[doc.entry_id] = prep
            _save(session, doc.entry_id, prep.signature, doc.time)

    def _prepared(self, session: Session, entry: StoredEntry) -> Prepared:
        if entry.id not in self._pending:
            self.prepare(session, [entry])
        return self._pending[entry.id]

    def place(self, session: Session, feed: FeedState, entry: StoredEntry) -> Placement | None:
        self._session = session
        if not self.settings.enabled:
            return None
        doc = _doc(entry.id, entry.feed_id, entry.title, entry.text, entry.published)
        decision = self.engine.assign(doc, self._prepared(session, entry))
        if decision.story_id is None:
            return None
        return Placement(
            decision.story_id,
            decision.match,
            decision.similarity,
            decision.matched_entry_id,
            dict(decision.detail),
        )

    def placed(self, session: Session, entry: StoredEntry, story_id: int) -> None:
        prep = self._prepared(session, entry)
        del self._pending[entry.id]
        self.engine.add(entry.id, story_id, entry.published, prep.signature)

    def elect(self, session: Session, story_id: int) -> tuple[int, datetime]:
        ids = [m.entry_id for m in story_repo.members_of(session, story_id)]
        rows = story_repo.members_with_feeds(session, ids)
        infos = [
            MemberInfo(
                entry_id=e.id,
                feed_site=site_host(f.site_url or f.url),
                feed_title=f.title or "",
                priority=f.priority,
                time=e.published_at,
                text_length=len(e.text),
                attributed_sources=self.engine.attributions(
                    _doc(e.id, e.feed_id, e.title, e.text, e.published_at)
                ),
                variant_url=is_variant_url(e.url),
            )
            for e, f in rows
        ]
        rep = elect_representative(infos)
        published = next(e.published_at for e, _ in rows if e.id == rep)
        return rep, published


def settings_for_dedup(settings: Settings) -> DedupSettings:
    d = settings.dedup
    return DedupSettings(enabled=d.enabled, window=d.window, reworded=d.reworded, excerpts=d.excerpts)


def build_matcher(settings: Settings, database: Database) -> StoreMatcher | None:
    """The matcher for this process, loaded from the database; None when dedup is off."""
    if not settings.dedup.enabled:
        return None
    matcher = StoreMatcher(settings_for_dedup(settings))
    with database.readers() as session:
        matcher.load(session)
    if matcher.resigned:
        with database.sessions.begin() as session:
            matcher.save_resigned(session)
    return matcher
