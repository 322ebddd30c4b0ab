"""MinHash signatures (datasketch) of an entry's content words and of its lead.

Two signatures per entry: over the whole cleaned text's content words (finds copies, spun
copies, edits) and over the first ``LEAD_SIGNED`` of them (finds an excerpt or a summary,
whose words are a small part of the full article, but its opening). The lead's words are
hashed first and its signature read off on the way, so both cost one pass. Each is stored
with the size of its word set (so the containment of a small text in a large one can be
estimated from the signatures alone), with its parameters and ``ALGO_VERSION``: a signature
made with other parameters or another tokeniser is never compared with these (the store
re-signs instead).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xxhash

from aggregator.dedup.text import SignTokens

# 1: content tokens (>= 4 letters or with a digit). 2: function words left out, look-alike
# letters and invisible characters folded, set sizes stored.
ALGO_VERSION = 2
NUM_PERM = 128
SEED = 1
SCHEME = "affine32"
_VERSION = struct.Struct("<H")
_HEADER = struct.Struct("<HHIHHH")  # version, num_perm, seed, parts, full size, lead size
_EMPTY_TOKEN = b"\x00empty"
_CHUNK = 8  # lead/rest parts of texts signed together (4 texts: ~600 words x 128 x 4 bytes)
_MAX_SIZE = 0xFFFF


def _hash(data: bytes) -> int:
    return xxhash.xxh32_intdigest(data)


@dataclass(frozen=True, slots=True)
class Signature:
    """MinHash values of the full text and of the lead (uint32 arrays of ``NUM_PERM``), and
    how many distinct words each was made of."""

    full: np.ndarray
    lead: np.ndarray
    full_size: int = 0
    lead_size: int = 0
    algo_version: int = ALGO_VERSION
    num_perm: int = NUM_PERM
    seed: int = SEED

    def to_bytes(self) -> bytes:
        head = _HEADER.pack(
            self.algo_version,
            self.num_perm,
            self.seed,
            2,
            min(self.full_size, _MAX_SIZE),
            min(self.lead_size, _MAX_SIZE),
        )
        return head + self.full.astype("<u4").tobytes() + self.lead.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        """Parse stored bytes; raises ``ValueError`` for another algorithm version or bad bytes."""
        if len(data) < _HEADER.size:
            raise ValueError("malformed signature")
        (version,) = _VERSION.unpack_from(data)
        if version != ALGO_VERSION:
            raise ValueError(f"signature of algorithm version {version}, not {ALGO_VERSION}")
        version, num_perm, seed, parts, full_size, lead_size = _HEADER.unpack_from(data)
        body = np.frombuffer(data, dtype="<u4", offset=_HEADER.size).astype(np.uint32)
        if parts != 2 or body.size != 2 * num_perm:
            raise ValueError("malformed signature")
        return cls(body[:num_perm], body[num_perm:], full_size, lead_size, version, num_perm, seed)

    def compatible(self) -> bool:
        return (self.algo_version, self.num_perm, self.seed) == (ALGO_VERSION, NUM_PERM, SEED)

    def minhashes(self) -> tuple[Any, Any]:
        """The full text's and the lead's signatures as datasketch ``LeanMinHash`` objects (for
        working with stored signatures in other tools)."""
        from datasketch import LeanMinHash

        full, lead = (
            LeanMinHash(seed=self.seed, hashvalues=v, scheme=SCHEME) for v in (self.full, self.lead)
        )
        return full, lead


def affine32_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutations (a_k, b_k) of a_k * h + b_k mod 2^32, a_k odd, drawn
    the way ``MinHash._init_permutations`` draws them. Importing datasketch pulls in SciPy (half
    a second, paid by every command); a test holds these equal to datasketch's own."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


_A, _B = affine32_permutations(NUM_PERM, SEED)


def _premix(h: np.ndarray) -> np.ndarray:
    """The MurmurHash3 finalizer datasketch's affine32 scheme applies to each input hash."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    mixed: np.ndarray = h ^ (h >> np.uint32(16))
    return mixed


def sign_many(texts: Sequence[SignTokens]) -> list[Signature]:
    """The signatures of many texts in one pass over all their words' hashes.

    The values are exactly datasketch's ``MinHash(num_perm=NUM_PERM, seed=SEED,
    hashfunc=xxh32, scheme="affine32")`` after ``update_batch`` of the same words (a test
    holds us to it). Doing the arithmetic for a whole batch at once, and taking each lead's
    minimum on the way to its full text's, saves the per-text overhead two ``MinHash`` objects
    per entry would cost (~120 µs against ~40 µs an entry here).
    """
    words: list[bytes] = []
    bounds: list[int] = []  # start of each text's lead, then of its rest
    for t in texts:
        bounds.append(len(words))
        words.extend(t.lead)
        bounds.append(len(words))
        words.extend(t.rest if t.lead or t.rest else [_EMPTY_TOKEN])
    bounds.append(len(words))
    hashes = _premix(np.fromiter(map(xxhash.xxh32_intdigest, words), dtype=np.uint32, count=len(words)))
    starts = np.array(bounds[:-1])
    nonempty = np.flatnonzero(np.diff(bounds))
    mins = np.full((starts.size, NUM_PERM), 0xFFFF_FFFF, dtype=np.uint32)
    # a few texts at a time, so the words x permutations block stays in the CPU cache
    for at in range(0, nonempty.size, _CHUNK):
        part = nonempty[at : at + _CHUNK]
        lo, hi = int(starts[part[0]]), bounds[int(part[-1]) + 1]
        permuted = np.multiply.outer(hashes[lo:hi], _A)
        permuted += _B
        mins[part] = np.minimum.reduceat(permuted, starts[part] - lo, axis=0)
    out = []
    for i, t in enumerate(texts):
        lead = mins[2 * i]
        full = np.minimum(lead, mins[2 * i + 1])
        out.append(Signature(full, lead.copy(), len(t.lead) + len(t.rest), len(t.lead)))
    return out
