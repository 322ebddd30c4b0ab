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
from aggregator.models import Relation
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


def _engine_for(tx: Tx, settings: DedupSettings, feed_ids: set[int]) -> Engine:
    """An engine holding the boilerplate live runs learned for these feeds."""
    engine = Engine(settings)
    feeds = sorted(feed_ids)
    docs = {f: n for f, n, _ in dedup_repo.boilerplate_changed(tx, -1) if f in feed_ids}
    counts = dedup_repo.boilerplate_counts(tx, feeds)
    for feed_id in feeds:
        engine.boilerplate.load(feed_id, docs.get(feed_id, 0), counts.get(feed_id, {}))
    return engine


def explain_pair(tx: Tx, settings: DedupSettings, first: StoredEntry, second: StoredEntry) -> PairExplanation:
    engine = _engine_for(tx, settings, {first.feed_id, second.feed_id})
    texts = {t.entry_id: doc_of(t) for t in entry_repo.texts(tx, [first.id, second.id])}
    a, b = texts[first.id], texts[second.id]
    verdict = engine.explain(a, b)
    same = a.story_id is not None and a.story_id == b.story_id
    return PairExplanation(first, second, verdict, same, verdict.same and not settings.allows(verdict.method))


def entry_story(tx: Tx, entry_id: int) -> int | None:
    m = story_repo.membership(tx, entry_id)
    return m.story_id if m else None


# --------------------------------------------------------------------------- story page
VERBATIM = 0.97  # this share of word sequences (trigrams) shared reads as a verbatim copy
EDITED = 0.7  # and this share as an edited one; below, the wording has changed: reworded
EXCERPT_RATIO = 0.6  # a copy with fewer than this share of the original's words is an excerpt


def relate(verdict: Verdict, copy_is_smaller: bool) -> Relation:
    """A relation from the verdict between an original and a copy (pure; see ``relations``)."""
    d = verdict.detail
    if not verdict.same:
        return Relation("via-copy", None, d)
    if (copy_is_smaller and d.get("size_ratio", 1.0) < EXCERPT_RATIO) or verdict.method == "excerpt":
        return Relation("excerpt", max(d.get("lead", 0.0), d.get("containment", 0.0)), d)
    share = d.get("trigrams", verdict.score)
    if verdict.method == "copy" and share >= VERBATIM:
        return Relation("verbatim", share, d)
    if verdict.method == "copy" and share >= EDITED:
        return Relation("edited", share, d)
    # Fewer word sequences kept than words: a reader would call it reworded.
    return Relation("reworded", d.get("containment", verdict.score), d)


def relations(
    tx: Tx, settings: DedupSettings, original_id: int, member_ids: list[int]
) -> dict[int, Relation]:
    """Every member of a story compared with its original, as a live run would compare them
    (with the boilerplate learned for their feeds): what the story page says of each copy."""
    stored = {e.id: e for e in entry_repo.get_entries(tx, [original_id, *member_ids])}
    original = stored.get(original_id)
    if original is None:
        return {}
    out: dict[int, Relation] = {original_id: Relation("original")}
    pending = []
    for entry_id in member_ids:
        e = stored.get(entry_id)
        if e is None or entry_id == original_id:
            continue
        if e.canonical_url and e.canonical_url == original.canonical_url:
            out[entry_id] = Relation("same-link")
        elif e.text_hash and e.text_hash == original.text_hash:
            out[entry_id] = Relation("identical", 1.0)
        elif not e.text.strip():
            out[entry_id] = Relation("headline")
        else:
            pending.append(entry_id)
    if not pending:
        return out
    engine = _engine_for(tx, settings, {stored[i].feed_id for i in [original_id, *pending]})
    texts = {t.entry_id: doc_of(t) for t in entry_repo.texts(tx, [original_id, *pending])}
    base = texts[original_id]
    for entry_id in pending:
        verdict = engine.explain(base, texts[entry_id])
        smaller = len(texts[entry_id].text) < len(base.text)
        out[entry_id] = relate(verdict, smaller)
    return out
