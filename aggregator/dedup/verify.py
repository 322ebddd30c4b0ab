"""Is candidate B the same story as entry A? A score from several signals, and vetoes.

Signals (each symmetric, computed on cleaned text):
- ``containment``: share of the smaller entry's content tokens found in the larger one. Survives
  excerpts (an excerpt is contained in its article) and spinning (names, numbers and most rare
  words are not swapped).
- ``lead``: the same, against the larger entry's opening words only — what an excerpt carries.
- ``trigrams``: share of the smaller entry's word 3-grams found in the larger one: verbatim
  copying and light edits keep them; spinning and independent reporting do not.
- ``numbers`` / ``names``: agreement of the figures and proper names. Template stories
  (bulletins, results, market reports) share their wording but not these: they veto a match.
- ``title``: overlap of title tokens; supports a borderline match, never decides alone.
- subject: a proper name in each headline that the other entry never mentions (two issuers,
  two teams) marks different stories, however alike the wording.
- filing day: datelines naming days further apart than a day are two filings — a recurring
  bulletin ("the Fed set no repurchase agreements") repeats its wording word for word each day.
- fragment: a text much smaller than the other, found in it but not at its start, under an
  unrelated headline, is another story drawing on the same source (a speech, a statement),
  not an excerpt: excerpts are taken from the start, and copies keep most of the text.

THRESHOLDS — tuned on a labelled development corpus of syndicated, spun, excerpted and edited
copies and hard negatives; read the comment on each row before changing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aggregator.dedup.text import Features, HashSet

# fmt: off
# name                      value  why
MIN_TOKENS            = 8     # fewer content tokens than this: too little text to judge at all
TRIGRAM_ACCEPT        = 0.50  # half the smaller text's word 3-grams verbatim in the other: a copy
CONTAINMENT_ACCEPT    = 0.72  # spun copies keep ~75-90% of content tokens; topical neighbours ~30-55%
CONTAINMENT_SHORT     = 0.80  # the same for short texts (< SHORT_TOKENS): chance overlap is higher
SHORT_TOKENS          = 40    # an excerpt's size: ~25-45 content tokens
LEAD_ACCEPT           = 0.70  # an excerpt's tokens against the other's opening words
NUMBERS_VETO          = 0.50  # fewer than half the figures shared (>= NUMBERS_MIN each): other event
NUMBERS_MIN           = 2     # with fewer figures, number agreement says little
NAMES_VETO            = 0.34  # fewer than a third of the proper names shared: other people/places
NAMES_MIN             = 4     # with fewer names, name agreement says little
TITLE_SUPPORT         = 0.50  # title overlap that lets a match pass at SUPPORT_MARGIN below accept
SUPPORT_MARGIN        = 0.08
STORY_SUPPORT         = 0.40  # mean containment against the story's other members (anti-chaining)
DISSIMILAR            = 0.30  # below this token containment nothing can pass: stop early
FILED_DAYS_APART      = 1     # datelines this many days apart may still be one filing (time zones)
FRAGMENT_RATIO        = 0.50  # the smaller text has under half the larger one's content tokens...
FRAGMENT_LEAD         = 0.50  # ...under half of them are in the larger one's opening words...
FRAGMENT_TITLE        = 0.25  # ...and the headlines share less than this: another story
# fmt: on


VETOES = frozenset({"numbers-differ", "names-differ", "subjects-differ", "filed-apart", "fragment"})
# Vetoes that hold between any two members of a story, whatever part of it each one covers.
STORY_VETOES = frozenset({"subjects-differ", "filed-apart"})


@dataclass(frozen=True, slots=True)
class Verdict:
    same: bool
    score: float  # 0..1, the strongest passing signal (or the best signal when rejected)
    method: str  # "copy", "reworded", "excerpt", or the reason for a rejection
    detail: dict[str, float]


def _found(needles: HashSet, hay: HashSet) -> np.ndarray:
    """For each of ``needles``, whether it is in ``hay`` (both sorted): binary search, no sort."""
    if not hay.size:
        return np.zeros(needles.size, dtype=bool)
    at = np.minimum(np.searchsorted(hay, needles), hay.size - 1)
    hit: np.ndarray = hay[at] == needles
    return hit


def _common(a: HashSet, b: HashSet) -> int:
    small, large = (a, b) if a.size <= b.size else (b, a)
    return int(_found(small, large).sum())


def _share(small: HashSet, large: HashSet) -> float:
    return _common(small, large) / small.size if small.size else 0.0


def _agreement(a: HashSet, b: HashSet, minimum: int) -> float | None:
    if min(a.size, b.size) < minimum:
        return None
    return _common(a, b) / min(a.size, b.size)


def _missing_from(a: HashSet, b: HashSet) -> bool:
    """Whether some element of ``a`` is not in ``b``."""
    return bool(a.size) and not bool(_found(a, b).all())


def _shares(small: Features, large: Features) -> tuple[float, float]:
    """(containment, lead): the smaller entry's content words found in the larger one's, and in
    its opening words."""
    return _share(small.token_set, large.token_set), _share(small.token_set, large.lead_set)


def signals(a: Features, b: Features, shares: tuple[float, float] | None = None) -> dict[str, float]:
    """Every signal between ``a`` and ``b``; ``shares``: their (containment, lead) when known."""
    small, large = (a, b) if a.token_set.size <= b.token_set.size else (b, a)
    sd, ld, ad, bd = small.detail, large.detail, a.detail, b.detail
    title_common = _common(ad.title_set, bd.title_set)
    containment, lead = _shares(small, large) if shares is None else shares
    detail = {
        "containment": containment,
        "lead": lead,
        "trigrams": _share(sd.trigrams, ld.trigrams),
        "title": title_common / max(1, ad.title_set.size + bd.title_set.size - title_common),
        "small_tokens": float(small.token_set.size),
    }
    numbers = _agreement(sd.numbers, ld.numbers, NUMBERS_MIN)
    names = _agreement(sd.names, ld.names, NAMES_MIN)
    if numbers is not None:
        detail["numbers"] = numbers
    # Each headline names someone the other entry never mentions: two subjects. (One-sided
    # absence is common in true copies: reworded headlines add names, excerpts drop them.)
    if _missing_from(ad.title_names, bd.words) and _missing_from(bd.title_names, ad.words):
        detail["subject_conflict"] = 1.0
    if names is not None:
        detail["names"] = names
    if ad.filed >= 0 and bd.filed >= 0:
        apart = abs(ad.filed - bd.filed)
        detail["filed_days_apart"] = float(min(apart, 365 - apart))
    detail["size_ratio"] = small.token_set.size / max(1, large.token_set.size)
    return detail


def verify(a: Features, b: Features) -> Verdict:
    small, large = (a, b) if a.token_set.size <= b.token_set.size else (b, a)
    shares = _shares(small, large)
    quick = max(shares)
    if quick < DISSIMILAR:  # most candidates: not worth the other signals
        return Verdict(False, quick, "dissimilar", {"containment": quick})
    d = signals(a, b, shares)
    n_small = d["small_tokens"]
    best = max(d["trigrams"], d["containment"], d["lead"])
    if n_small < MIN_TOKENS:
        return Verdict(False, best, "too-short", d)
    if d.get("subject_conflict"):
        return Verdict(False, best, "subjects-differ", d)
    if d.get("numbers", 1.0) < NUMBERS_VETO:
        return Verdict(False, best, "numbers-differ", d)
    if d.get("names", 1.0) < NAMES_VETO:
        return Verdict(False, best, "names-differ", d)
    if d.get("filed_days_apart", 0.0) > FILED_DAYS_APART:
        return Verdict(False, best, "filed-apart", d)
    if d["size_ratio"] < FRAGMENT_RATIO and d["lead"] < FRAGMENT_LEAD and d["title"] < FRAGMENT_TITLE:
        return Verdict(False, best, "fragment", d)
    margin = SUPPORT_MARGIN if d["title"] >= TITLE_SUPPORT else 0.0
    if d["trigrams"] >= TRIGRAM_ACCEPT - margin:
        return Verdict(True, d["trigrams"], "copy", d)
    short = n_small < SHORT_TOKENS
    if short and d["lead"] >= LEAD_ACCEPT - margin:
        return Verdict(True, d["lead"], "excerpt", d)
    bar = (CONTAINMENT_SHORT if short else CONTAINMENT_ACCEPT) - margin
    if d["containment"] >= bar:
        return Verdict(True, d["containment"], "excerpt" if short else "reworded", d)
    return Verdict(False, best, "dissimilar", d)
