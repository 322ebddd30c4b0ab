"""Per-entry state of the engine in numpy columns, one row an entry.

Filtering and ranking the candidates LSH returns are then a few vectorised steps, and an entry
costs ~1 KB of signatures plus ~100 bytes here (its feed and its headline's word keys among them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aggregator.dedup.signature import NUM_PERM, Signature
from aggregator.dedup.titles import FIGURES_WIDTH, THIN_TOKENS, TITLE_WIDTH, Headline, padded

MIN_SIGNED = 5  # entries with fewer distinct content words are not indexed: too little to match


class Rows:
    """Columns: entry id (-1 for a dead row), story id, time, whether placed and alive, the sizes
    of the two signed word sets and the two signatures; the feed, and the headline's word keys,
    figure keys and skeleton (``titles.py``)."""

    _COLUMNS = (
        "entry",
        "story",
        "time",
        "alive",
        "full_size",
        "lead_size",
        "full",
        "lead",
        "feed",
        "words",
        "figures",
        "skeleton",
    )

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self.entry = np.zeros(capacity, dtype=np.int64)
        self.story = np.zeros(capacity, dtype=np.int64)
        self.time = np.zeros(capacity, dtype=np.float64)
        self.alive = np.zeros(capacity, dtype=bool)
        self.full_size = np.zeros(capacity, dtype=np.uint16)
        self.lead_size = np.zeros(capacity, dtype=np.uint16)
        self.full = np.zeros((capacity, NUM_PERM), dtype=np.uint32)
        self.lead = np.zeros((capacity, NUM_PERM), dtype=np.uint32)
        self.feed = np.zeros(capacity, dtype=np.int64)
        self.words = np.zeros((capacity, TITLE_WIDTH), dtype=np.uint32)
        self.figures = np.zeros((capacity, FIGURES_WIDTH), dtype=np.uint32)
        self.skeleton = np.zeros(capacity, dtype=np.uint64)

    def reserve(self, extra: int) -> None:
        need = self.n + extra
        if need <= self.entry.shape[0]:
            return
        size = max(need, self.entry.shape[0] * 3 // 2)  # by half: less slack than doubling
        for name in self._COLUMNS:
            old = getattr(self, name)
            new = np.zeros((size, *old.shape[1:]), dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def append(
        self,
        entries: np.ndarray,
        stories: np.ndarray,
        times: np.ndarray,
        sigs: Sequence[Signature],
        *,
        alive: bool,
        feeds: Sequence[int] = (),
        headlines: Sequence[Headline] = (),
    ) -> np.ndarray:
        k = entries.size
        self.reserve(k)
        rows = np.arange(self.n, self.n + k)
        self.entry[rows], self.story[rows], self.time[rows], self.alive[rows] = entries, stories, times, alive
        self.full_size[rows] = [min(s.full_size, 0xFFFF) for s in sigs]
        self.lead_size[rows] = [min(s.lead_size, 0xFFFF) for s in sigs]
        if k == 1:
            self.full[self.n], self.lead[self.n] = sigs[0].full, sigs[0].lead
        elif k:
            self.full[rows] = np.stack([s.full for s in sigs])
            self.lead[rows] = np.stack([s.lead for s in sigs])
        if feeds:
            self.feed[rows] = feeds
        for row, h in zip(rows.tolist(), headlines, strict=False):
            self.words[row] = padded(h.words, TITLE_WIDTH)
            self.figures[row] = padded(h.figures, FIGURES_WIDTH)
            self.skeleton[row] = h.skeleton
        self.n += k
        return rows

    def indexed(self, rows: np.ndarray | slice) -> np.ndarray:
        """Which of ``rows`` go into the LSH index: decided from what is stored (the size of the
        signed word set), so a restarted engine indexes exactly what a running one did."""
        mask: np.ndarray = self.full_size[rows] >= MIN_SIGNED
        return mask

    def thin(self, rows: np.ndarray | slice) -> np.ndarray:
        """Which of ``rows`` have (next to) no text: matched by their headline."""
        mask: np.ndarray = self.full_size[rows] < THIN_TOKENS
        return mask

    def headline(self, row: int) -> Headline:
        words = self.words[row]
        figures = self.figures[row]
        return Headline(
            tuple(int(w) for w in words[words != 0]),
            tuple(int(f) for f in figures[figures != 0]),
            int(self.skeleton[row]),
        )

    def keep(self, rows: np.ndarray) -> None:
        """Keep only ``rows`` (in this order), renumbered from 0."""
        for name in self._COLUMNS:
            col = getattr(self, name)
            setattr(self, name, col[rows].copy())
        self.n = rows.size

    def signature(self, row: int) -> Signature:
        return Signature(
            self.full[row].copy(), self.lead[row].copy(), int(self.full_size[row]), int(self.lead_size[row])
        )

    def nbytes(self) -> int:
        return int(sum(getattr(self, name).nbytes for name in self._COLUMNS))


def containment(j: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Containment of the smaller set in the larger, from their Jaccard estimate and sizes:
    |A∩B| = J(|A|+|B|)/(1+J)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    small = np.maximum(np.minimum(a64, b64), 1)
    c: np.ndarray = np.minimum(j / (1.0 + j) * (a64 + b64) / small, 1.0)
    return c
