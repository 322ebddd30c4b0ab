"""Boilerplate learned per feed: lines that recur across a feed's entries are not the story.

A site's furniture (a newsletter pitch, "This article originally appeared on ...", a fixed
disclaimer, a sign-off) repeats across its entries while article text does not. We count, per
feed, in how many distinct entries each normalised line occurs; a line seen in at least
``MIN_DOCS`` entries and in at least ``MIN_SHARE`` of the feed's entries is boilerplate for that
feed. Counts, not rules, so no site's strings are written in code; the state is plain integers
that the store persists, and entries are counted once each (only new entries are observed).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np
import xxhash

from aggregator.dedup.text import fold
from aggregator.dedup.titles import affix_key, affixes

MIN_DOCS = 4  # a line in four different entries of one feed is no coincidence...
MIN_SHARE = 0.1  # ...unless the feed has thousands of entries; then it must be common too
MAX_LINE = 300  # longer lines are paragraphs: articles may legitimately repeat quotes
# Years are folded, so "© 2024"/"© 2025" are one line; other figures are kept: in a feed of
# reports ("Oper shr 59 cts vs 49 cts") the lines that differ only in their figures are the news.
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def line_key(line: str) -> int:
    """A signed 63-bit key of a folded line (years folded)."""
    folded = _YEAR.sub("0", " ".join(fold(line).split()))
    return xxhash.xxh64_intdigest(folded.encode()) & 0x7FFF_FFFF_FFFF_FFFF


class _Counts:
    """One feed's key counts as two sorted arrays (12 bytes a key, where a Counter takes ~100:
    5,000 feeds of a few hundred thousand keys stay a few MB), with the keys counted at least
    ``MIN_DOCS`` times apart in a dictionary: the only ones a lookup needs."""

    __slots__ = ("counts", "frequent", "keys")

    def __init__(self, counts: Mapping[int, int]) -> None:
        pairs = sorted((k, n) for k, n in counts.items() if n > 0)
        self.keys = np.array([k for k, _ in pairs], dtype=np.uint64)
        self.counts = np.array([n for _, n in pairs], dtype=np.int64)
        self.frequent = {k: n for k, n in pairs if n >= MIN_DOCS}

    def add(self, delta: Mapping[int, int]) -> None:
        """Add (or, negative, take away) counts; keys left at zero or below go."""
        if not delta:
            return
        ks = np.array(sorted(delta), dtype=np.uint64)
        vs = np.array([delta[int(k)] for k in ks.tolist()], dtype=np.int64)
        at = np.searchsorted(self.keys, ks)
        known = at < self.keys.size
        known[known] = self.keys[at[known]] == ks[known]
        self.counts[at[known]] += vs[known]
        self.keys = np.insert(self.keys, at[~known], ks[~known])
        self.counts = np.insert(self.counts, at[~known], vs[~known])
        if (vs < 0).any():
            keep = self.counts > 0
            self.keys, self.counts = self.keys[keep], self.counts[keep]
        at = np.searchsorted(self.keys, ks)
        there = at < self.keys.size
        there[there] = self.keys[at[there]] == ks[there]
        for k, i, present in zip(ks.tolist(), at.tolist(), there.tolist(), strict=True):
            n = int(self.counts[i]) if present else 0
            if n >= MIN_DOCS:
                self.frequent[k] = n
            else:
                self.frequent.pop(k, None)

    def as_dict(self) -> dict[int, int]:
        return dict(zip(self.keys.tolist(), self.counts.tolist(), strict=True))


def observed(text: str, title: str = "") -> set[int]:
    """The keys ``Boilerplate.observe`` counts for one entry: its lines' and its title's affixes'."""
    keys = {line_key(ln) for ln in text.split("\n") if 0 < len(ln.strip()) <= MAX_LINE}
    keys.update(affix_key(a.text) for a in affixes(title))
    return keys


def tally(entries: Iterable[tuple[int, str, str]]) -> dict[int, tuple[dict[int, int], int]]:
    """Per feed, the count changes ``observe`` makes for these (feed id, text, title) entries
    and how many there are: what ``Boilerplate.count`` adds. Pure, so a worker process can do
    the hashing of a learning pass (``dedup rebuild``) while its owner reads the next texts."""
    out: dict[int, tuple[Counter[int], list[int]]] = {}
    for feed_id, text, title in entries:
        delta, docs = out.setdefault(feed_id, (Counter(), [0]))
        delta.update(observed(text, title))
        docs[0] += 1
    return {f: (dict(delta), docs[0]) for f, (delta, docs) in out.items()}


class Boilerplate:
    """Per-feed line counts; ``observe`` new entries, ask ``is_boilerplate``."""

    def __init__(self) -> None:
        self._counts: dict[int, _Counts] = {}
        self._docs: Counter[int] = Counter()

    def load(self, feed_id: int, docs: int, counts: Mapping[int, int]) -> None:
        self._docs[feed_id] = docs
        self._counts[feed_id] = _Counts(counts)

    def observe(self, feed_id: int, texts: Iterable[str], titles: Iterable[str] = ()) -> dict[int, int]:
        """Count the lines of new entries, and the affixes their titles may carry (``titles``,
        one per text when given); returns the count changes (for the store)."""
        delta: Counter[int] = Counter()
        docs = 0
        for text, title in itertools.zip_longest(texts, titles, fillvalue=""):
            delta.update(observed(text, title))
            docs += 1
        self.count(feed_id, delta, docs)
        return dict(delta)

    def count(self, feed_id: int, delta: Mapping[int, int], docs: int) -> None:
        """Add the count changes of ``docs`` entries observed elsewhere (``tally``)."""
        self._docs[feed_id] += docs
        counts = self._counts.get(feed_id)
        if counts is None:
            counts = self._counts[feed_id] = _Counts({})
        counts.add(delta)

    def revert(self, feed_id: int, delta: Mapping[int, int], docs: int) -> None:
        """Undo an ``observe`` whose entries were never stored (their transaction failed)."""
        counts = self._counts.get(feed_id)
        if counts is None:
            return
        counts.add({k: -n for k, n in delta.items()})
        self._docs[feed_id] = max(0, self._docs[feed_id] - docs)

    def docs(self, feed_id: int) -> int:
        return self._docs[feed_id]

    def snapshot(self) -> dict[int, dict[int, int]]:
        """Every feed's line counts (for the store, after learning from scratch)."""
        return {f: c.as_dict() for f, c in self._counts.items()}

    def is_learned(self, feed_id: int, key: int) -> bool:
        """Whether the feed's entries carry ``key`` (a line's or a title affix's) often enough
        for it to be the feed's furniture."""
        counts = self._counts.get(feed_id)
        n = counts.frequent.get(key) if counts is not None else None
        return n is not None and n >= MIN_SHARE * self._docs[feed_id]

    def learned(self, feed_id: int) -> frozenset[int]:
        """Every key ``is_learned`` says yes to for the feed now: what a process that has not
        learned the feed needs in order to clean its entries the way this one would."""
        counts = self._counts.get(feed_id)
        if counts is None:
            return frozenset()
        bar = MIN_SHARE * self._docs[feed_id]
        return frozenset(k for k, n in counts.frequent.items() if n >= bar)

    def drops_any(self, feed_id: int, line_keys: np.ndarray) -> bool:
        """Whether the feed's learned boilerplate drops any of these lines (by ``line_key``;
        the lines over ``MAX_LINE`` left out): ``is_boilerplate`` for lines already keyed."""
        counts = self._counts.get(feed_id)
        if counts is None or not counts.frequent:
            return False
        return any(self.is_learned(feed_id, int(k)) for k in line_keys.tolist())

    def is_boilerplate(self, feed_id: int, line: str) -> bool:
        counts = self._counts.get(feed_id)
        if counts is None or not counts.frequent or len(line) > MAX_LINE:
            return False
        return self.is_learned(feed_id, line_key(line))
