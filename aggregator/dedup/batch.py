"""One batch of new entries through the engine: prepared, supplied with texts, placed, committed.

Each step is a type of its own, so the order is carried by the code, not by a comment:

- ``Prepared`` (from ``Engine.prepare``): the batch signed (one numpy pass), its LSH candidates
  found in the index and among each other, ranked by the containment their signatures imply;
  ``needs`` lists the stored entries whose texts verification may read (not in the cache).
- ``Placing`` (from ``Prepared.supply(texts)``): iterate it for one ``Slot`` per entry, in
  order; each is decided (only plausible candidates are verified, a few per story, and a
  newcomer must resemble a story's other members too, so unrelated stories are not chained)
  or placed by the caller's identity match. Entries of the batch see the earlier ones.
- ``Placing.commit(story_ids)``: after the caller's transaction committed, the placements
  (with the real ids of the stories the caller created) become the engine's; ``abandon``
  forgets the batch instead. Nothing reaches the engine's state before the commit, so a failed
  transaction leaves it exactly as the database is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from aggregator.dedup.arrays import unique
from aggregator.dedup.engine import TITLE_BUCKET, Decision, DedupDoc, Engine
from aggregator.dedup.index import MAX_BUCKET
from aggregator.dedup.prework import Prework, source_key
from aggregator.dedup.rows import containment
from aggregator.dedup.signature import Signature, sign_many
from aggregator.dedup.text import Cleaned, Features, features, sign_tokens
from aggregator.dedup.titles import (
    HEADLINE_HOURS,
    MIN_SHARED,
    TEMPLATE_HOURS,
    Headline,
    TitleVerdict,
    judge,
    recurs,
)
from aggregator.dedup.verify import STORY_SUPPORT, STORY_VETOES, Verdict, verify
from aggregator.models import MatchKind

PLAUSIBLE = 0.45  # estimated containment (from the signatures) a candidate needs to be verified;
#                   true pairs of the dev corpus: 99.5% estimate >= 0.6, 0.08% < 0.45
MAX_VERIFY = 12  # verifications per new entry at most...
PER_STORY = 4  # ...and per candidate story, best estimate first (one member may veto, another match)
SUPPORT_SAMPLE = 4  # members of a story a newcomer is also compared with
KEEP_RANKED = 64  # candidates kept per entry, best first (a few stories' worth of PER_STORY)
RANK_SLICE = 1 << 16  # candidate pairs estimated at a time (two 32 MB signature gathers at most)
TITLE_CANDIDATES = 200  # rows sharing headline words kept per entry, most words first
_KINDS = {"copy": MatchKind.COPY, "reworded": MatchKind.REWORDED, "excerpt": MatchKind.EXCERPT}


def _valid(engine: Engine, doc: DedupDoc, w: Prework) -> bool:
    """Whether prework stands for what cleaning ``doc`` here would give (see prework.py)."""
    return w.source == source_key(doc.title, doc.text) and not engine.boilerplate.drops_any(
        doc.feed_id, w.line_keys
    )


class Prepared:
    """A batch signed and ranked; hand ``supply`` the texts of ``needs``."""

    def __init__(
        self,
        engine: Engine,
        docs: Sequence[DedupDoc],
        prework: Sequence[Prework | None] = (),
        headlines: Sequence[Headline | None] = (),
    ) -> None:
        self._engine = engine
        self.docs = tuple(docs)
        self._cleaned: dict[int, Cleaned] = {}
        self._given: dict[int, Features] = {}  # features a parser process made (see prework.py)
        signatures: dict[int, Signature] = {}
        for i, d in enumerate(self.docs):
            w = prework[i] if i < len(prework) else None
            if w is not None and _valid(engine, d, w):
                signatures[i], self._given[i] = w.signature, w.features
            else:
                self._cleaned[i] = engine.clean(d)
        engine.stats["prework_used"] += len(self._given)
        made = iter(sign_many([sign_tokens(c) for c in self._cleaned.values()]))
        self.signatures: list[Signature] = [
            signatures[i] if i in signatures else next(made) for i in range(len(self.docs))
        ]
        given = list(headlines) + [None] * (len(self.docs) - len(headlines))
        self.headlines: list[Headline] = [
            h if h is not None else engine.headline_of(d) for d, h in zip(self.docs, given, strict=True)
        ]
        r = engine.rows
        self._rows = r.append(
            np.array([d.entry_id for d in self.docs], dtype=np.int64),
            np.full(len(self.docs), -1, dtype=np.int64),
            np.array([d.time.timestamp() for d in self.docs], dtype=np.float64),
            self.signatures,
            alive=False,
            feeds=[d.feed_id for d in self.docs],
            headlines=self.headlines,
        )
        self._titled = self._title_candidates()
        self._ok = np.flatnonzero(r.indexed(self._rows)) if self.docs else np.empty(0, dtype=np.int64)
        self._keys = np.empty((0, engine.index.bands), dtype=np.uint64)
        ranked: dict[int, list[tuple[int, float]]] = {}
        if self._ok.size:
            pos, found = self._candidate_rows(self._rows[self._ok])
            ranked = self._rank(self._ok[pos], found)
        self._candidates = [ranked.get(i, []) for i in range(len(self.docs))]
        self._pinned: dict[int, Features] = {}
        self.needs: list[int] = self._needed()
        self._done = False

    # ------------------------------------------------------------------ candidates
    def _candidate_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``rows``, candidate row) pairs: LSH hits in the index and in the batch."""
        e = self._engine
        r = e.rows
        self._keys = e.index.keys(r.full[rows], r.lead[rows])
        if rows.size < 2:
            pos, found = e.index.query(self._keys)
        else:
            later, earlier, shared = self._within_batch(self._keys)
            pos, found = e.index.query(self._keys, extra=shared)
            if later.size:
                pos, found = np.concatenate([pos, later]), np.concatenate([found, rows[earlier]])
        e.stats["lsh_rows"] += pos.size
        return pos, found

    def _within_batch(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs (later position, earlier position) of entries of the batch sharing a band key,
        and for each key how many other entries of the batch have it (they count towards its
        bucket). Buckets of one size at a time, all pairs at once: a batch of thousands of
        similar items makes millions of pairs, which Python tuples would not hold."""
        bands = self._engine.index.bands
        flat = keys.ravel()
        order = np.argsort(flat, kind="stable")
        sorted_keys = flat[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        sizes = np.diff(np.r_[starts, flat.size])
        others = np.empty(flat.size, dtype=np.int64)
        others[order] = np.repeat(sizes - 1, sizes)
        members = order // bands  # position of the entry behind each sorted key
        pairs: list[np.ndarray] = []
        for size in unique(sizes[(sizes > 1) & (sizes <= MAX_BUCKET)]).tolist():
            at = starts[sizes == size]
            group = np.sort(members[at[:, None] + np.arange(size)], axis=1)  # buckets x size
            first, second = np.triu_indices(size, 1)
            pairs.append((group[:, second].astype(np.int64) << 32 | group[:, first]).ravel())
        if not pairs:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, others.reshape(keys.shape)
        found = unique(np.concatenate(pairs))
        return found >> 32, found & 0xFFFF_FFFF, others.reshape(keys.shape)

    def _rank(self, pos: np.ndarray, found: np.ndarray) -> dict[int, list[tuple[int, float]]]:
        """Per position in the batch: plausible candidate rows, best estimate first.

        The estimate is the larger of the full texts' and the leads' containment, estimated
        from the signatures; ties go to the lowest entry id (deterministic). Pairs are estimated
        a slice at a time, so a batch with millions of candidate pairs takes bounded memory.
        """
        if not pos.size:
            return {}
        r = self._engine.rows
        first = int(self._rows[0])
        kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for at in range(0, pos.size, RANK_SLICE):
            p, found_ = pos[at : at + RANK_SLICE], found[at : at + RANK_SLICE]
            me = self._rows[p]
            near = np.abs(r.time[found_] - r.time[me]) <= self._engine.settings.window.total_seconds()
            near &= (r.alive[found_] | (found_ >= first)) & (found_ != me)  # placed, or of this batch
            p, me, found_ = p[near], me[near], found_[near]
            full = containment(
                (r.full[found_] == r.full[me]).mean(axis=1), r.full_size[me], r.full_size[found_]
            )
            lead = containment(
                (r.lead[found_] == r.lead[me]).mean(axis=1), r.lead_size[me], r.lead_size[found_]
            )
            est = np.maximum(full, lead)
            keep = est >= PLAUSIBLE
            kept.append((p[keep], found_[keep], est[keep]))
        pos = np.concatenate([k[0] for k in kept])
        found = np.concatenate([k[1] for k in kept])
        est = np.concatenate([k[2] for k in kept])
        self._engine.stats["plausible"] += pos.size
        order = np.lexsort((r.entry[found], -est, pos))
        pos, found, est = pos[order], found[order], est[order]
        # Only the best few of each entry's candidates are ever verified: keep KEEP_RANKED.
        starts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
        rank = np.arange(pos.size) - np.repeat(starts, np.diff(np.r_[starts, pos.size]))
        top = rank < KEEP_RANKED
        out: dict[int, list[tuple[int, float]]] = {}
        for p_, row, e in zip(pos[top].tolist(), found[top].tolist(), est[top].tolist(), strict=True):
            out.setdefault(p_, []).append((row, e))
        return out

    def _title_candidates(self) -> list[list[tuple[int, int]]]:
        """Per entry: (row, headline words shared) of placed entries and of earlier entries of
        the batch sharing at least ``MIN_SHARED`` headline words, most words first."""
        out: list[list[tuple[int, int]]] = [[] for _ in self.docs]
        if not self.docs:
            return out
        # An entry with text may only join a story of headlines (see ``_by_headline``): its
        # title matters only when an entry without text shares its words, and most have none.
        e, rows = self._engine, self._rows
        thin = e.rows.thin(rows)
        asking = thin.copy()
        if (~thin).any():
            hit, _, _ = e.title_pairs(rows[~thin], thin_only=True)
            asking[np.flatnonzero(~thin)[unique(hit)]] = True
        if asking.any():
            pos, found, shared = e.title_pairs(rows[asking])
            at = np.flatnonzero(asking)
            for p, row, n in zip(at[pos].tolist(), found.tolist(), shared.tolist(), strict=True):
                out[p].append((row, n))
        postings: dict[int, list[int]] = {}
        for j, h in enumerate(self.headlines):
            seen: dict[int, int] = {}
            for w in h.words:
                earlier = postings.setdefault(w, [])
                if len(earlier) <= TITLE_BUCKET:
                    for k in earlier:
                        seen[k] = seen.get(k, 0) + 1
                earlier.append(j)
            out[j].extend((int(self._rows[k]), n) for k, n in seen.items() if n >= MIN_SHARED)
        for cands in out:
            cands.sort(key=lambda c: (-c[1], c[0]))
            del cands[TITLE_CANDIDATES:]
        return out

    def _needed(self) -> list[int]:
        """Stored entries any decision of the batch may verify against: the shortlisted ones and,
        for their stories, the members the anti-chaining check reads. Those cached are pinned
        for the batch; the others are returned, for the caller to read."""
        e = self._engine
        r = e.rows
        relevant: set[int] = set()
        for cands in self._candidates:
            taken: dict[int, int] = {}
            verified = 0
            for row, _ in cands:
                if not r.alive[row]:  # of this batch: its features are at hand
                    continue
                story = int(r.story[row])
                if taken.get(story, 0) >= PER_STORY:
                    continue
                taken[story] = taken.get(story, 0) + 1
                relevant.add(int(r.entry[row]))
                verified += 1
                if verified == MAX_VERIFY:
                    break
            for story in taken:
                relevant.update(e.members(story)[: SUPPORT_SAMPLE + 1])
        missing = []
        for entry_id in sorted(relevant):
            f = e.cached(entry_id)
            if f is None:
                missing.append(entry_id)
            else:
                self._pinned[entry_id] = f
        return missing

    # ------------------------------------------------------------------ next step
    def supply(self, texts: Iterable[DedupDoc]) -> Placing:
        """The stored candidates' texts (``needs``), with the story each is in now."""
        e = self._engine
        supplied = {d.entry_id: d for d in texts}
        e.stats["texts_read"] += len(supplied)
        gone = []
        for entry_id in self.needs:
            doc = supplied.get(entry_id)
            if doc is None:  # deleted meanwhile (retention in another process)
                gone.append(entry_id)
                continue
            if doc.story_id is not None and e.story_of(entry_id) not in (None, doc.story_id):
                e.move(entry_id, doc.story_id)  # the database is the truth
            f = e.features_of(doc)
            e.remember(entry_id, f)
            self._pinned[entry_id] = f
        e.remove(gone)
        return Placing(self)

    def abandon(self) -> None:
        """Forget the batch: its rows are dead."""
        if not self._done:
            self._done = True
            self._engine.kill_rows(self._rows.tolist())
            self._engine._closed(self)


class Slot:
    """One entry of a ``Placing``: decide where it goes (or take the caller's identity match),
    then ``place`` it."""

    def __init__(self, placing: Placing, position: int) -> None:
        self._placing = placing
        self.position = position
        self.doc = placing.prepared.docs[position]
        self.signature = placing.prepared.signatures[position]
        self.placed = False

    def decide(self) -> Decision:
        return self._placing.decide(self.position)

    def place(self, story_id: int) -> None:
        """Put the entry in ``story_id`` (a caller's provisional id for a story it will create is
        fine: ``commit`` maps it to the real one)."""
        self._placing.place(self.position, story_id)
        self.placed = True


class Placing:
    """The batch being placed; see the module doc."""

    def __init__(self, prepared: Prepared) -> None:
        self.prepared = prepared
        self._engine = prepared._engine
        self._story: dict[int, int] = {}  # position -> story, once placed
        self._added: dict[int, list[int]] = {}  # story -> entries of the batch placed in it
        self._position = {d.entry_id: i for i, d in enumerate(prepared.docs)}
        self._own: dict[int, Features] = {}  # features of the batch's entries, made when needed
        self._next = 0

    def __iter__(self) -> Iterator[Slot]:
        for i in range(len(self.prepared.docs)):
            if i != self._next:
                raise RuntimeError("a slot must be placed before the next one is taken")
            yield Slot(self, i)

    # ------------------------------------------------------------------ views through the batch
    def _row_story(self, row: int, before: int) -> int | None:
        """The story of a candidate row as the ``before``-th entry of the batch sees it."""
        p = self.prepared
        first = int(p._rows[0])
        if row >= first:
            pos = row - first
            return self._story.get(pos) if pos < before else None
        r = self._engine.rows
        return int(r.story[row]) if r.alive[row] else None

    def _features(self, entry_id: int) -> Features | None:
        pos = self._position.get(entry_id)
        if pos is None:
            return self.prepared._pinned.get(entry_id)
        f = self._own.get(pos)
        if f is None:
            p = self.prepared
            f = self._own[pos] = p._given[pos] if pos in p._given else features(p._cleaned[pos])
        return f

    def members(self, story_id: int) -> list[int]:
        return self._engine.members(story_id) + self._added.get(story_id, [])

    def _shortlist(self, i: int) -> list[tuple[int, int]]:
        """(entry, story) pairs to verify: the best few of each story, stories by best estimate."""
        r = self._engine.rows
        taken: dict[int, int] = {}
        out: list[tuple[int, int]] = []
        for row, _ in self.prepared._candidates[i]:
            story = self._row_story(row, i)
            if story is None or taken.get(story, 0) >= PER_STORY:
                continue
            taken[story] = taken.get(story, 0) + 1
            out.append((int(r.entry[row]), story))
            if len(out) == MAX_VERIFY:
                break
        return out

    # ------------------------------------------------------------------ decide, place
    def decide(self, i: int) -> Decision:
        if i != self._next:
            raise RuntimeError("entries of a batch are decided in order")
        shortlist = self._shortlist(i)
        if not shortlist:
            return self._by_headline(i) or Decision(None, None, MatchKind.FIRST, None)
        mine = self._features(self.prepared.docs[i].entry_id)
        assert mine is not None
        verdicts: dict[int, Verdict] = {}
        story_of: dict[int, int] = {}
        for entry_id, story in shortlist:
            f = self._features(entry_id)
            if f is not None:
                verdicts[entry_id] = verify(mine, f)
                story_of[entry_id] = story
        self._engine.stats["verified"] += len(verdicts)
        best: dict[int, tuple[float, int]] = {}
        for entry_id, v in verdicts.items():
            sid = story_of[entry_id]
            better = sid not in best or (v.score, -entry_id) > (best[sid][0], -best[sid][1])
            if v.same and self._engine.settings.allows(v.method) and better:
                best[sid] = (v.score, entry_id)
        for sid, (score, matched) in sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0])):
            if self._supported(mine, sid, matched, verdicts):
                v = verdicts[matched]
                return Decision(sid, matched, _KINDS[v.method], score, dict(v.detail))
        return self._by_headline(i) or Decision(None, None, MatchKind.FIRST, None)

    # ------------------------------------------------------------------ headlines
    def _by_headline(self, i: int) -> Decision | None:
        """The story whose headline entry ``i`` carries, when its text could not tell: an entry
        with (next to) no text looks among every story's headlines; an entry with text only
        among stories of headline-only entries (which arrived before the article they point to)."""
        p, r = self.prepared, self._engine.rows
        me = int(p._rows[i])
        mine = p.headlines[i]
        if not mine.words or not p._titled[i] or not self._engine.settings.allows("headline"):
            return None
        thin_me = bool(r.thin(np.array([me]))[0])
        titled = [row for row, _ in p._titled[i]]
        if not thin_me:  # only a story of headlines may take it, so only a headline row leads there
            titled = [
                row
                for row, t in zip(titled, r.thin(np.array(titled, dtype=np.int64)).tolist(), strict=True)
                if t
            ]
        passing: dict[int, tuple[float, float, int, TitleVerdict]] = {}  # story -> best
        for row in titled:
            story = self._row_story(row, i)
            if story is None or (not thin_me and not self._headlines_only(story)):
                continue
            hours = abs(float(r.time[row] - r.time[me])) / 3600
            if hours > max(HEADLINE_HOURS, TEMPLATE_HOURS):
                continue
            recurring = self._recurring(i, row)
            v = judge(mine, r.headline(row), hours, recurring)
            if not v.same:
                continue
            entry_id = int(r.entry[row])
            key = (v.score, -hours, entry_id, v)
            if story not in passing or key[:2] > passing[story][:2]:
                passing[story] = key
        if not passing:
            return None
        if len(passing) > 1:  # the headline fits several stories: a recurring title
            near = {s: k for s, k in passing.items() if -k[1] <= TEMPLATE_HOURS}
            if len(near) != 1:
                return None
            passing = near
            for _, _, _, v in near.values():
                v.detail["template"] = 1.0
        ranked = sorted(passing.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
        story, (score, _, matched, v) = ranked[0]
        return Decision(story, matched, MatchKind.HEADLINE, score, dict(v.detail))

    def _headlines_only(self, story_id: int) -> bool:
        """Whether every member of the story has (next to) no text."""
        rows = [row for m in self.members(story_id) if (row := self._row_of(m)) is not None]
        return bool(rows) and bool(self._engine.rows.thin(np.array(rows)).all())

    def _row_of(self, entry_id: int) -> int | None:
        pos = self._position.get(entry_id)
        return int(self.prepared._rows[pos]) if pos is not None else self._engine.row_of(entry_id)

    def _with_text(self, entry_ids: list[int]) -> list[int]:
        """The entries that have text to compare (headline-only members have none)."""
        rows = [self._row_of(m) for m in entry_ids]
        known = [(m, r) for m, r in zip(entry_ids, rows, strict=True) if r is not None]
        if not known:
            return []
        thin = self._engine.rows.thin(np.array([r for _, r in known]))
        return [m for (m, _), t in zip(known, thin.tolist(), strict=True) if not t]

    def _recurring(self, i: int, row: int) -> bool:
        """Whether the candidate's title (or entry ``i``'s) is a template (``titles.recurs``)
        among the entries sharing its words."""
        p, r = self.prepared, self._engine.rows
        me = int(p._rows[i])
        for skeleton in {int(r.skeleton[row]), int(r.skeleton[me])}:
            same = [c for c, _ in p._titled[i] if int(r.skeleton[c]) == skeleton]
            times = [float(r.time[c]) for c in same]
            if int(r.skeleton[me]) == skeleton:
                times.append(float(r.time[me]))
            stories = [s for c in same if (s := self._row_story(c, i)) is not None]
            if recurs(times, stories):
                return True
        return False

    def _supported(self, f: Features, story_id: int, matched: int, verdicts: Mapping[int, Verdict]) -> bool:
        """Anti-chaining: the newcomer must also resemble the story's other members (those with
        text: a headline-only member has nothing to resemble)."""
        others = self._with_text([m for m in self.members(story_id) if m != matched])[:SUPPORT_SAMPLE]
        scores = []
        for m in others:
            v = verdicts.get(m)
            if v is None:
                fm = self._features(m)
                if fm is None:
                    continue
                v = verify(f, fm)
            if v.method in STORY_VETOES:
                return False
            scores.append(max(v.detail.get("containment", 0.0), v.detail.get("lead", 0.0)))
        return not scores or sum(scores) / len(scores) >= STORY_SUPPORT

    def place(self, i: int, story_id: int) -> None:
        if i != self._next:
            raise RuntimeError("entries of a batch are placed in order")
        self._story[i] = story_id
        self._added.setdefault(story_id, []).append(self.prepared.docs[i].entry_id)
        self._next += 1

    # ------------------------------------------------------------------ end
    def commit(self, stories: Mapping[int, int] | None = None) -> None:
        """Make the placements the engine's; ``stories`` maps provisional story ids to real ones."""
        p, e = self.prepared, self._engine
        if p._done:
            raise RuntimeError("this batch was already committed or abandoned")
        real = stories or {}
        r = e.rows
        placed: list[int] = []
        dead: list[int] = []
        for pos, row in enumerate(p._rows.tolist()):
            if pos not in self._story:
                dead.append(row)
                continue
            story = real.get(self._story[pos], self._story[pos])
            r.story[row], r.alive[row] = story, True
            e._placed([p.docs[pos].entry_id], [story], [row])
            placed.append(pos)
        e.kill_rows(dead)
        placed_rows = p._rows[placed]
        e.add_titles(placed_rows)
        if p._ok.size:
            keep = np.isin(p._ok, placed)
            e.index.add(p._rows[p._ok[keep]], p._keys[keep])
        for pos, f in p._given.items():  # made anyway: later batches compare with them
            if pos in self._story and pos not in self._own:
                e.remember(p.docs[pos].entry_id, f)
        for pos, f in self._own.items():
            e.remember(p.docs[pos].entry_id, f)
        p._done = True
        e._closed(p)

    def abandon(self) -> None:
        self.prepared.abandon()
