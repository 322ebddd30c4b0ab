"""``aggregator explain``: how an entry joined its story, or every signal between two entries.

The verdict on two entries comes from an engine holding the boilerplate the live runs learned
for their feeds, so it is the verdict a run would reach today (the learned lines may have grown
since the run that placed them).
"""

from __future__ import annotations

from dataclasses import dataclass

from aggregator.cluster.state import doc_of
from aggregator.dedup import DedupSettings, Engine
from aggregator.dedup.verify import Verdict
from aggregator.store import Tx
from aggregator.store import dedup as dedup_repo
from aggregator.store import entries as entry_repo
from aggregator.store import stories as story_repo
from aggregator.store.values import StoredEntry


@dataclass(frozen=True, slots=True)
class PairExplanation:
    first: StoredEntry
    second: StoredEntry
    verdict: Verdict
    same_story_now: bool
    switched_off: bool  # the method that matched is switched off under ``dedup:``


def explain_pair(tx: Tx, settings: DedupSettings, first: StoredEntry, second: StoredEntry) -> PairExplanation:
    engine = Engine(settings)
    feeds = sorted({first.feed_id, second.feed_id})
    docs = {f: n for f, n, _ in dedup_repo.boilerplate_changed(tx, -1) if f in feeds}
    counts = dedup_repo.boilerplate_counts(tx, feeds)
    for feed_id in feeds:
        engine.boilerplate.load(feed_id, docs.get(feed_id, 0), counts.get(feed_id, {}))
    texts = {t.entry_id: doc_of(t) for t in entry_repo.texts(tx, [first.id, second.id])}
    a, b = texts[first.id], texts[second.id]
    verdict = engine.explain(a, b)
    same = a.story_id is not None and a.story_id == b.story_id
    return PairExplanation(first, second, verdict, same, verdict.same and not settings.allows(verdict.method))


def entry_story(tx: Tx, entry_id: int) -> int | None:
    m = story_repo.membership(tx, entry_id)
    return m.story_id if m else None
