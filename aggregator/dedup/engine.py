"""The near-duplicate engine: candidates from LSH, verified, placed without chaining.

In memory and pure: the store feeds it documents and persists what it returns (signatures,
boilerplate counts, placements). After a restart it is rebuilt from stored signatures with
``add_many`` — no text is re-read until a candidate needs verifying.

Work is done a batch at a time (the new entries of one feed run): ``prepare`` signs them, finds
their LSH candidates — in the index and among each other — and ranks them on the signatures
alone by estimated containment, each step one numpy operation for the whole batch; then
``assign`` places them one by one, verifying on their texts only the plausible candidates, a
few per story. So the cost of a new entry stays flat however many entries the window holds.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from aggregator.dedup.boilerplate import Boilerplate
from aggregator.dedup.index import MAX_BUCKET, BandIndex
from aggregator.dedup.signature import NUM_PERM, Signature, sign_many
from aggregator.dedup.text import Cleaned, Features, attributions, clean, features, sign_tokens
from aggregator.dedup.verify import STORY_SUPPORT, STORY_VETOES, Verdict, verify

# LSH banding (bands x rows of the 128 MinHash values). Probability that a pair with Jaccard J
# becomes a candidate: 1 - (1 - J**rows)**bands. Measured on the dev corpus: 99.86% of its
# same-story pairs are expected to meet through one or the other, and an entry meets ~80
# unrelated ones at 100,000 in the window (42x3 for the full text too: 99.90%, but ~170).
FULL_BANDS, FULL_ROWS = 32, 4  # J=0.5: 87%, J=0.6: 98%, J=0.2: 5% (unrelated text stays out)
LEAD_BANDS, LEAD_ROWS = 42, 3  # J=0.3: 68%, J=0.5: 99.6%: a summary shares most of an opening
MIN_SIGNED = 5  # entries with fewer distinct content words are not indexed: too little to match
PLAUSIBLE = 0.45  # estimated containment (from the signatures) a candidate needs to be verified;
#                   true pairs of the dev corpus: 99.5% estimate >= 0.6, 0.08% < 0.45
MAX_VERIFY = 12  # verifications per new entry at most...
PER_STORY = 4  # ...and per candidate story, best estimate first (one member may veto, another match)
SUPPORT_SAMPLE = 4  # members of a story a newcomer is also compared with
CACHE_SIZE = 8192  # feature sets kept in memory (LRU; ~6 KB each: ~50 MB at most)
COMPACT_AFTER = 4096  # forgotten rows tolerated before the arrays and indexes are rebuilt


@dataclass(frozen=True, slots=True)
class DedupSettings:
    """The knobs users may set under ``dedup:`` in feeds.yaml."""

    enabled: bool = True
    # Copies further apart in time than this are never compared. Longer finds late re-posts;
    # shorter keeps recurring templates (daily reports) from ever meeting.
    window: timedelta = timedelta(days=3)
    # Join copies that share most content words but few exact phrases (reworded, spun). Off:
    # only verbatim copies and excerpts join, and content-farm rewrites stay separate items.
    reworded: bool = True
    # Join an excerpt or summary to its full article. Off: excerpt-only feeds stay apart.
    excerpts: bool = True

    def allows(self, method: str) -> bool:
        """Whether a match found by ``method`` ("copy", "reworded", "excerpt") may join."""
        return (method != "reworded" or self.reworded) and (method != "excerpt" or self.excerpts)


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
    """A new entry made ready to place: its cleaned text, signatures, and its plausible
    candidates as (row, estimated containment), best first — rows of entries in the index and
    of entries prepared before it in the same batch."""

    cleaned: Cleaned
    signature: Signature
    candidates: list[tuple[int, float]]


class _Rows:
    """Per-entry state in numpy columns (one row an entry), so filtering and ranking the
    candidates LSH returns are a few vectorised steps, and an entry costs ~1 KB of signatures
    plus ~30 bytes here."""

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self.entry = np.zeros(capacity, dtype=np.int64)
        self.story = np.zeros(capacity, dtype=np.int64)
        self.time = np.zeros(capacity, dtype=np.float64)
        self.alive = np.zeros(capacity, dtype=bool)
        self.full_size = np.zeros(capacity, dtype=np.uint16)
        self.lead_size = np.zeros(capacity, dtype=np.uint16)
        self.full = np.zeros((capacity, NUM_PERM), dtype=np.uint32)
        self.lead = np.zeros((capacity, NUM_PERM), dtype=np.uint32)

    _COLUMNS = ("entry", "story", "time", "alive", "full_size", "lead_size", "full", "lead")

    def reserve(self, extra: int) -> None:
        need = self.n + extra
        if need <= self.entry.shape[0]:
            return
        size = max(need, self.entry.shape[0] * 3 // 2)  # by half: less slack than doubling
        for name in self._COLUMNS:
            old = getattr(self, name)
            new = np.zeros((size, *old.shape[1:]), dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def append(
        self,
        entries: np.ndarray,
        stories: np.ndarray,
        times: np.ndarray,
        sigs: Sequence[Signature],
        *,
        alive: bool,
    ) -> np.ndarray:
        k = entries.size
        self.reserve(k)
        rows = np.arange(self.n, self.n + k)
        self.entry[rows], self.story[rows], self.time[rows], self.alive[rows] = entries, stories, times, alive
        self.full_size[rows] = [min(s.full_size, 0xFFFF) for s in sigs]
        self.lead_size[rows] = [min(s.lead_size, 0xFFFF) for s in sigs]
        if k == 1:
            self.full[self.n], self.lead[self.n] = sigs[0].full, sigs[0].lead
        else:
            self.full[rows] = np.stack([s.full for s in sigs])
            self.lead[rows] = np.stack([s.lead for s in sigs])
        self.n += k
        return rows

    def indexed(self, rows: np.ndarray | slice) -> np.ndarray:
        """Which of ``rows`` go into the LSH index: decided from what is stored (the size of the
        signed word set), so a restarted engine indexes exactly what a running one did."""
        mask: np.ndarray = self.full_size[rows] >= MIN_SIGNED
        return mask

    def keep(self, rows: np.ndarray) -> None:
        """Keep only ``rows`` (in this order), renumbered from 0."""
        for name in self._COLUMNS:
            col = getattr(self, name)
            setattr(self, name, col[rows].copy())
        self.n = rows.size

    def nbytes(self) -> int:
        return int(sum(getattr(self, name).nbytes for name in self._COLUMNS))


def _containment(j: np.ndarray, a: int, b: np.ndarray) -> np.ndarray:
    """Containment of the smaller set in the larger, from their Jaccard estimate and sizes:
    |A∩B| = J(|A|+|B|)/(1+J)."""
    small = np.maximum(np.minimum(a, b), 1)
    c: np.ndarray = np.minimum(j / (1.0 + j) * (a + b) / small, 1.0)
    return c


class Engine:
    def __init__(
        self, settings: DedupSettings, lookup: Callable[[Sequence[int]], Sequence[DedupDoc]]
    ) -> None:
        self.settings = settings
        self.lookup = lookup
        self.boilerplate = Boilerplate()
        self.index = BandIndex([(FULL_BANDS, FULL_ROWS), (LEAD_BANDS, LEAD_ROWS)])
        self._rows = _Rows()
        self._row_of: dict[int, int] = {}  # placed entries
        self._prepared: dict[int, int] = {}  # entries prepared, not placed yet -> their rows
        self._unindexed: list[int] = []  # rows placed since the last batch, keys not in the index
        self._keys: dict[int, np.ndarray] = {}  # band keys of rows prepared, until indexed
        # story -> its entry, or its entries once it has several (most stories have one)
        self._stories: dict[int, int | list[int]] = {}
        self._dead = 0
        self._max_entry = 0
        self._cache: OrderedDict[int, Features] = OrderedDict()
        # work done, for benchmarks and metrics: LSH rows, plausible candidates, verifications,
        # feature sets computed from stored texts
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------------ features
    def clean(self, doc: DedupDoc) -> Cleaned:
        return clean(doc.title, doc.text, lambda ln: self.boilerplate.is_boilerplate(doc.feed_id, ln))

    def features_of(self, doc: DedupDoc) -> Features:
        return features(self.clean(doc))

    def _remember(self, entry_id: int, f: Features) -> None:
        self._cache[entry_id] = f
        self._cache.move_to_end(entry_id)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def _features(self, ids: Sequence[int]) -> dict[int, Features]:
        out = {i: self._cache[i] for i in ids if i in self._cache}
        missing = [i for i in ids if i not in out]
        self.stats["texts_read"] += len(missing)
        for doc in self.lookup(missing) if missing else ():
            out[doc.entry_id] = self.features_of(doc)
            self._remember(doc.entry_id, out[doc.entry_id])
        return out

    def _own_features(self, doc: DedupDoc, prep: Prepared) -> Features:
        f = self._cache.get(doc.entry_id)
        if f is None:
            f = features(prep.cleaned)
            self._remember(doc.entry_id, f)
        return f

    def sign(self, doc: DedupDoc) -> Signature:
        """The signature of a stored entry (to re-sign one made by another algorithm version)."""
        return sign_many([sign_tokens(self.clean(doc))])[0]

    # ------------------------------------------------------------------ a batch of new entries
    def prepare(self, docs: Sequence[DedupDoc]) -> list[Prepared]:
        """Sign a batch of new entries and find their plausible candidates (see the module doc).

        Rows are made for them now, marked placed only by ``add``; the candidates of each are
        entries already placed and entries earlier in ``docs``.
        """
        self._forget_unplaced()
        self._index_placed()
        if not docs:
            return []
        cleaned = [self.clean(d) for d in docs]
        sigs = sign_many([sign_tokens(c) for c in cleaned])
        r = self._rows
        rows = r.append(
            np.array([d.entry_id for d in docs], dtype=np.int64),
            np.full(len(docs), -1, dtype=np.int64),
            np.array([d.time.timestamp() for d in docs], dtype=np.float64),
            sigs,
            alive=False,
        )
        for d, row in zip(docs, rows.tolist(), strict=True):
            self._prepared[d.entry_id] = row
        ok = np.flatnonzero(r.indexed(rows))
        ranked: dict[int, list[tuple[int, float]]] = {}
        if ok.size:
            pos, found = self._candidate_rows(rows[ok])
            ranked = self._rank(rows, ok[pos], found)
        return [Prepared(c, s, ranked.get(i, [])) for i, (c, s) in enumerate(zip(cleaned, sigs, strict=True))]

    def _candidate_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``rows``, candidate row) pairs: LSH hits in the index and in the batch."""
        r = self._rows
        keys = self.index.keys(r.full[rows], r.lead[rows])
        self._keys.update(zip(rows.tolist(), keys, strict=True))  # for indexing them once placed
        mine, shared = self._within_batch(rows, keys) if rows.size > 1 else ([], None)
        pos, found = self.index.query(keys, extra=shared)
        if mine:
            pairs = np.unique(np.array(mine, dtype=np.int64), axis=0)
            pos, found = np.concatenate([pos, pairs[:, 0]]), np.concatenate([found, pairs[:, 1]])
        self.stats["lsh_rows"] += pos.size
        return pos, found

    def _within_batch(self, rows: np.ndarray, keys: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
        """Pairs (position, row of an earlier entry of the batch) sharing a band key, and for
        each key how many other entries of the batch have it (they count towards its bucket)."""
        flat = keys.ravel()
        order = np.argsort(flat, kind="stable")
        sorted_keys = flat[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        sizes = np.diff(np.r_[starts, flat.size])
        others = np.empty(flat.size, dtype=np.int64)
        others[order] = np.repeat(sizes - 1, sizes)
        mine: list[tuple[int, int]] = []
        for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
            if size > MAX_BUCKET:
                continue
            members = sorted({int(x) // self.index.bands for x in order[start : start + size]})
            mine.extend((j, int(rows[i])) for n, j in enumerate(members) for i in members[:n])
        return mine, others.reshape(keys.shape)

    def _rank(
        self, rows: np.ndarray, pos: np.ndarray, found: np.ndarray
    ) -> dict[int, list[tuple[int, float]]]:
        """Per position in the batch: plausible candidate rows, best estimate first.

        The estimate is the larger of the full texts' and the leads' containment, estimated
        from the signatures; ties go to the lowest entry id (deterministic).
        """
        if not pos.size:
            return {}
        r = self._rows
        me = rows[pos]
        near = np.abs(r.time[found] - r.time[me]) <= self.settings.window.total_seconds()
        near &= (r.alive[found] | (found >= rows[0])) & (found != me)  # placed, or of this batch
        pos, me, found = pos[near], me[near], found[near]
        full = _containment((r.full[found] == r.full[me]).mean(axis=1), r.full_size[me], r.full_size[found])
        lead = _containment((r.lead[found] == r.lead[me]).mean(axis=1), r.lead_size[me], r.lead_size[found])
        est = np.maximum(full, lead)
        keep = est >= PLAUSIBLE
        pos, found, est = pos[keep], found[keep], est[keep]
        self.stats["plausible"] += pos.size
        order = np.lexsort((r.entry[found], -est, pos))
        out: dict[int, list[tuple[int, float]]] = {}
        for p, row, e in zip(pos[order].tolist(), found[order].tolist(), est[order].tolist(), strict=True):
            out.setdefault(p, []).append((row, e))
        return out

    def _shortlist(self, prep: Prepared) -> list[int]:
        """Entries to verify: the best few of each story, stories by their best estimate."""
        r = self._rows
        taken: dict[int, int] = {}
        out: list[int] = []
        for row, _ in prep.candidates:
            if not r.alive[row]:  # forgotten since, or prepared in this batch but not placed
                continue
            story = int(r.story[row])
            if taken.get(story, 0) < PER_STORY:
                taken[story] = taken.get(story, 0) + 1
                out.append(int(r.entry[row]))
                if len(out) == MAX_VERIFY:
                    break
        return out

    def assign(self, doc: DedupDoc, prep: Prepared) -> Decision:
        shortlist = self._shortlist(prep)
        if not shortlist:
            return Decision(None, None, "first", None)
        mine = self._own_features(doc, prep)
        feats = self._features(shortlist)
        verdicts: dict[int, Verdict] = {i: verify(mine, feats[i]) for i in shortlist if i in feats}
        self.stats["verified"] += len(verdicts)
        best: dict[int, tuple[float, int]] = {}
        for i, v in verdicts.items():
            sid = self.story_of(i)
            if (
                v.same
                and self.settings.allows(v.method)
                and sid is not None
                and (sid not in best or (v.score, -i) > (best[sid][0], -best[sid][1]))
            ):
                best[sid] = (v.score, i)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
        for sid, (score, matched) in ranked:
            if self._supported(mine, sid, matched, verdicts):
                v = verdicts[matched]
                return Decision(sid, matched, f"similar:{v.method}", score, v.detail)
        return Decision(None, None, "first", None)

    def _supported(self, f: Features, story_id: int, matched: int, verdicts: dict[int, Verdict]) -> bool:
        """Anti-chaining: the newcomer must also resemble the story's other members."""
        others = [m for m in self.members(story_id) if m != matched][:SUPPORT_SAMPLE]
        if not others:
            return True
        feats = self._features([m for m in others if m not in verdicts])
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
    def add(self, entry_id: int, story_id: int, time: datetime, sig: Signature) -> None:
        """Place an entry in its story: one ``prepare`` made ready, or any other (indexed now)."""
        row = self._prepared.pop(entry_id, None)
        if row is None:
            self.add_many([(entry_id, story_id, time, sig)])
            return
        if entry_id in self._row_of:  # placed before under another row: keep that one
            self.move(entry_id, story_id)
            return
        r = self._rows
        r.story[row], r.alive[row] = story_id, True
        self._row_of[entry_id] = row
        self._join(entry_id, story_id)
        self._max_entry = max(self._max_entry, entry_id)
        if r.indexed(slice(row, row + 1))[0]:
            self._unindexed.append(row)

    def _index_placed(self) -> None:
        """Index the rows placed since the last batch (their batch found them among each other)."""
        if self._unindexed:
            rows = np.array(self._unindexed, dtype=np.int64)
            keys = np.stack([self._keys.pop(row) for row in self._unindexed])
            self._unindexed = []
            self.index.add(rows, keys)

    def _forget_unplaced(self) -> None:
        """Rows of a batch's entries that were never placed (a failed run) are dead."""
        for row in self._prepared.values():
            self._rows.entry[row] = -1
            self._keys.pop(row, None)
            self._dead += 1
        self._prepared.clear()

    def add_many(self, items: Sequence[tuple[int, int, datetime, Signature]]) -> None:
        """Index entries (a whole window at start-up, or another process's); known ones change story."""
        fresh = []
        for entry_id, story_id, time, sig in items:
            if entry_id in self._row_of:
                self.move(entry_id, story_id)
            else:
                fresh.append((entry_id, story_id, time, sig))
        if not fresh:
            return
        self._index_placed()
        entries = np.array([f[0] for f in fresh], dtype=np.int64)
        stories = np.array([f[1] for f in fresh], dtype=np.int64)
        times = np.array([f[2].timestamp() for f in fresh], dtype=np.float64)
        rows = self._rows.append(entries, stories, times, [f[3] for f in fresh], alive=True)
        for entry_id, story_id, row in zip(entries.tolist(), stories.tolist(), rows.tolist(), strict=True):
            self._row_of[entry_id] = row
            self._join(entry_id, story_id)
        self._max_entry = max(self._max_entry, int(entries.max()))
        rows = rows[self._rows.indexed(rows)]
        self.index.add(rows, self.index.keys(self._rows.full[rows], self._rows.lead[rows]))

    def _join(self, entry_id: int, story_id: int) -> None:
        held = self._stories.get(story_id)
        if held is None:
            self._stories[story_id] = entry_id
        elif isinstance(held, int):
            self._stories[story_id] = [held, entry_id]
        else:
            held.append(entry_id)

    def _leave(self, entry_id: int, story_id: int) -> None:
        held = self._stories.get(story_id)
        if held == entry_id:
            del self._stories[story_id]
        elif isinstance(held, list) and entry_id in held:
            held.remove(entry_id)
            if len(held) == 1:
                self._stories[story_id] = held[0]

    def members(self, story_id: int) -> list[int]:
        held = self._stories.get(story_id)
        return [] if held is None else [held] if isinstance(held, int) else list(held)

    def move(self, entry_id: int, story_id: int) -> None:
        row = self._row_of[entry_id]
        old = int(self._rows.story[row])
        if old == story_id:
            return
        self._leave(entry_id, old)
        self._rows.story[row] = story_id
        self._join(entry_id, story_id)

    def remove(self, entry_ids: set[int]) -> None:
        """Forget entries (retention); the arrays are compacted once many rows are dead."""
        for i in entry_ids:
            row = self._row_of.pop(i, None)
            if row is None:
                continue
            self._leave(i, int(self._rows.story[row]))
            self._rows.alive[row] = False
            self._cache.pop(i, None)
            self._dead += 1
        if self._dead > max(COMPACT_AFTER, len(self._row_of)):
            self._compact()

    def _compact(self) -> None:
        """Drop dead rows: renumber the rest and rebuild the index from their signatures."""
        self._forget_unplaced()
        self._unindexed, self._keys = [], {}
        r = self._rows
        r.keep(np.flatnonzero(r.alive[: r.n]))
        self._row_of = {int(e): row for row, e in enumerate(r.entry[: r.n].tolist())}
        self._dead = 0
        ok = np.flatnonzero(r.indexed(slice(0, r.n)))
        self.index.rebuild(ok, self.index.keys(r.full[ok], r.lead[ok]))

    def max_entry_id(self) -> int:
        return self._max_entry

    def story_of(self, entry_id: int) -> int | None:
        row = self._row_of.get(entry_id)
        return None if row is None else int(self._rows.story[row])

    def signature_of(self, entry_id: int) -> Signature | None:
        row = self._row_of.get(entry_id)
        if row is None:
            return None
        r = self._rows
        return Signature(r.full[row].copy(), r.lead[row].copy(), int(r.full_size[row]), int(r.lead_size[row]))

    def explain(self, a: DedupDoc, b: DedupDoc) -> Verdict:
        return verify(self.features_of(a), self.features_of(b))

    def attributions(self, doc: DedupDoc) -> tuple[str, ...]:
        return attributions(doc.text)

    def memory(self) -> dict[str, int]:
        """Bytes held by the index structures (the feature cache is bounded apart)."""
        r = self._rows
        return {
            "bands": self.index.nbytes(),
            "signatures": int(r.full.nbytes + r.lead.nbytes),
            "columns": r.nbytes() - int(r.full.nbytes + r.lead.nbytes),
        }

    def __len__(self) -> int:
        return len(self._row_of)
