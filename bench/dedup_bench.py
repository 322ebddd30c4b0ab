"""Benchmark of the dedup stage alone: text in, story decision out, signatures and index updated.

    python bench/dedup_bench.py [--corpus ../shared/corpus/dedup-dev] [--sizes 10000 100000]
                                [--texts words|sentences] [--batches 3] [--batch 2000]
                                [--per-run 1 25]

Texts are made from the corpus's real text. ``--texts words`` (the default): each synthetic
article is 8-16 sentences drawn word by word from a first-order Markov chain over the corpus's
words (per language), so the vocabulary and its frequencies are the corpus's while articles do
not share whole sentences — as unrelated news does not. ``--texts sentences``: each article
strings together 8-16 real corpus sentences from a pool of ~19k, so at 100k entries every
sentence recurs in ~60 articles: a stress case of partial overlaps, far more than real feeds
have. In both, one entry in ten is a copy of a recent one (last paragraph dropped, another
headline), so candidates are verified and stories grow as in real feeds.

Entries arrive as feed runs (``--per-run`` new entries each, prepared together, as the pipeline
does). For each size N it ingests N entries (all in one time window), then times batches of new
entries at N in the window (entries/s: median of the batches, and each stage's share), times a
rebuild from stored signature bytes (what a restarting daemon does) and reports the memory that
rebuilt index holds per entry: its arrays, and the growth of the process's resident memory
(arrays and Python maps; the bounded feature cache is not part of it).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator.dedup import DedupDoc, DedupSettings, Engine, Indexed, Signature
from aggregator.normalise import html_to_text

T0 = datetime(2024, 8, 12, tzinfo=UTC)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def corpus_texts(corpus: Path) -> list[tuple[str, str]]:
    """(language, plain text) of every corpus entry with full content."""
    out = []
    with open(corpus / "entries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            e = json.loads(line)
            if e.get("content_html"):
                out.append((e.get("lang") or "", html_to_text(e["content_html"])))
    return out


class Sentences:
    """Real sentences of the corpus, drawn whole."""

    def __init__(self, texts: list[tuple[str, str]]) -> None:
        found = {s.strip() for _, t in texts for s in _SENTENCE.split(t) if len(s.split()) >= 6}
        self.pool = sorted(found)

    def sentence(self, rng: random.Random) -> str:
        return rng.choice(self.pool)


class Words:
    """Sentences drawn word by word from a first-order Markov chain over the corpus's words."""

    def __init__(self, texts: list[tuple[str, str]]) -> None:
        chains: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for lang, text in texts:
            for sentence in _SENTENCE.split(text):
                words = sentence.split()
                if len(words) < 6:
                    continue
                for a, b in zip(["<s>", *words], [*words, "</s>"], strict=True):
                    chains[lang][a].append(b)
        self.chains = {lang: dict(chain) for lang, chain in sorted(chains.items())}
        self.langs = sorted(self.chains)

    def sentence(self, rng: random.Random, lang: str | None = None) -> str:
        chain = self.chains[lang or rng.choice(self.langs)]
        word, out = "<s>", list[str]()
        while len(out) < 60:
            word = rng.choice(chain[word])
            if word == "</s>":
                if len(out) >= 6:
                    break
                word = "<s>"
                continue
            out.append(word)
        return " ".join(out)


def make_docs(source: Words | Sentences, n: int, start: int, rng: random.Random) -> list[DedupDoc]:
    docs: list[DedupDoc] = []
    for i in range(start, start + n):
        if docs and rng.random() < 0.1:  # a syndicated copy of a recent article
            src = rng.choice(docs[-200:])
            lines = src.text.split("\n")
            text = "\n".join(lines[:-1] if len(lines) > 3 else lines)
        elif isinstance(source, Words):
            lang = rng.choice(source.langs)
            text = "\n".join(source.sentence(rng, lang) for _ in range(rng.randint(8, 16)))
        else:
            text = "\n".join(source.sentence(rng) for _ in range(rng.randint(8, 16)))
        t = T0 + timedelta(seconds=(i * 86400 * 2) // max(1, start + n))  # all within the window
        docs.append(DedupDoc(i, i % 50, f"Judul {i}", text, t))
    return docs


def ingest(
    engine: Engine,
    docs: list[DedupDoc],
    store: dict[int, DedupDoc],
    story_of: dict[int, int],
    stages: list[float],
    per_run: int,
) -> None:
    """Place ``docs`` as feed runs of ``per_run`` new entries, as the pipeline does: prepare the
    run, supply the texts it needs (from ``store``, standing in for the database), decide and
    place each entry, commit."""
    clock = time.perf_counter
    for at in range(0, len(docs), per_run):
        run = docs[at : at + per_run]
        store.update((d.entry_id, d) for d in run)
        t0 = clock()
        prepared = engine.prepare(run)
        t1 = clock()
        placing = prepared.supply(replace(store[i], story_id=story_of.get(i)) for i in prepared.needs)
        for slot in placing:
            decision = slot.decide()
            story = decision.story_id if decision.story_id is not None else slot.doc.entry_id
            slot.place(story)
            story_of[slot.doc.entry_id] = story
        t3 = clock()
        placing.commit()
        stages[0] += t1 - t0
        stages[1] += t3 - t1
        stages[2] += clock() - t3


def resident_mb() -> float:
    """Resident memory of this process, after returning freed memory to the system."""
    gc.collect()
    with contextlib.suppress(OSError):  # not glibc: the figure keeps some freed memory
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * 4096 / 2**20


def run(
    source: Words | Sentences, size: int, batches: int, batch: int, per_run: int, rng: random.Random
) -> dict[str, object]:
    store: dict[int, DedupDoc] = {}
    story_of: dict[int, int] = {}
    settings = DedupSettings(window=timedelta(days=7))
    engine = Engine(settings)
    docs = make_docs(source, size, 0, rng)
    t = time.perf_counter()
    ingest(engine, docs, store, story_of, [0.0, 0.0, 0.0], per_run)
    fill_rate = size / (time.perf_counter() - t)
    rates, cpu_rates, shares = [], [], []
    for r in range(batches):
        more = make_docs(source, batch, size + r * batch, rng)
        stages = [0.0, 0.0, 0.0]
        engine.stats.clear()
        t, cpu = time.perf_counter(), time.process_time()
        ingest(engine, more, store, story_of, stages, per_run)
        rates.append(len(more) / (time.perf_counter() - t))
        cpu_rates.append(len(more) / (time.process_time() - cpu))
        shares.append(stages)
    stats = {k: round(v / batch, 2) for k, v in sorted(engine.stats.items())}
    # What a restarting daemon does: rebuild from stored signature bytes. The memory it takes
    # is the index's resident memory (arrays and Python maps, no feature cache).
    stored = [
        (eid, sid, store[eid].time, sig.to_bytes())
        for eid, sid in sorted(story_of.items())
        if (sig := engine.signature_of(eid)) is not None
    ]
    live = engine.memory()
    del engine
    before = resident_mb()
    fresh = Engine(settings)
    t = time.perf_counter()
    fresh.add_many([Indexed(eid, sid, when, Signature.from_bytes(data)) for eid, sid, when, data in stored])
    rebuild = time.perf_counter() - t
    resident = (resident_mb() - before) * 2**20 / len(fresh)
    parts = fresh.memory()
    n = len(fresh)
    signatures = parts["signatures"] / n
    stage_ms = [round(1000 * statistics.median(s[k] for s in shares) / batch, 3) for k in range(3)]
    return {
        "entries": size,
        "entries_per_feed_run": per_run,
        "entries_per_s_median": round(statistics.median(rates), 1),
        "entries_per_s_runs": [round(x, 1) for x in rates],
        "entries_per_cpu_s_median": round(statistics.median(cpu_rates), 1),
        "entries_per_s_filling": round(fill_rate, 1),
        "ms_per_entry_prepare_place_commit": stage_ms,
        "per_new_entry": stats,
        "index_bytes_per_entry": {
            "band_keys": round(parts["bands"] / n, 1),
            "signatures": round(signatures, 1),
            "columns": round(parts["columns"] / n, 1),
            "resident": round(resident, 1),
            "resident_beyond_signatures": round(resident - signatures, 1),
            "live_engine_arrays": round(sum(live.values()) / n, 1),  # with growth slack
        },
        "resident_mb_process": round(resident_mb(), 1),
        "stored_signature_bytes": len(stored[0][3]),
        "rebuild_s": round(rebuild, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared/corpus/dedup-dev"
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--texts", choices=["words", "sentences"], default="words")
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--batch", type=int, default=2000, help="new entries timed in each batch")
    ap.add_argument("--per-run", type=int, nargs="+", default=[25], help="new entries per feed run")
    args = ap.parse_args()
    texts = corpus_texts(args.corpus)
    source: Words | Sentences = Words(texts) if args.texts == "words" else Sentences(texts)
    print(f"texts: {args.texts} (from {len(texts)} corpus articles)")
    for size in args.sizes:
        for per_run in args.per_run:
            result = run(source, size, args.batches, args.batch, per_run, random.Random(size))
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
