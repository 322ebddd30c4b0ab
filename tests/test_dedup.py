"""The near-duplicate engine on its own: signatures, the LSH index, verification, placement.

Texts come from tests/data/dedup/indosum_cluster.json (IndoSum, CC BY-SA 4.0): one story's
original, syndicated, edited, spun and excerpted copies, and four other stories (earthquake
bulletins and a market report) that must stay apart.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import xxhash
from datasketch import MinHash
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from aggregator.dedup import (
    DedupDoc,
    DedupSettings,
    Engine,
    Indexed,
    MemberInfo,
    Signature,
    elect_representative,
)
from aggregator.dedup.boilerplate import MIN_DOCS, Boilerplate
from aggregator.dedup.elect import headline_only
from aggregator.dedup.index import MAX_BUCKET, BandIndex
from aggregator.dedup.prework import Prework, prework
from aggregator.dedup.signature import ALGO_VERSION, sign_many
from aggregator.dedup.text import SignTokens, clean, dateline_day, features, fold, sign_tokens
from aggregator.dedup.titles import Headline
from aggregator.dedup.verify import verify
from aggregator.models import MatchKind
from aggregator.normalise import html_to_text
from aggregator.normalise.urls import is_variant_url
from tests.conftest import DATA

FIXTURE: dict[str, Any] = json.loads((DATA / "dedup" / "indosum_cluster.json").read_text(encoding="utf-8"))
STORY = "id-00153"


def docs(entries: list[dict[str, Any]] | None = None, start: int = 1) -> list[DedupDoc]:
    """The fixture's entries as engine documents, in publication order; feed ids by source."""
    entries = entries if entries is not None else FIXTURE["entries"]
    feeds = {s["source"]: i for i, s in enumerate(FIXTURE["sources"], 1)}
    out = []
    for i, e in enumerate(sorted(entries, key=lambda e: (e["published"], e["url"])), start):
        text = html_to_text(e["content_html"] or e["summary_html"])
        when = datetime.fromisoformat(e["published"]).astimezone(UTC)
        out.append(DedupDoc(i, feeds[e["source"]], e["title"], text, when))
    return out


def cluster_of(doc: DedupDoc) -> str:
    by_title_time = {
        (e["title"], datetime.fromisoformat(e["published"]).astimezone(UTC)): e["cluster"]
        for e in FIXTURE["entries"]
    }
    cluster: str = by_title_time[(doc.title, doc.time)]
    return cluster


class Store:
    """What the engine's caller does around it: it keeps the documents and their stories,
    hands the engine the texts a batch needs, and commits each batch."""

    def __init__(self, docs: dict[int, DedupDoc]) -> None:
        self.docs = docs
        self.story: dict[int, int] = {}

    def texts(self, ids: list[int]) -> list[DedupDoc]:
        return [replace(self.docs[i], story_id=self.story.get(i)) for i in ids if i in self.docs]


def place(
    engine: Engine,
    batch: list[DedupDoc],
    prework: Sequence[Prework | None] = (),
    headlines: Sequence[Headline | None] = (),
) -> dict[int, int]:
    """One feed run: prepare ``batch``, supply its texts, decide and place each entry in order,
    commit (a new story's id is its founder's entry id); returns entry id -> story id."""
    store: Store = engine.store  # type: ignore[attr-defined]
    prepared = engine.prepare(batch, prework, headlines)
    placing = prepared.supply(store.texts(prepared.needs))
    stories = {}
    for slot in placing:
        decision = slot.decide()
        story = decision.story_id if decision.story_id is not None else slot.doc.entry_id
        slot.place(story)
        stories[slot.doc.entry_id] = story
    placing.commit()
    store.story.update(stories)
    return stories


def new_engine(store: dict[int, DedupDoc], **settings: Any) -> Engine:
    engine = Engine(DedupSettings(**settings))
    engine.store = Store(store)  # type: ignore[attr-defined]
    return engine


def partition(stories: dict[int, int]) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for entry, story in stories.items():
        groups.setdefault(story, set()).add(entry)
    return {frozenset(g) for g in groups.values()}


# ---------------------------------------------------------------------------- signatures


def test_signatures_are_datasketch_minhash_values() -> None:
    texts = [sign_tokens(clean(d.title, d.text, lambda _: False)) for d in docs()]
    texts += [SignTokens([], []), SignTokens([b"one"], []), SignTokens([], [b"a", b"b"])]
    for tokens, sig in zip(texts, sign_many(texts), strict=True):
        full = MinHash(num_perm=128, seed=1, hashfunc=xxhash.xxh32_intdigest, scheme="affine32")
        full.update_batch(tokens.lead + tokens.rest or [b"\x00empty"])
        lead = MinHash(num_perm=128, seed=1, hashfunc=xxhash.xxh32_intdigest, scheme="affine32")
        lead.update_batch(tokens.lead)
        assert np.array_equal(sig.full, full.hashvalues)
        assert np.array_equal(sig.lead, lead.hashvalues)
        assert (sig.full_size, sig.lead_size) == (len(tokens.lead) + len(tokens.rest), len(tokens.lead))


def test_signature_bytes_round_trip_and_other_versions_refused() -> None:
    (sig,) = sign_many([sign_tokens(clean("t", the_original().text, lambda _: False))])
    back = Signature.from_bytes(sig.to_bytes())
    assert np.array_equal(back.full, sig.full) and np.array_equal(back.lead, sig.lead)
    assert (back.full_size, back.lead_size) == (sig.full_size, sig.lead_size) and back.compatible()
    older = (ALGO_VERSION - 1).to_bytes(2, "little") + sig.to_bytes()[2:]
    with pytest.raises(ValueError, match="algorithm version"):
        Signature.from_bytes(older)
    with pytest.raises(ValueError, match="malformed"):
        Signature.from_bytes(sig.to_bytes()[:-4])


# ---------------------------------------------------------------------------- LSH index


def brute_force(keys: np.ndarray, query: np.ndarray) -> set[int]:
    found: set[int] = set()
    for band in range(keys.shape[1]):
        rows = np.flatnonzero(keys[:, band] == query[band])
        if rows.size <= MAX_BUCKET:
            found.update(rows.tolist())
    return found


@pytest.mark.parametrize("batch", [1, 7, 500])
def test_band_index_finds_what_brute_force_finds(batch: int) -> None:
    rng = np.random.default_rng(batch)
    index = BandIndex([(42, 3), (42, 3)])
    n = 6000
    full = rng.integers(0, 40, (n, 128)).astype(np.uint32)  # few values: many shared, some big buckets
    lead = rng.integers(0, 2**32, (n, 128), dtype=np.uint64).astype(np.uint32)
    keys = index.keys(full, lead)
    assert np.array_equal(index.keys(full[3], lead[3]), keys[3])
    for at in range(0, n, batch):  # several merges through the levels
        rows = np.arange(at, min(n, at + batch))
        index.add(rows, keys[rows])
    assert len(index) == n
    queries = rng.integers(0, n, 40)
    pos, rows = index.query(keys[queries])
    for q, which in enumerate(queries.tolist()):
        assert set(rows[pos == q].tolist()) == brute_force(keys, keys[which])


def test_band_index_rebuild_and_clear() -> None:
    rng = np.random.default_rng(7)
    index = BandIndex([(42, 3), (64, 2)])
    sigs = rng.integers(0, 2**32, (300, 2, 128), dtype=np.uint64).astype(np.uint32)
    keys = index.keys(sigs[:, 0], sigs[:, 1])
    index.rebuild(np.arange(300), keys)
    pos, rows = index.query(keys[[10, 20]])
    assert {(0, 10), (1, 20)} <= set(zip(pos.tolist(), rows.tolist(), strict=True))
    index.clear()
    assert len(index) == 0 and index.query(keys[:1])[0].size == 0


# ---------------------------------------------------------------------------- placement


def test_one_story_and_its_copies_together_templates_apart() -> None:
    batch = docs()
    store = {d.entry_id: d for d in batch}
    stories = place(new_engine(store), batch)
    truth: dict[str, set[int]] = {}
    for d in batch:
        truth.setdefault(cluster_of(d), set()).add(d.entry_id)
    assert partition(stories) == {frozenset(g) for g in truth.values()}


def test_batch_and_one_by_one_give_the_same_stories() -> None:
    batch = docs()
    store = {d.entry_id: d for d in batch}
    together = place(new_engine(store), batch)
    engine = new_engine(store)
    alone: dict[int, int] = {}
    for d in batch:
        alone.update(place(engine, [d]))
    assert partition(together) == partition(alone)


def test_prework_from_a_parser_process_places_the_same_and_steps_aside_when_stale() -> None:
    """Work made in another process (as a parser process makes it) gives the signatures and
    stories the engine makes itself; it is set aside for an entry whose text is no longer what
    it was made of, and for one with a line the feed has since learned as boilerplate."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    footer = "Redaksi Contoh Media menerima tulisan pembaca pada setiap hari kerja"
    batch = [replace(d, text=f"{d.text}\n{footer}") if d.feed_id == 1 else d for d in docs()]
    store = {d.entry_id: d for d in batch}
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        work = pool.submit(prework, [(d.title, d.text) for d in batch]).result(timeout=120)
    for d, w in zip(batch, work, strict=True):  # hashes that do not depend on the process
        made_here = features(clean(d.title, d.text, lambda _: False))
        assert np.array_equal(w.features.token_set, made_here.token_set)
        assert np.array_equal(w.features.detail.trigrams, made_here.detail.trigrams)
    own, given = new_engine(store), new_engine(store)
    assert partition(place(given, batch, work)) == partition(place(own, batch))
    assert given.stats["prework_used"] == len(batch)
    for d in batch:
        a, b = given.signature_of(d.entry_id), own.signature_of(d.entry_id)
        assert a is not None and b is not None and a.to_bytes() == b.to_bytes()

    fresh, mine = new_engine(store), new_engine(store)
    learned = [f"Berita nomor {i} hari ini\n{footer}" for i in range(2 * MIN_DOCS)]
    for engine in (fresh, mine):
        engine.boilerplate.observe(1, learned)  # the footer is now feed 1's boilerplate
        assert engine.boilerplate.is_boilerplate(1, footer)
    edited = [replace(d, text=d.text + " Update.") if i == 0 else d for i, d in enumerate(batch)]
    assert partition(place(fresh, edited, work)) == partition(place(mine, edited))
    stale = 1 + sum(d.feed_id == 1 for d in edited[1:])
    assert fresh.stats["prework_used"] == len(batch) - stale

    # Told each feed's learned lines (as `dedup rebuild` tells its workers), prework leaves the
    # footer out like the engine does, and stands for all of them.
    told, mine = new_engine(store), new_engine(store)
    for engine in (told, mine):
        engine.boilerplate.observe(1, learned)
    drop = [told.boilerplate.learned(d.feed_id) for d in edited]
    assert drop[[d.feed_id for d in edited].index(1)] and not any(
        drop[i] for i, d in enumerate(edited) if d.feed_id != 1
    )
    work = prework([(d.title, d.text) for d in edited], drop)
    assert partition(place(told, edited, work)) == partition(place(mine, edited))
    assert told.stats["prework_used"] == len(batch)
    for d in edited:
        a, b = told.signature_of(d.entry_id), mine.signature_of(d.entry_id)
        assert a is not None and b is not None and a.to_bytes() == b.to_bytes()


def test_prework_crosses_processes_as_one_buffer_with_every_value_intact() -> None:
    """Pickled (as it leaves a parser process), an entry's prework comes back with every set,
    the signature and the dateline day equal, the sets as views of one buffer."""
    import pickle
    from dataclasses import fields

    from aggregator.dedup.text import Detail

    batch = docs()
    drop = [frozenset({12345}) for _ in batch]
    for w in prework([(d.title, d.text) for d in batch], drop):
        back = pickle.loads(pickle.dumps(w))
        assert back.source == w.source
        assert np.array_equal(back.line_keys, w.line_keys) and back.line_keys.dtype == np.int64
        for name in ("token_set", "lead_set"):
            assert np.array_equal(getattr(back.features, name), getattr(w.features, name))
        for fd in fields(Detail):
            mine, theirs = getattr(back.features.detail, fd.name), getattr(w.features.detail, fd.name)
            if isinstance(mine, np.ndarray):
                assert mine.dtype == np.int64 and np.array_equal(mine, theirs), fd.name
            else:
                assert mine == theirs, fd.name
        assert back.signature.to_bytes() == w.signature.to_bytes()
        assert back.signature.full.dtype == np.uint32
        # what may outlive the features holds no part of their buffer
        for part in (back.signature.full, back.signature.lead, back.line_keys):
            assert not np.shares_memory(part, back.features.detail.words)
    dated = prework([("x", "JAKARTA, 28 Maret (Antara) - Harga beras naik lagi di pasar induk pagi ini.")])[0]
    assert pickle.loads(pickle.dumps(dated)).features.detail.filed == dated.features.detail.filed == 86


def test_headlines_made_ahead_with_the_finished_learning_are_the_engines() -> None:
    """A rebuild worker, told a feed's learned keys, makes the headline the engine makes: the
    learned title affix ("| Harian Contoh") is dropped the same way, and placing with the
    headlines given forms the same stories."""
    from aggregator.dedup.prework import prework_and_headlines

    batch = [replace(d, title=f"{d.title} | Harian Contoh") if d.feed_id == 1 else d for d in docs()]
    store = {d.entry_id: d for d in batch}
    own, given = new_engine(store), new_engine(store)
    titles = [f"Berita nomor {i} hari ini | Harian Contoh" for i in range(2 * MIN_DOCS)]
    for engine in (own, given):
        engine.boilerplate.observe(1, [""] * len(titles), titles)
    drop = [given.boilerplate.learned(d.feed_id) for d in batch]
    work, heads = prework_and_headlines([(d.title, d.text, d.url) for d in batch], drop)
    mine = [own.headline_of(d) for d in batch]
    assert heads == mine
    assert any("Harian Contoh" in h.dropped for h in heads)
    assert partition(place(given, batch, work, heads)) == partition(place(own, batch))


def test_restart_from_stored_signatures_places_the_same() -> None:
    batch = docs()
    store = {d.entry_id: d for d in batch}
    first, second = batch[::2], batch[1::2]
    live = new_engine(store)
    stories = place(live, first)
    restarted = new_engine(store)
    stored = [(d.entry_id, stories[d.entry_id], d.time, live.signature_of(d.entry_id)) for d in first]
    restarted.add_many([Indexed(e, s, t, Signature.from_bytes(g.to_bytes())) for e, s, t, g in stored if g])
    restarted.store.story.update(stories)  # type: ignore[attr-defined]
    assert place(live, second) == place(restarted, second)


def test_window_is_measured_between_entries_not_against_the_clock() -> None:
    old = [d for d in docs() if cluster_of(d) == STORY][:4]
    shift = timedelta(days=2000)  # an archive: years before today
    archive = [DedupDoc(d.entry_id, d.feed_id, d.title, d.text, d.time - shift) for d in old]
    store = {d.entry_id: d for d in archive}
    assert len(partition(place(new_engine(store), archive))) == 1
    apart = [
        archive[0],
        *(DedupDoc(d.entry_id, d.feed_id, d.title, d.text, d.time + timedelta(days=5)) for d in archive[1:]),
    ]
    store = {d.entry_id: d for d in apart}
    stories = place(new_engine(store, window=timedelta(days=3)), apart)
    assert stories[apart[0].entry_id] != stories[apart[1].entry_id]


def test_copy_disguised_with_invisible_characters_and_look_alike_letters_matches() -> None:
    original = the_original()
    disguised = original.text.replace("a", "\u0430").replace(" ", " \u200b")  # Cyrillic а, zero-width
    assert fold(disguised) == fold(original.text)
    copy = DedupDoc(99, 50, original.title, disguised, original.time + timedelta(hours=1))
    store = {d.entry_id: d for d in (original, copy)}
    stories = place(new_engine(store), [original, copy])
    assert stories[99] == stories[original.entry_id]


def test_forgotten_entries_are_never_candidates_and_compaction_keeps_matching() -> None:
    rng = random.Random(3)
    base = docs()
    original = next(d for d in base if cluster_of(d) == STORY)
    filler = []
    words = " ".join(d.text for d in base).split()
    for i in range(5000):  # unrelated texts to forget, so the engine compacts its arrays
        text = " ".join(rng.choice(words) for _ in range(80))
        filler.append(DedupDoc(1000 + i, 60, f"t{i}", text, original.time))
    store = {d.entry_id: d for d in [original, *filler]}
    engine = new_engine(store)
    place(engine, [original])
    for at in range(0, len(filler), 250):
        place(engine, filler[at : at + 250])
    engine.remove({d.entry_id for d in filler})
    assert len(engine) == 1
    copy = DedupDoc(9000, 61, original.title, original.text, original.time)
    store[9000] = copy
    assert place(engine, [copy])[9000] == original.entry_id
    gone = DedupDoc(9001, 62, filler[0].title, filler[0].text, original.time)
    store[9001] = gone
    assert place(engine, [gone])[9001] == 9001  # its twin was forgotten


# ---------------------------------------------------------------------------- verification


def feats(title: str, text: str) -> Any:
    return features(clean(title, text, lambda _: False))


def the_original() -> DedupDoc:
    e = next(e for e in FIXTURE["entries"] if e["cluster"] == STORY and e["role"] == "original")
    return next(d for d in docs() if d.title == e["title"] and cluster_of(d) == STORY)


def test_a_fragment_under_another_headline_is_another_story() -> None:
    original = the_original()
    paragraphs = [p for p in original.text.split("\n") if p.strip()]
    middle = paragraphs[len(paragraphs) // 2]
    v = verify(feats(original.title, original.text), feats("Komisi Hukum Gelar Rapat Evaluasi", middle))
    assert not v.same and v.method == "fragment"
    # the same words from the start under its own headline are an excerpt
    opening = " ".join(original.text.split()[:50]) + " ..."
    assert verify(feats(original.title, original.text), feats(original.title, opening)).same


def test_datelines_days_apart_are_two_filings() -> None:
    text = the_original().text.split("\n", 1)[1]
    a = feats("Bulletin", f"JAKARTA, 12 Maret (Antara) - {text}")
    assert dateline_day("JAKARTA, 12 Maret (Antara) - ") == 31 + 28 + 11
    assert verify(a, feats("Bulletin", f"JAKARTA, 13 Maret (Antara) - {text}")).same
    v = verify(a, feats("Bulletin", f"JAKARTA, 16 Maret (Antara) - {text}"))
    assert not v.same and v.method == "filed-apart"
    assert dateline_day("LONDON, March 28 (Reuters) - ") == dateline_day("Jakarta, 28 Maret -")


def test_templates_with_other_figures_do_not_match() -> None:
    quakes = [d for d in docs() if d.title.startswith("Gempa")]
    assert len(quakes) >= 2
    assert not verify(feats(quakes[0].title, quakes[0].text), feats(quakes[1].title, quakes[1].text)).same


# ---------------------------------------------------------------------------- boilerplate, election


def test_learned_boilerplate_folds_years_not_figures() -> None:
    bp = Boilerplate()
    texts = [
        f"Berita {i} tentang sesuatu.\n© {2020 + i % 3} Contoh Media\nSaham naik {i} persen"
        for i in range(12)
    ]
    bp.observe(1, texts)
    assert bp.is_boilerplate(1, "© 2031 Contoh Media")
    assert not bp.is_boilerplate(1, "Saham naik 5 persen")
    assert not bp.is_boilerplate(2, "© 2031 Contoh Media")  # learned per feed
    few = Boilerplate()
    few.observe(3, texts[: MIN_DOCS - 1])
    assert not few.is_boilerplate(3, "© 2031 Contoh Media")  # too few entries to tell


def test_variant_urls_and_the_main_url_represents() -> None:
    assert is_variant_url("https://kumparan.com/amp/kumparannews/x-5WG4")
    assert is_variant_url("https://m.detik.com/news/x")
    assert is_variant_url("https://example.com/a?utm_source=rss")
    assert not is_variant_url("https://www.example.com/news/2024/a-story")
    when = datetime(2024, 5, 6, tzinfo=UTC)
    amp = MemberInfo(1, "kumparan.com", "kumparan", 0, when, 900, (), variant_url=True)
    main = MemberInfo(2, "kumparan.com", "kumparan", 0, when, 900, (), variant_url=False)
    assert elect_representative([amp, main]) == 2


def test_a_summary_original_keeps_its_place_a_headline_only_entry_does_not() -> None:
    """A summary feed's item (a sentence or two) is the original when it came first; an entry that
    only repeats its title (news-search style) never represents a story with an article in it."""
    title = "Ireland 21-19 Argentina: what you need to know"
    summary = "Ireland edge Argentina in a tense quarter-final in Cardiff to reach the last four."
    assert not headline_only(title, summary)
    assert headline_only(title, "")
    assert headline_only(title, f"{title} - BBC Sport")
    assert not headline_only(title, summary + " " * 300)  # long texts are never headline-only
    first, later = datetime(2024, 5, 6, 16, 40, tzinfo=UTC), datetime(2024, 5, 7, 5, 15, tzinfo=UTC)
    original = MemberInfo(1, "bbc.co.uk", "BBC Sport", 0, first, len(summary), ())
    copy = MemberInfo(2, "metrowire.net", "Metro Wire", 0, later, 2400, ())
    assert elect_representative([copy, original]) == 1
    link = MemberInfo(3, "news.example", "News Search", 0, first, 40, (), headline_only=True)
    article = MemberInfo(4, "metrowire.net", "Metro Wire", 0, later, 2400, ())
    assert elect_representative([link, article]) == 4


def reword(text: str, every: int) -> str:
    """Every ``every``-th lower-case word swapped for another word, the way a spinner does."""
    out, n = [], 0
    for word in text.split(" "):
        if word.isalpha() and word.islower():
            n += 1
            if n % every == 0:
                word = "ganti" + word[::-1]
        out.append(word)
    return " ".join(out)


def test_switching_off_reworded_matches() -> None:
    original = the_original()
    spun = DedupDoc(99, 40, original.title, reword(original.text, 2), original.time + timedelta(hours=2))
    store = {d.entry_id: d for d in (original, spun)}
    decisions = []
    for settings in ({}, {"reworded": False}):
        engine = new_engine(store, **settings)
        place(engine, [original])
        prepared = engine.prepare([spun])
        (slot,) = prepared.supply(engine.store.texts(prepared.needs))  # type: ignore[attr-defined]
        decisions.append(slot.decide())
        slot.place(99)
    assert decisions[0].story_id == original.entry_id and decisions[0].kind is MatchKind.REWORDED
    assert decisions[1].story_id is None
    policy = DedupSettings(excerpts=False)
    assert policy.allows("copy") and policy.allows("reworded") and not policy.allows("excerpt")


def test_an_empty_batch_and_a_batch_never_placed_change_nothing() -> None:
    batch = docs()
    store = {d.entry_id: d for d in batch}
    engine = new_engine(store)
    empty = engine.prepare([])
    assert empty.needs == [] and list(empty.supply([])) == []
    engine.prepare(batch[:3])  # a run that failed before placing anything
    stories = place(engine, batch)
    assert len(engine) == len(batch)
    truth = {cluster_of(d) for d in batch}
    assert len(partition(stories)) == len(truth)


def test_boilerplate_counts_kept_as_arrays_match_a_counter() -> None:
    """The compact per-feed counts add, take away and find frequent keys as a Counter would."""
    from collections import Counter

    from aggregator.dedup.boilerplate import _Counts

    rng = random.Random(3)
    ref: Counter[int] = Counter()
    counts = _Counts({})
    for step in range(300):
        delta = {rng.randrange(50) * 2**40 + 7: rng.randint(1, 3) for _ in range(rng.randint(0, 10))}
        if step % 7 == 0 and ref:
            delta = {k: -min(n, rng.randint(1, 3)) for k, n in list(ref.items())[:5]}
        counts.add(delta)
        ref.update(delta)
        ref = Counter({k: n for k, n in ref.items() if n > 0})
        assert counts.as_dict() == dict(ref)
        assert counts.frequent == {k: n for k, n in ref.items() if n >= MIN_DOCS}
    assert _Counts(dict(ref)).as_dict() == dict(ref)


def test_line_counts_made_apart_add_up_to_observing_and_survive_a_failed_worker() -> None:
    """``dedup rebuild`` has its workers count a batch's lines (``tally``) and adds the counts
    here (``Boilerplate.count``): the same counts and entries as observing the entries here,
    split in any way, and a part whose worker failed is counted here instead."""
    from concurrent.futures import Future

    from aggregator.cluster.rebuild import Counted, _Tally
    from aggregator.dedup.boilerplate import tally

    footer = "Redaksi Contoh Media menerima tulisan pembaca pada setiap hari kerja"
    entries = [(d.feed_id, f"{d.text}\n{footer}", f"{d.title} | Harian Contoh") for d in docs()]
    entries += [
        (1, f"Berita nomor {i} hari ini\n{footer}", f"Berita {i} | Harian Contoh")
        for i in range(2 * MIN_DOCS)
    ]
    observed = Boilerplate()
    for feed_id in sorted({f for f, _, _ in entries}):
        observed.observe(
            feed_id, [t for f, t, _ in entries if f == feed_id], [h for f, _, h in entries if f == feed_id]
        )
    failed: Future[Counted] = Future()
    failed.set_exception(OSError("worker gone"))
    made: Future[Counted] = Future()
    made.set_result(tally(entries[1::2]))
    counted = Boilerplate()
    _Tally([(entries[::2], failed), (entries[1::2], made)]).add_to(counted)
    assert counted.snapshot() == observed.snapshot() and counted.snapshot()
    for feed_id in {f for f, _, _ in entries}:
        assert counted.docs(feed_id) == observed.docs(feed_id) > 0
        assert counted.learned(feed_id) == observed.learned(feed_id)
    assert any(counted.is_boilerplate(f, footer) for f, _, _ in entries)  # learned, not only counted


def test_rebuild_takes_each_batch_of_prework_in_the_order_it_was_sent() -> None:
    """``dedup rebuild``'s workers make the prework of two batches ahead of the one placed: each
    ``take`` hands back the oldest batch sent, the work of exactly its entries, from their texts."""
    from aggregator.cluster.rebuild import AHEAD, _Ahead
    from aggregator.dedup.prework import source_key
    from aggregator.store.values import EntryText

    texts = [EntryText(d.entry_id, d.feed_id, d.title, d.text, d.time, None) for d in docs()]
    batches = [texts[at : at + 4] for at in range(0, len(texts), 4)]
    assert AHEAD == 2 and len(batches) > AHEAD + 1
    engine = Engine(DedupSettings())
    with _Ahead(engine, workers=2) as ahead:
        for batch in batches[:AHEAD]:
            ahead.start(batch)
        for n, batch in enumerate(batches):
            work = ahead.take()
            if n + AHEAD < len(batches):
                ahead.start(batches[n + AHEAD])
            assert list(work) == [t.entry_id for t in batch]
            for t in batch:
                doc = DedupDoc(t.entry_id, t.feed_id, t.title, t.text, t.published)
                assert work[t.entry_id][0].source == source_key(t.title, t.text)
                assert work[t.entry_id][1] == engine.headline_of(doc)
        assert ahead.take() == {}  # nothing left behind


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('aZ É-_.!?:"“ \n\t1ÄжЖ')), max_size=40))
def test_capitalised_words_are_found_as_the_plain_pattern_finds_them(body: str) -> None:
    """The look-behind placed after the capital (for speed) finds exactly the words that a
    look-behind before it does."""
    import re

    from aggregator.dedup.text import _CAPITALISED, _UPPER

    plain = re.compile(rf"(?<!\w)[{_UPPER}][\w-]*")
    assert [(m.start(), m.group()) for m in _CAPITALISED.finditer(body)] == [
        (m.start(), m.group()) for m in plain.finditer(body)
    ]


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_sorted_set_helpers_agree_with_numpy(dtype: type) -> None:
    """``arrays.unique`` and ``unique_counts`` give ``np.unique``'s values (and counts) for the
    hash sets and index words they stand in for: empty, single, all-equal and repeating arrays."""
    from aggregator.dedup.arrays import unique, unique_counts

    rng = np.random.default_rng(7)
    info = np.iinfo(dtype)
    cases: list[np.ndarray] = [np.empty(0, dtype=dtype), np.array([5], dtype=dtype)]
    cases.append(np.full(9, 3, dtype=dtype))
    for size in (2, 60, 400, 5000):
        a = rng.integers(info.min, info.max, size=size, dtype=dtype, endpoint=True)
        a[rng.integers(0, size, size=size // 3)] = a[0]  # repeats
        cases.append(a)
    for a in cases:
        want, counts = np.unique(a, return_counts=True)
        got = unique(a)
        assert got.dtype == a.dtype and np.array_equal(got, want)
        values, n = unique_counts(a)
        assert np.array_equal(values, want) and np.array_equal(n, counts)
