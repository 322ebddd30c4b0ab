"""The part of a new entry's dedup work that needs only its own text, made where it is parsed.

A round's critical path is the one thread that stores and places entries in order; cleaning,
signing and making the verification features of an entry take about as long as placing it, and
depend on nothing but its title and text — and on its feed's learned boilerplate, which drops
the lines it has learned. A parser process therefore does that work with the general furniture
patterns alone and hands it over (``Prework``), with the keys of the lines learned boilerplate
could drop. The placing side uses it only when it was made from the same title and text and
the feed's boilerplate, as learned at that moment, drops none of those lines: then cleaning
there gives the same result, so the signature and features are the ones it would have made.
Otherwise it cleans the entry itself, as before. Every hash here is the same in every process.

``aggregator dedup rebuild`` learns every feed's boilerplate before it places anything, so it
hands its workers each entry's feed's learned line keys (``drop``): they leave those lines out
as the engine would, and their work stays valid for feeds with furniture too.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import numpy as np
import xxhash

from aggregator.dedup.boilerplate import MAX_LINE, line_key
from aggregator.dedup.signature import Signature, sign_many
from aggregator.dedup.text import Detail, Features, clean_lines, features, general_lines, sign_tokens
from aggregator.dedup.titles import Headline, headline


@dataclass(frozen=True, slots=True)
class Prework:
    source: int  # ``source_key`` of the title and text it was made from
    line_keys: np.ndarray  # ``line_key`` of each kept line learned boilerplate could drop
    signature: Signature
    features: Features  # with its detail made

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Crossing back from a parser process, an entry's dozen small arrays travel as one
        buffer and a few numbers: pickled one by one, they cost about 85 µs an entry to dump
        and 45 to load, on the placing side's critical path; as one buffer, 20 to 30 each."""
        f, s = self.features, self.signature
        d = f.detail
        sets = (
            self.line_keys,
            f.token_set,
            f.lead_set,
            d.numbers,
            d.names,
            d.trigrams,
            d.title_set,
            d.title_names,
            d.words,
        )
        blob = b"".join([a.astype(np.int64, copy=False).tobytes() for a in sets])
        minhashes = np.concatenate([s.full, s.lead]).astype(np.uint32, copy=False).tobytes()
        sizes = tuple(a.size for a in sets)
        head = (s.full.size, s.full_size, s.lead_size, s.algo_version, s.num_perm, s.seed, d.filed)
        return _unpack, (self.source, blob, minhashes, sizes, head)


def _unpack(
    source: int, blob: bytes, minhashes: bytes, sizes: tuple[int, ...], head: tuple[int, ...]
) -> Prework:
    """``Prework.__reduce__`` undone. The sets are read-only views of the one buffer (they are
    only ever compared), which lives as long as the features; the signature and the line keys,
    which may outlive them, are apart from it."""
    perm, full_size, lead_size, algo_version, num_perm, seed, filed = head
    every = np.frombuffer(blob, dtype=np.int64)
    sets, at = [], 0
    for n in sizes:
        sets.append(every[at : at + n])
        at += n
    u32 = np.frombuffer(minhashes, dtype=np.uint32).copy()
    keys, token_set, lead_set, numbers, names, trigrams, title_set, title_names, words = sets
    signature = Signature(u32[:perm], u32[perm:], full_size, lead_size, algo_version, num_perm, seed)
    return Prework(
        source,
        keys.copy(),
        signature,
        Features.made(
            token_set, lead_set, Detail(numbers, names, trigrams, title_set, title_names, words, filed)
        ),
    )


def source_key(title: str, text: str) -> int:
    return xxhash.xxh3_64_intdigest(f"{title}\0{text}".encode())


def prework(items: Sequence[tuple[str, str]], drop: Sequence[AbstractSet[int]] = ()) -> list[Prework]:
    """The dedup work of these (title, text) entries, signed together (one NumPy pass).
    ``drop[i]``, when given: the ``line_key`` of every line item ``i``'s feed has learned as
    boilerplate (``Boilerplate.learned``), left out like the engine leaves them out."""
    kept = [general_lines(text.split("\n")) for _, text in items]
    for i, learned in enumerate(drop):
        if learned:
            kept[i] = [ln for ln in kept[i] if len(ln) > MAX_LINE or line_key(ln) not in learned]
    cleaned = [clean_lines(title, lines) for (title, _), lines in zip(items, kept, strict=True)]
    signatures = sign_many([sign_tokens(c) for c in cleaned])
    out = []
    for (title, text), lines, c, signature in zip(items, kept, cleaned, signatures, strict=True):
        f = features(c)
        f.detail  # noqa: B018  (made here, on the parser's core)
        keys = np.array([line_key(line) for line in lines if len(line) <= MAX_LINE], dtype=np.int64)
        out.append(Prework(source_key(title, text), keys, signature, f))
    return out


def prework_and_headlines(
    items: Sequence[tuple[str, str, str]], drop: Sequence[AbstractSet[int]]
) -> tuple[list[Prework], list[Headline]]:
    """``prework`` of these (title, text, url) entries, and their headlines. A headline drops the
    title affixes its feed has learned, so it is only made where the learning is finished and
    ``drop[i]`` holds all of it: ``dedup rebuild``, which learns every feed before it places."""
    work = prework([(title, text) for title, text, _ in items], drop)
    pairs = zip(items, drop, strict=True)
    heads = [headline(title, learned.__contains__, url) for (title, _, url), learned in pairs]
    return work, heads
