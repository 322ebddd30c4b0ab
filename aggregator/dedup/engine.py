"""The near-duplicate engine: candidates from LSH, verified, placed without chaining.

In memory and pure: the store feeds it documents and persists what it returns (signatures,
boilerplate counts, placements). After a restart it is rebuilt from stored signatures with
``add`` — no text is re-read until a candidate needs verifying.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from aggregator.dedup.boilerplate import Boilerplate
from aggregator.dedup.index import BandIndex
from aggregator.dedup.signature import NUM_PERM, Signature, sign
from aggregator.dedup.text import LEAD_TOKENS, Features, analyse, attributions, strip_furniture
from aggregator.dedup.verify import MIN_TOKENS, STORY_SUPPORT, STORY_VETOES, Verdict, verify

# LSH banding (bands x rows of the 128 MinHash values). Probability that a pair with Jaccard J
# becomes a candidate: 1 - (1 - J**rows)**bands.
FULL_BANDS, FULL_ROWS = 42, 3  # J=0.3: 68%, J=0.45: 98%, J=0.1: 4% (unrelated text stays out)
LEAD_BANDS, LEAD_ROWS = 64, 2  # openings vs excerpts are small sets: J=0.25: 98%, J=0.1: 47%
MAX_CANDIDATES = 12  # verified per new entry, best estimated similarity first
MIN_ESTIMATE = 1 / 64  # candidates sharing fewer MinHash values than this are LSH noise
SUPPORT_SAMPLE = 4  # members of a story a newcomer is also compared with
CACHE_SIZE = 16_384  # feature sets kept in memory (LRU; ~8 KB each: ~130 MB at most)


@dataclass(frozen=True, slots=True)
class DedupSettings:
    """The knobs users may set under ``dedup:`` in feeds.yaml."""

    enabled: bool = True
    # Copies further apart in time than this are never compared. Longer finds late re-posts;
    # shorter keeps recurring templates (daily reports) from ever meeting.
    window: timedelta = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class DedupDoc:
    entry_id: int
    feed_id: int
    title: str
    text: str
    time: datetime  # effective time: published, or first seen when the feed gave no date


@dataclass(frozen=True, slots=True)
class Decision:
    story_id: int | None  # None: start a new story
    matched_entry_id: int | None
    match: str  # "similar:<method>" when joined
    similarity: float | None
    detail: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prepared:
    features: Features
    signature: Signature
    indexable: bool


class Engine:
    def __init__(
        self, settings: DedupSettings, lookup: Callable[[Sequence[int]], Sequence[DedupDoc]]
    ) -> None:
        self.settings = settings
        self.lookup = lookup
        self.boilerplate = Boilerplate()
        self.full = BandIndex(FULL_BANDS, FULL_ROWS)
        self.lead = BandIndex(LEAD_BANDS, LEAD_ROWS)
        self._story: dict[int, int] = {}
        self._members: dict[int, list[int]] = defaultdict(list)
        # Per-entry state in rows of numpy arrays, so candidate filtering and ranking are a few
        # vectorised steps however many candidates LSH returns; the LSH indexes store row numbers.
        self._row: dict[int, int] = {}
        self._n = 0
        self._entry = np.zeros(1024, dtype=np.int64)
        self._time = np.zeros(1024, dtype=np.float64)
        self._alive = np.zeros(1024, dtype=bool)
        self._full_sigs = np.empty((1024, NUM_PERM), dtype=np.uint32)
        self._lead_sigs = np.empty((1024, NUM_PERM), dtype=np.uint32)
        self._cache: OrderedDict[int, Features] = OrderedDict()

    # ------------------------------------------------------------------ features
    def features_of(self, doc: DedupDoc) -> Features:
        return self._analyse(doc)[0]

    def _analyse(self, doc: DedupDoc) -> tuple[Features, list[str]]:
        lines = doc.text.split("\n")
        kept, dateline = strip_furniture(lines, lambda ln: self.boilerplate.is_boilerplate(doc.feed_id, ln))
        return analyse(doc.title, kept, dateline)

    def prepare(self, doc: DedupDoc) -> Prepared:
        f, tokens = self._analyse(doc)
        self._remember(doc.entry_id, f)
        sig = sign(tokens, tokens[:LEAD_TOKENS])
        return Prepared(f, sig, f.token_set.size >= MIN_TOKENS)

    def _remember(self, entry_id: int, f: Features) -> None:
        self._cache[entry_id] = f
        self._cache.move_to_end(entry_id)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def _features(self, ids: Sequence[int]) -> dict[int, Features]:
        out = {i: self._cache[i] for i in ids if i in self._cache}
        missing = [i for i in ids if i not in out]
        for doc in self.lookup(missing) if missing else ():
            out[doc.entry_id] = self.features_of(doc)
            self._remember(doc.entry_id, out[doc.entry_id])
        return out

    # ------------------------------------------------------------------ decisions
    def candidates(self, doc: DedupDoc, prep: Prepared) -> list[int]:
        """Entry ids worth verifying: LSH hits in the time window, best signature agreement first."""
        if not prep.indexable:
            return []
        rows = np.union1d(self.full.query(prep.signature.full), self.lead.query(prep.signature.lead))
        if not rows.size:
            return []
        t, w = doc.time.timestamp(), self.settings.window.total_seconds()
        rows = rows[self._alive[rows] & (np.abs(self._time[rows] - t) <= w)]
        rows = rows[self._entry[rows] != doc.entry_id]
        if not rows.size:
            return []
        est = np.maximum(
            (self._full_sigs[rows] == prep.signature.full).mean(axis=1),
            (self._lead_sigs[rows] == prep.signature.lead).mean(axis=1),
        )
        keep = est >= MIN_ESTIMATE
        rows, est = rows[keep], est[keep]
        if rows.size > MAX_CANDIDATES:
            top = np.argpartition(-est, MAX_CANDIDATES - 1)[:MAX_CANDIDATES]
            rows, est = rows[top], est[top]
        ids = self._entry[rows]
        order = np.lexsort((ids, -est))  # best estimate first, ties by lowest entry id
        return [int(i) for i in ids[order]]

    def assign(self, doc: DedupDoc, prep: Prepared) -> Decision:
        cands = self.candidates(doc, prep)
        if not cands:
            return Decision(None, None, "first", None)
        feats = self._features(cands)
        verdicts: dict[int, Verdict] = {i: verify(prep.features, feats[i]) for i in cands if i in feats}
        best: dict[int, tuple[float, int]] = {}
        for i, v in verdicts.items():
            if v.same:
                sid = self._story[i]
                if sid not in best or (v.score, -i) > (best[sid][0], -best[sid][1]):
                    best[sid] = (v.score, i)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
        for sid, (score, matched) in ranked:
            if self._supported(prep.features, sid, matched, verdicts):
                v = verdicts[matched]
                return Decision(sid, matched, f"similar:{v.method}", score, v.detail)
        return Decision(None, None, "first", None)

    def _supported(self, f: Features, story_id: int, matched: int, verdicts: dict[int, Verdict]) -> bool:
        """Anti-chaining: the newcomer must also resemble the story's other members."""
        others = [m for m in self._members[story_id] if m != matched][:SUPPORT_SAMPLE]
        if not others:
            return True
        feats = self._features(others)
        scores = []
        for m in others:
            v = verdicts.get(m) or (verify(f, feats[m]) if m in feats else None)
            if v is None:
                continue
            if v.method in STORY_VETOES:
                return False
            scores.append(max(v.detail.get("containment", 0.0), v.detail.get("lead", 0.0)))
        return not scores or sum(scores) / len(scores) >= STORY_SUPPORT

    # ------------------------------------------------------------------ state
    def add(
        self, entry_id: int, story_id: int, time: datetime, sig: Signature, indexable: bool = True
    ) -> None:
        if entry_id in self._story:
            self.move(entry_id, story_id)
            return
        self._story[entry_id] = story_id
        self._members[story_id].append(entry_id)
        row = self._new_row(entry_id, time, sig)
        if indexable:
            self.full.add(row, sig.full)
            self.lead.add(row, sig.lead)

    def _new_row(self, entry_id: int, time: datetime, sig: Signature) -> int:
        row = self._n
        if row == self._entry.shape[0]:
            size = row + row // 2  # grow by half: less slack than doubling at 100k entries
            self._entry = np.resize(self._entry, size)
            self._time = np.resize(self._time, size)
            self._alive = np.resize(self._alive, size)
            self._full_sigs = np.resize(self._full_sigs, (size, NUM_PERM))
            self._lead_sigs = np.resize(self._lead_sigs, (size, NUM_PERM))
        self._entry[row], self._time[row], self._alive[row] = entry_id, time.timestamp(), True
        self._full_sigs[row], self._lead_sigs[row] = sig.full, sig.lead
        self._row[entry_id] = row
        self._n += 1
        return row

    def move(self, entry_id: int, story_id: int) -> None:
        old = self._story.get(entry_id)
        if old is not None and entry_id in self._members[old]:
            self._members[old].remove(entry_id)
        self._story[entry_id] = story_id
        self._members[story_id].append(entry_id)

    def remove(self, entry_ids: set[int]) -> None:
        """Forget entries (retention): their rows are marked dead and never returned again."""
        for i in entry_ids:
            if i not in self._story:
                continue
            sid = self._story.pop(i)
            self._alive[self._row.pop(i)] = False
            self._cache.pop(i, None)
            members = self._members.get(sid)
            if members is not None and i in members:
                members.remove(i)
                if not members:
                    del self._members[sid]

    def max_entry_id(self) -> int:
        return max(self._story, default=0)

    def story_of(self, entry_id: int) -> int | None:
        return self._story.get(entry_id)

    def explain(self, a: DedupDoc, b: DedupDoc) -> Verdict:
        return verify(self.features_of(a), self.features_of(b))

    def attributions(self, doc: DedupDoc) -> tuple[str, ...]:
        return attributions(doc.text)

    def __len__(self) -> int:
        return len(self._story)
