"""``aggregator explain``: how an entry joined its story, or every signal between two entries.

The verdict on two entries comes from an engine holding the boilerplate the live runs learned
for their feeds, so it is the verdict a run would reach today (the learned lines may have grown
since the run that placed them).
"""

from __future__ import annotations

from dataclasses import dataclass

from aggregator.cluster.state import doc_of
from aggregator.dedup import DedupSettings, Engine
from aggregator.dedup.engine import DedupDoc
from aggregator.dedup.titles import (
    HEADLINE_HOURS,
    LARGE_ACCEPT,
    MIN_SHARED,
    SLUG_ACCEPT,
    SMALL_ACCEPT,
    TEMPLATE_HOURS,
    Headline,
    TitleVerdict,
    is_dressing,
    recurs,
)
from aggregator.dedup.verify import Verdict
from aggregator.models import Relation
from aggregator.store import Tx
from aggregator.store import dedup as dedup_repo
from aggregator.store import entries as entry_repo
from aggregator.store import stories as story_repo
from aggregator.store.values import StoredEntry


@dataclass(frozen=True, slots=True)
class HeadlineCheck:
    """The headline evidence between two entries when one of them has (next to) no text: a live
    run places such an entry by its headline alone."""

    verdict: TitleVerdict
    first: Headline  # of the first entry asked about
    second: Headline
    recurring: bool  # either title is a template in the window (recurs over days or stories)
    repeats: int  # entries placed before that share the template's words, figures aside


@dataclass(frozen=True, slots=True)
class PairExplanation:
    first: StoredEntry
    second: StoredEntry
    verdict: Verdict
    same_story_now: bool
    switched_off: bool  # the method that matched is switched off under ``dedup:``
    headline: HeadlineCheck | None = None  # when one side has no text to compare


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
    check = None
    if not verdict.same and (engine.is_thin(a) or engine.is_thin(b)):
        check = _headline_check(tx, settings, a, b)
        if check.verdict.same:
            verdict = Verdict(True, check.verdict.score, "headline", check.verdict.detail)
    return PairExplanation(
        first, second, verdict, same, verdict.same and not settings.allows(verdict.method), check
    )


def _headline_check(tx: Tx, settings: DedupSettings, a: DedupDoc, b: DedupDoc) -> HeadlineCheck:
    """The headline verdict with the window the live run saw: the entries placed before the later
    of the two, back to the dedup window, tell whether a title is a recurring template."""
    later, earlier = (a, b) if a.entry_id > b.entry_id else (b, a)
    window = [
        r
        for r in dedup_repo.titles_between(tx, later.time - settings.window, later.time + settings.window)
        if r.entry_id < later.entry_id
    ]
    engine = _engine_for(tx, settings, {a.feed_id, b.feed_id} | {r.feed_id for r in window})
    # As in a live run: the earlier entry's headline as the index holds it (its link aside).
    mine, theirs = engine.headline_of(later), engine.headline(earlier.feed_id, earlier.title)
    sharing = []
    for r in window:
        h = engine.headline(r.feed_id, r.title)
        if len(set(h.words) & set(mine.words)) >= MIN_SHARED:
            sharing.append((h.skeleton, r.time.timestamp(), r.story_id))
    recurring, repeats = False, 0
    for skeleton in {mine.skeleton, theirs.skeleton}:
        same = [(t, story) for sk, t, story in sharing if sk == skeleton]
        times = [t for t, _ in same] + ([later.time.timestamp()] if skeleton == mine.skeleton else [])
        if recurs(times, [story for _, story in same]):
            recurring, repeats = True, max(repeats, len(same))
    verdict = engine.explain_headline(later, earlier, recurring)
    first, second = (mine, theirs) if later is a else (theirs, mine)
    return HeadlineCheck(verdict, first, second, recurring, repeats)


_REJECTED = {
    "title-too-short": "the titles share fewer than {shared} content words: too few to tell",
    "numbers-differ": "the figures in the titles differ (or only one has figures, in a template)",
    "template-title": "a template title joins only a report within {template:g} h",
    "too-far-apart": "the entries are more than {hours:g} h apart",
    "titles-differ": "the titles differ beyond a trim, a wrapper or an affix",
}


def headline_lines(check: HeadlineCheck) -> list[str]:
    """The title signals in plain words, for ``aggregator explain``."""
    v, d = check.verdict, check.verdict.detail
    out = ["title signals (an entry without text is placed by its headline alone):"]
    for name, h in (("first", check.first), ("second", check.second)):
        for affix in h.dropped:
            why = "generic dressing" if is_dressing(affix) else "an affix its feed puts on most titles"
            out.append(f'  affix stripped from the {name} title: "{affix}" ({why})')
    shared = int(d.get("title_shared", 0))
    out.append(
        f"  the titles share {shared} content words: {d.get('title_small', 0):.0%} of the shorter"
        f" one, {d.get('title_large', 0):.0%} of the longer"
        f" (a match takes {SMALL_ACCEPT:.0%} and {LARGE_ACCEPT:.0%})"
    )
    slug = max(d.get("slug", 0.0), d.get("slug_other", 0.0))
    if slug:
        out.append(
            f"  slug: a link spells {slug:.0%} of the other headline's words"
            f" (from {SLUG_ACCEPT:.0%} it counts)"
        )
    if "title_figures" in d:
        out.append(f"  figures in both titles: {'the same' if d['title_figures'] >= 1 else 'they differ'}")
    if check.recurring:
        out.append(
            f"  template title: its words, figures aside, recur in {check.repeats} earlier entries"
            f" (over more than a day or in other stories): weak evidence, so it joins only a report"
            f" within {TEMPLATE_HOURS:g} h with the same figures"
        )
    if v.same:
        out.append("  decided by the headline: same story")
    else:
        reason = _REJECTED.get(v.method, v.method).format(
            shared=MIN_SHARED, template=TEMPLATE_HOURS, hours=HEADLINE_HOURS
        )
        out.append(f"  not joined: {reason}")
    return out


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
