"""A compact LSH index over MinHash bands: sorted numpy arrays instead of dicts.

datasketch's ``MinHashLSH`` keeps a Python dict entry per band per entry (~8.5 KB an entry);
here each band key is one uint64 and each id one uint32 in a sorted array (12 bytes a band),
plus a small unsorted buffer merged in as it fills. A query costs ``bands`` binary searches,
whatever the number of entries.
"""

from __future__ import annotations

import numpy as np

_BAND_BITS = 6  # up to 64 bands
_KEY_MASK = np.uint64((1 << (64 - _BAND_BITS)) - 1)
_BUFFER = 8192  # keys held unsorted before a merge


class BandIndex:
    def __init__(self, bands: int, rows: int) -> None:
        if bands > 1 << _BAND_BITS:
            raise ValueError("too many bands")
        self.bands, self.rows = bands, rows
        rng = np.random.default_rng(20241124)
        self._mult = rng.integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
        self._band_tag = np.arange(bands, dtype=np.uint64) << np.uint64(64 - _BAND_BITS)
        self._keys = np.empty(0, dtype=np.uint64)
        self._ids = np.empty(0, dtype=np.uint32)
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
            self._merge()
        n = self._n_buf
        self._buf_keys[n : n + k.size] = k
        self._buf_ids[n : n + k.size] = entry_id
        self._n_buf += k.size

    def _merge(self) -> None:
        keys = np.concatenate([self._keys, self._buf_keys[: self._n_buf]])
        ids = np.concatenate([self._ids, self._buf_ids[: self._n_buf]])
        order = np.argsort(keys, kind="stable")
        self._keys, self._ids = keys[order], ids[order]
        self._n_buf = 0

    def query(self, hashvalues: np.ndarray) -> set[int]:
        q = self.keys(hashvalues)
        found: set[int] = set()
        if self._keys.size:
            lo = np.searchsorted(self._keys, q, side="left")
            hi = np.searchsorted(self._keys, q, side="right")
            for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
                if b > a:
                    found.update(self._ids[a:b].tolist())
        if self._n_buf:
            hit = np.isin(self._buf_keys[: self._n_buf], q)
            found.update(self._buf_ids[: self._n_buf][hit].tolist())
        return found

    def remove(self, entry_ids: set[int]) -> None:
        """Drop entries (retention); rare, so a full rebuild of the arrays is acceptable."""
        self._merge()
        keep = ~np.isin(self._ids, np.fromiter(entry_ids, dtype=np.uint32, count=len(entry_ids)))
        self._keys, self._ids = self._keys[keep], self._ids[keep]

    def nbytes(self) -> int:
        return int(self._keys.nbytes + self._ids.nbytes + self._buf_keys.nbytes + self._buf_ids.nbytes)
