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


class Boilerplate:
    """Per-feed line counts; ``observe`` new entries, ask ``is_boilerplate``."""

    def __init__(self) -> None:
        self._counts: dict[int, Counter[int]] = {}
        self._docs: Counter[int] = Counter()
        # per feed, the lines seen often enough to be boilerplate at some feed size: most lines
        # of most feeds are not, and a line not in here needs no hashing to be let through
        self._frequent: dict[int, set[int]] = {}

    def load(self, feed_id: int, docs: int, counts: Mapping[int, int]) -> None:
        self._docs[feed_id] = docs
        self._counts[feed_id] = Counter(counts)
        self._frequent[feed_id] = {k for k, n in counts.items() if n >= MIN_DOCS}

    def observe(self, feed_id: int, texts: Iterable[str], titles: Iterable[str] = ()) -> dict[int, int]:
        """Count the lines of new entries, and the affixes their titles may carry (``titles``,
        one per text when given); returns the count changes (for the store)."""
        delta: Counter[int] = Counter()
        for text, title in itertools.zip_longest(texts, titles, fillvalue=""):
            keys = {line_key(ln) for ln in text.split("\n") if 0 < len(ln.strip()) <= MAX_LINE}
            keys.update(affix_key(a.text) for a in affixes(title))
            delta.update(keys)
            self._docs[feed_id] += 1
        counts = self._counts.setdefault(feed_id, Counter())
        counts.update(delta)
        frequent = self._frequent.setdefault(feed_id, set())
        frequent.update(k for k in delta if counts[k] >= MIN_DOCS)
        return dict(delta)

    def revert(self, feed_id: int, delta: Mapping[int, int], docs: int) -> None:
        """Undo an ``observe`` whose entries were never stored (their transaction failed)."""
        counts = self._counts.get(feed_id)
        if counts is None:
            return
        counts.subtract(delta)
        for k in delta:
            if counts[k] <= 0:
                del counts[k]
        self._docs[feed_id] = max(0, self._docs[feed_id] - docs)
        self._frequent[feed_id] = {k for k, n in counts.items() if n >= MIN_DOCS}

    def docs(self, feed_id: int) -> int:
        return self._docs[feed_id]

    def snapshot(self) -> dict[int, dict[int, int]]:
        """Every feed's line counts (for the store, after learning from scratch)."""
        return {f: dict(c) for f, c in self._counts.items()}

    def is_learned(self, feed_id: int, key: int) -> bool:
        """Whether the feed's entries carry ``key`` (a line's or a title affix's) often enough
        for it to be the feed's furniture."""
        frequent = self._frequent.get(feed_id)
        if not frequent or key not in frequent:
            return False
        return self._counts[feed_id][key] >= MIN_SHARE * self._docs[feed_id]

    def is_boilerplate(self, feed_id: int, line: str) -> bool:
        frequent = self._frequent.get(feed_id)
        if not frequent or len(line) > MAX_LINE:
            return False
        key = line_key(line)
        return key in frequent and self._counts[feed_id][key] >= MIN_SHARE * self._docs[feed_id]
