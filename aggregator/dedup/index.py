"""A compact LSH index over MinHash bands: sorted numpy runs instead of dicts.

datasketch's ``MinHashLSH`` keeps a Python dict entry per band per entry (~8.5 KB an entry);
here each band key is one uint64 and each id one uint32 (12 bytes a band) in sorted runs, like
a log-structured merge tree: new keys fill a small buffer, a full buffer is sorted into a run,
and runs of similar size are merged, so inserting costs O(log n) amortised and a query costs a
binary search per run — about the same at a thousand entries or a hundred thousand.
"""

from __future__ import annotations

import numpy as np

_BAND_BITS = 6  # up to 64 bands
_KEY_MASK = np.uint64((1 << (64 - _BAND_BITS)) - 1)
_BUFFER = 2048  # keys held unsorted before they become a run
# A band bucket shared by more entries than this says nothing (like a stop word: a stock
# phrase, a template, a feed of near-identical items); it is skipped, which bounds a query's cost.
MAX_BUCKET = 64


class BandIndex:
    def __init__(self, bands: int, rows: int) -> None:
        if bands > 1 << _BAND_BITS:
            raise ValueError("too many bands")
        self.bands, self.rows = bands, rows
        rng = np.random.default_rng(20241124)
        self._mult = rng.integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
        self._band_tag = np.arange(bands, dtype=np.uint64) << np.uint64(64 - _BAND_BITS)
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys, ids), largest first
        self._buf_keys = np.empty(_BUFFER, dtype=np.uint64)
        self._buf_ids = np.empty(_BUFFER, dtype=np.uint32)
        self._n_buf = 0

    def keys(self, hashvalues: np.ndarray) -> np.ndarray:
        """One uint64 key per band: a multiply-add hash of the band's rows, tagged by band."""
        v = hashvalues[: self.bands * self.rows].astype(np.uint64).reshape(self.bands, self.rows)
        with np.errstate(over="ignore"):
            h = (v * self._mult).sum(axis=1, dtype=np.uint64)
        keys: np.ndarray = (h & _KEY_MASK) | self._band_tag
        return keys

    def add(self, entry_id: int, hashvalues: np.ndarray) -> None:
        k = self.keys(hashvalues)
        if self._n_buf + k.size > _BUFFER:
            self._flush()
        n = self._n_buf
        self._buf_keys[n : n + k.size] = k
        self._buf_ids[n : n + k.size] = entry_id
        self._n_buf += k.size

    def _flush(self) -> None:
        if not self._n_buf:
            return
        keys, ids = self._buf_keys[: self._n_buf].copy(), self._buf_ids[: self._n_buf].copy()
        self._n_buf = 0
        # Merge with the smallest runs while they are no bigger than what we carry (binary counter).
        while self._runs and self._runs[-1][0].size <= keys.size:
            rk, ri = self._runs.pop()
            keys, ids = np.concatenate([rk, keys]), np.concatenate([ri, ids])
        order = np.argsort(keys, kind="stable")
        self._runs.append((keys[order], ids[order]))

    def query(self, hashvalues: np.ndarray) -> np.ndarray:
        """Unique ids (as int64) sharing at least one band key with ``hashvalues``."""
        q = self.keys(hashvalues)
        parts: list[np.ndarray] = []
        for keys, ids in self._runs:
            lo = np.searchsorted(keys, q, side="left")
            hi = np.searchsorted(keys, q, side="right")
            size = hi - lo
            for j in np.nonzero((size > 0) & (size <= MAX_BUCKET))[0].tolist():
                parts.append(ids[lo[j] : hi[j]])
        if self._n_buf:
            buf = self._buf_keys[: self._n_buf]
            qs = np.sort(q)
            pos = np.minimum(np.searchsorted(qs, buf), qs.size - 1)
            mask = qs[pos] == buf
            if mask.any():
                parts.append(self._buf_ids[: self._n_buf][mask])
        if not parts:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(parts)).astype(np.int64)

    def nbytes(self) -> int:
        runs = sum(k.nbytes + i.nbytes for k, i in self._runs)
        return int(runs + self._buf_keys.nbytes + self._buf_ids.nbytes)
