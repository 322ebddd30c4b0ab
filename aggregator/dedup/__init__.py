"""Same-story detection: text cleaning, MinHash LSH candidates, verification, election.

Identity matches (same GUID, canonical URL or text) are found before this runs; this package
handles copies that differ: syndicated under another headline, reworded (spun), excerpted,
edited. Pure and in memory: it takes values, returns values, and reads nothing itself;
``aggregator.cluster`` connects it to the store.
"""

from aggregator.dedup.batch import Placing, Prepared, Slot
from aggregator.dedup.elect import MemberInfo, elect_representative
from aggregator.dedup.engine import Decision, DedupDoc, DedupSettings, Engine, Indexed
from aggregator.dedup.signature import ALGO_VERSION, NUM_PERM, SEED, Signature

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
