"""MinHash signatures (datasketch) of an entry's content tokens and of its lead.

Two signatures per entry: over the whole cleaned text (finds copies, spun copies, edits) and
over its first ``LEAD_TOKENS`` words (finds an excerpt, whose words are a small part of the full
article, but most of its beginning). Stored with their parameters and ``ALGO_VERSION``: a
signature made with other parameters or another tokeniser is never compared with these (the
store re-signs instead).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import xxhash
from datasketch import MinHash

ALGO_VERSION = 1  # bump when tokenising, cleaning or hashing changes: stored signatures re-sign
NUM_PERM = 128
SEED = 1
SCHEME = "affine32"
_HEADER = struct.Struct("<HHIH")  # version, num_perm, seed, parts
_EMPTY_TOKEN = b"\x00empty"


def _hash(data: bytes) -> int:
    return xxhash.xxh32_intdigest(data)


@dataclass(frozen=True, slots=True)
class Signature:
    """MinHash values of the full text and of the lead, as uint32 arrays of ``NUM_PERM``."""

    full: np.ndarray
    lead: np.ndarray
    algo_version: int = ALGO_VERSION
    num_perm: int = NUM_PERM
    seed: int = SEED

    def to_bytes(self) -> bytes:
        head = _HEADER.pack(self.algo_version, self.num_perm, self.seed, 2)
        return head + self.full.astype("<u4").tobytes() + self.lead.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        version, num_perm, seed, parts = _HEADER.unpack_from(data)
        body = np.frombuffer(data, dtype="<u4", offset=_HEADER.size).astype(np.uint32)
        if parts != 2 or body.size != 2 * num_perm:
            raise ValueError("malformed signature")
        return cls(body[:num_perm], body[num_perm:], version, num_perm, seed)

    def compatible(self) -> bool:
        return (self.algo_version, self.num_perm, self.seed) == (ALGO_VERSION, NUM_PERM, SEED)


_PERMS: object | None = None


def _minhash(tokens: Iterable[str]) -> np.ndarray:
    global _PERMS
    m = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=_hash, scheme=SCHEME, permutations=_PERMS)
    _PERMS = m.permutations  # share the permutation arrays: building them costs more than hashing
    data = [t.encode() for t in set(tokens)] or [_EMPTY_TOKEN]
    m.update_batch(data)
    return np.asarray(m.hashvalues, dtype=np.uint32)


def sign(tokens: Iterable[str], lead: Iterable[str]) -> Signature:
    return Signature(_minhash(tokens), _minhash(lead))
