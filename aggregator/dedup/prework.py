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

import numpy as np
import xxhash

from aggregator.dedup.boilerplate import MAX_LINE, line_key
from aggregator.dedup.signature import Signature, sign_many
from aggregator.dedup.text import Features, clean_lines, features, general_lines, sign_tokens


@dataclass(frozen=True, slots=True)
class Prework:
    source: int  # ``source_key`` of the title and text it was made from
    line_keys: np.ndarray  # ``line_key`` of each kept line learned boilerplate could drop
    signature: Signature
    features: Features  # with its detail made


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
