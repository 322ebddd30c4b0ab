"""The near-duplicate engine: what it remembers of placed entries, and how a batch starts.

Pure and in memory: it does no I/O and calls nothing back. The caller hands it values and
stores what it returns. A feed run's new entries go through it as one batch, in three steps
whose order the types carry (see ``batch.py``):

    prepared = engine.prepare(docs)          # sign, find candidates (in the index and among
                                             #   each other), rank them on the signatures
    placing = prepared.supply(load(prepared.needs))   # the caller reads the stored candidates'
                                             #   texts (one query) and hands them in
    for slot in placing:                     # in order: identity first (the caller's), else
        decision = slot.decide()             #   verify the plausible candidates on their texts
        slot.place(story_id)
    placing.commit(real_story_ids)           # after the caller's transaction committed

After a restart the engine is rebuilt from stored signatures with ``add_many`` — no text is
re-read until a candidate needs verifying.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from aggregator.dedup.arrays import unique_counts
from aggregator.dedup.boilerplate import Boilerplate
from aggregator.dedup.index import BandIndex, Levels, words_of
from aggregator.dedup.rows import Rows
from aggregator.dedup.settings import DedupSettings
from aggregator.dedup.signature import Signature, sign_many
from aggregator.dedup.text import Cleaned, Features, clean, features, sign_tokens
from aggregator.dedup.titles import MIN_SHARED, THIN_TOKENS, Headline, TitleVerdict, headline, judge
from aggregator.dedup.verify import Verdict, verify
from aggregator.models import MatchKind

if TYPE_CHECKING:
    from aggregator.dedup.batch import Prepared
    from aggregator.dedup.prework import Prework

# LSH banding (bands x rows of the 128 MinHash values). Probability that a pair with Jaccard J
# becomes a candidate: 1 - (1 - J**rows)**bands. Measured on the dev corpus: 99.86% of its
# same-story pairs are expected to meet through one or the other, and an entry meets ~80
# unrelated ones at 100,000 in the window (42x3 for the full text too: 99.90%, but ~170).
FULL_BANDS, FULL_ROWS = 32, 4  # J=0.5: 87%, J=0.6: 98%, J=0.2: 5% (unrelated text stays out)
LEAD_BANDS, LEAD_ROWS = 42, 3  # J=0.3: 68%, J=0.5: 99.6%: a summary shares most of an opening
TITLE_BUCKET = 256  # a headline word in more titles than this in the window says nothing
CACHE_SIZE = 8192  # feature sets kept in memory (LRU; ~6 KB each: ~50 MB at most)
COMPACT_AFTER = 4096  # dead rows tolerated before the arrays and indexes are rebuilt


@dataclass(frozen=True, slots=True)
class DedupDoc:
    """An entry as the engine sees it. ``story_id``: for a stored entry handed in to be verified
    against, the story the database has it in now (the engine corrects its own view by it)."""

    entry_id: int
    feed_id: int
    title: str
    text: str
    time: datetime  # effective time: published, or first seen when the feed gave no date
    story_id: int | None = None
    url: str = ""  # its link: a slug spelling the headline is evidence for headline matches


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a new entry goes: ``story_id`` None starts a story of its own."""

    story_id: int | None
    matched_entry_id: int | None
    kind: MatchKind
    similarity: float | None
    detail: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Indexed:
    """A placed entry to remember: from stored signatures (start-up, another process's runs)."""

    entry_id: int
    story_id: int
    time: datetime
    signature: Signature
    feed_id: int = 0
    title: str = ""


class Engine:
    """What the engine knows: placed entries' signatures in an LSH index, their stories, the
    learned boilerplate, and a bounded cache of verification features."""

    def __init__(self, settings: DedupSettings) -> None:
        self.settings = settings
        self.boilerplate = Boilerplate()
        self.index = BandIndex([(FULL_BANDS, FULL_ROWS), (LEAD_BANDS, LEAD_ROWS)])
        self.titles = Levels()  # headline word keys of every placed entry (see titles.py)
        self.thin_titles = Levels()  # ...and of those without text: few, looked up first
        self.rows = Rows()
        self._row_of: dict[int, int] = {}  # placed entries
        # story -> its entry, or its entries once it has several (most stories have one)
        self._stories: dict[int, int | list[int]] = {}
        self._dead = 0
        self._max_entry = 0
        self._cache: OrderedDict[int, Features] = OrderedDict()
        self._open: object | None = None  # the batch being placed, if any (see batch.py)
        # work done, for benchmarks and metrics: LSH rows, plausible candidates, verifications,
        # feature sets computed from stored texts
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------------ a feed run's batch
    def prepare(
        self,
        docs: Sequence[DedupDoc],
        prework: Sequence[Prework | None] = (),
        headlines: Sequence[Headline | None] = (),
    ) -> Prepared:
        """Sign a batch of new entries and find their plausible candidates (see the module doc).
        ``prework[i]``, when given, is ``docs[i]``'s work made by a parser process (prework.py);
        ``headlines[i]``, ``docs[i]``'s headline made with its feed's learning as it stands
        (``prework_and_headlines``: ``dedup rebuild``, where learning is finished).

        A batch left unfinished (its transaction failed) is dropped when the next one starts.
        """
        from aggregator.dedup.batch import Prepared

        if isinstance(self._open, Prepared):
            self._open.abandon()
        prepared = Prepared(self, docs, prework, headlines)
        self._open = prepared
        return prepared

    def _closed(self, batch: object) -> None:
        if self._open is batch:
            self._open = None

    def clean(self, doc: DedupDoc) -> Cleaned:
        return clean(doc.title, doc.text, lambda ln: self.boilerplate.is_boilerplate(doc.feed_id, ln))

    def headline_of(self, doc: DedupDoc) -> Headline:
        return self.headline(doc.feed_id, doc.title, doc.url)

    def headline(self, feed_id: int, title: str, url: str = "") -> Headline:
        return headline(title, lambda key: self.boilerplate.is_learned(feed_id, key), url)

    def features_of(self, doc: DedupDoc) -> Features:
        return features(self.clean(doc))

    def cached(self, entry_id: int) -> Features | None:
        f = self._cache.get(entry_id)
        if f is not None:
            self._cache.move_to_end(entry_id)
        return f

    def remember(self, entry_id: int, f: Features) -> None:
        self._cache[entry_id] = f
        self._cache.move_to_end(entry_id)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def sign(self, doc: DedupDoc) -> Signature:
        """The signature of a stored entry (to re-sign one made by another algorithm version)."""
        return sign_many([sign_tokens(self.clean(doc))])[0]

    def explain(self, a: DedupDoc, b: DedupDoc) -> Verdict:
        """Every signal between two entries and the verdict, as a live run would compute it."""
        return verify(self.features_of(a), self.features_of(b))

    def is_thin(self, doc: DedupDoc) -> bool:
        """Whether an entry has (next to) no text, so that only its headline can place it."""
        return self.sign(doc).full_size < THIN_TOKENS

    def explain_headline(self, later: DedupDoc, earlier: DedupDoc, recurring: bool) -> TitleVerdict:
        """The headline verdict a live run reaches placing ``later`` beside ``earlier``
        (``recurring``: whether either title is a template in the window, see ``titles.recurs``)."""
        hours = abs((later.time - earlier.time).total_seconds()) / 3600
        return judge(self.headline_of(later), self.headline_of(earlier), hours, recurring)

    # ------------------------------------------------------------------ what is placed
    def add_many(self, items: Sequence[Indexed]) -> None:
        """Remember placed entries (a whole window at start-up, or other processes' runs);
        known ones are moved to the story given."""
        fresh = []
        for item in items:
            if item.entry_id in self._row_of:
                self.move(item.entry_id, item.story_id)
            else:
                fresh.append(item)
        if not fresh:
            return
        entries = np.array([f.entry_id for f in fresh], dtype=np.int64)
        stories = np.array([f.story_id for f in fresh], dtype=np.int64)
        times = np.array([f.time.timestamp() for f in fresh], dtype=np.float64)
        rows = self.rows.append(
            entries,
            stories,
            times,
            [f.signature for f in fresh],
            alive=True,
            feeds=[f.feed_id for f in fresh],
            headlines=[self.headline(f.feed_id, f.title) for f in fresh],
        )
        self._placed(entries.tolist(), stories.tolist(), rows.tolist())
        self.add_titles(rows)
        rows = rows[self.rows.indexed(rows)]
        self.index.add(rows, self.index.keys(self.rows.full[rows], self.rows.lead[rows]))

    def _placed(self, entries: Iterable[int], stories: Iterable[int], rows: Iterable[int]) -> None:
        for entry_id, story_id, row in zip(entries, stories, rows, strict=True):
            self._row_of[entry_id] = row
            self._join(entry_id, story_id)
            self._max_entry = max(self._max_entry, entry_id)

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
        old = int(self.rows.story[row])
        if old == story_id:
            return
        self._leave(entry_id, old)
        self.rows.story[row] = story_id
        self._join(entry_id, story_id)

    def remove(self, entry_ids: Iterable[int]) -> None:
        """Forget entries (retention, or deleted by another process); compacts when many are dead."""
        for i in entry_ids:
            row = self._row_of.pop(i, None)
            if row is None:
                continue
            self._leave(i, int(self.rows.story[row]))
            self.rows.alive[row] = False
            self._cache.pop(i, None)
            self._dead += 1
        if self._dead > max(COMPACT_AFTER, len(self._row_of)) and self._open is None:
            self._compact()

    def kill_rows(self, rows: Iterable[int]) -> None:
        """Rows of a batch that was never placed are dead."""
        for row in rows:
            self.rows.entry[row] = -1
            self.rows.alive[row] = False
            self._dead += 1

    def _compact(self) -> None:
        """Drop dead rows: renumber the rest and rebuild the index from their signatures."""
        r = self.rows
        r.keep(np.flatnonzero(r.alive[: r.n]))
        self._row_of = {int(e): row for row, e in enumerate(r.entry[: r.n].tolist())}
        self._dead = 0
        ok = np.flatnonzero(r.indexed(slice(0, r.n)))
        self.index.rebuild(ok, self.index.keys(r.full[ok], r.lead[ok]))
        every = np.arange(r.n)
        self.titles.replace(words_of(every, r.words[: r.n]))
        thin = every[r.thin(every)]
        self.thin_titles.replace(words_of(thin, r.words[thin]))

    def add_titles(self, rows: np.ndarray) -> None:
        """Index the headline words of placed ``rows`` (and apart, of those without text)."""
        self.titles.insert(words_of(rows, self.rows.words[rows]))
        thin = rows[self.rows.thin(rows)]
        if thin.size:
            self.thin_titles.insert(words_of(thin, self.rows.words[thin]))

    def title_pairs(
        self, rows: np.ndarray, thin_only: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position in ``rows``, placed row, headline words shared) for every placed entry
        sharing at least ``MIN_SHARED`` headline words with one of ``rows`` (``thin_only``:
        among entries without text): one lookup for a batch. Words in more than
        ``TITLE_BUCKET`` titles are skipped, like stop words."""
        keys = self.rows.words[rows]
        owner_of_key = np.repeat(np.arange(rows.size), keys.shape[1])[keys.ravel() != 0]
        flat = keys.ravel()[keys.ravel() != 0].astype(np.uint64)
        index = self.thin_titles if thin_only else self.titles
        found_words, owner = index.find(flat, limit=TITLE_BUCKET)
        if not found_words.size:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty
        found = found_words.astype(np.int64)
        pos = owner_of_key[owner]
        alive = self.rows.alive[found]
        pairs, shared = unique_counts((pos[alive] << 32) | found[alive])
        keep = shared >= MIN_SHARED
        return pairs[keep] >> 32, pairs[keep] & 0xFFFF_FFFF, shared[keep]

    def max_entry_id(self) -> int:
        return self._max_entry

    def story_of(self, entry_id: int) -> int | None:
        row = self._row_of.get(entry_id)
        return None if row is None else int(self.rows.story[row])

    def row_of(self, entry_id: int) -> int | None:
        return self._row_of.get(entry_id)

    def signature_of(self, entry_id: int) -> Signature | None:
        row = self._row_of.get(entry_id)
        return None if row is None else self.rows.signature(row)

    def memory(self) -> dict[str, int]:
        """Bytes held by the index structures (the feature cache is bounded apart)."""
        r = self.rows
        return {
            "bands": self.index.nbytes(),
            "signatures": int(r.full.nbytes + r.lead.nbytes),
            "columns": r.nbytes() - int(r.full.nbytes + r.lead.nbytes),
        }

    def __len__(self) -> int:
        return len(self._row_of)
