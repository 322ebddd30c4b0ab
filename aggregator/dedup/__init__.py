"""Same-story detection: text cleaning, MinHash LSH candidates, verification, election.

Identity matches (same GUID, canonical URL or text) are found before this runs; this package
handles copies that differ: syndicated under another headline, reworded (spun), excerpted,
edited. Pure and in memory: it takes values, returns values, and reads nothing itself;
``aggregator.cluster`` connects it to the store.

The names below are imported on first use: a process that never forms stories (a round of
304s, the web server) does not load NumPy for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aggregator.dedup.batch import Placing as Placing
    from aggregator.dedup.batch import Prepared as Prepared
    from aggregator.dedup.batch import Slot as Slot
    from aggregator.dedup.elect import MemberInfo as MemberInfo
    from aggregator.dedup.elect import elect_representative as elect_representative
    from aggregator.dedup.engine import Decision as Decision
    from aggregator.dedup.engine import DedupDoc as DedupDoc
    from aggregator.dedup.engine import Engine as Engine
    from aggregator.dedup.engine import Indexed as Indexed
    from aggregator.dedup.settings import DedupSettings as DedupSettings
    from aggregator.dedup.signature import ALGO_VERSION as ALGO_VERSION
    from aggregator.dedup.signature import NUM_PERM as NUM_PERM
    from aggregator.dedup.signature import SEED as SEED
    from aggregator.dedup.signature import Signature as Signature

_WHERE = {
    "Placing": "batch",
    "Prepared": "batch",
    "Slot": "batch",
    "MemberInfo": "elect",
    "elect_representative": "elect",
    "Decision": "engine",
    "DedupDoc": "engine",
    "Engine": "engine",
    "Indexed": "engine",
    "DedupSettings": "settings",
    "ALGO_VERSION": "signature",
    "NUM_PERM": "signature",
    "SEED": "signature",
    "Signature": "signature",
}
__all__ = [
    "ALGO_VERSION",
    "NUM_PERM",
    "SEED",
    "Decision",
    "DedupDoc",
    "DedupSettings",
    "Engine",
    "Indexed",
    "MemberInfo",
    "Placing",
    "Prepared",
    "Signature",
    "Slot",
    "elect_representative",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
