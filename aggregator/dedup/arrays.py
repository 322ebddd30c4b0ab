"""Sorted-set helpers for the small arrays the engine handles thousands of times a round.

``np.unique`` is general (any shape, inverse indices, a hash table first in NumPy 2): on the
tens to thousands of int64 a text's hash sets hold it costs three to four times a plain sort and
a comparison with the neighbour, which is all a sorted set needs.
"""

from __future__ import annotations

import numpy as np


def unique(values: np.ndarray) -> np.ndarray:
    """The distinct values of a 1-d array, sorted (``np.unique`` of it)."""
    ordered: np.ndarray = np.sort(values)
    if ordered.size < 2:
        return ordered
    distinct: np.ndarray = ordered[_firsts(ordered)]
    return distinct


def unique_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of a 1-d array, sorted, and how often each occurs."""
    ordered = np.sort(values)
    if not ordered.size:
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(_firsts(ordered))
    return ordered[starts], np.diff(starts, append=ordered.size)


def _firsts(ordered: np.ndarray) -> np.ndarray:
    """Where each run of equal values of a sorted array starts."""
    first = np.empty(ordered.size, dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return first
