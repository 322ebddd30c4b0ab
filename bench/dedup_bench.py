"""Benchmark of the dedup stage alone: text in, story decision out, index updated.

    python bench/dedup_bench.py [--corpus ../shared/corpus/dedup-dev] [--sizes 10000 100000]

Texts are built like the corpus's: each synthetic article strings together 8-16 sentences drawn
from the corpus's real sentences, and one in ten is a copy of an earlier one (lightly edited),
so candidates and verification happen as in real feeds. For each size N it ingests N entries
(all inside one time window), then times a further batch of 2,000 (entries/s at N in the
window), reports the index memory per entry (tracemalloc over the engine's structures, beyond
the 1 KB of stored signatures), and times a rebuild from stored signature bytes.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator.dedup import DedupDoc, DedupSettings, Engine, Signature
from aggregator.normalise import html_to_text

T0 = datetime(2024, 8, 12, tzinfo=UTC)


def sentences(corpus: Path) -> list[str]:
    out: list[str] = []
    with open(corpus / "entries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            e = json.loads(line)
            text = html_to_text(e.get("content_html") or "")
            out.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 6)
    return sorted(set(out))


def make_docs(pool: list[str], n: int, start: int, rng: random.Random) -> list[DedupDoc]:
    docs: list[DedupDoc] = []
    for i in range(start, start + n):
        if docs and rng.random() < 0.1:  # a syndicated copy of a recent article
            src = rng.choice(docs[-200:])
            lines = src.text.split("\n")
            if len(lines) > 3:
                lines = lines[:-1]
            text = "\n".join(lines)
        else:
            text = "\n".join(rng.sample(pool, rng.randint(8, 16)))
        t = T0 + timedelta(seconds=(i * 86400 * 2) // max(1, start + n))  # all within the window
        docs.append(DedupDoc(i, i % 50, f"Judul {i}", text, t))
    return docs


def ingest(engine: Engine, docs: list[DedupDoc], store: dict[int, DedupDoc]) -> None:
    for doc in docs:
        store[doc.entry_id] = doc
        prep = engine.prepare(doc)
        decision = engine.assign(doc, prep)
        story = decision.story_id if decision.story_id is not None else doc.entry_id
        engine.add(doc.entry_id, story, doc.time, prep.signature, prep.indexable)


def stored_signatures(engine: Engine) -> dict[int, bytes]:
    """What the database holds for each entry: its signature bytes."""
    return {
        eid: Signature(engine._full_sigs[row], engine._lead_sigs[row]).to_bytes()
        for eid, row in engine._row.items()
    }


def run(pool: list[str], size: int, rng: random.Random) -> dict[str, float]:
    store = {d.entry_id: d for d in make_docs(pool, 0, 0, rng)}
    settings = DedupSettings(window=timedelta(days=7))
    engine = Engine(settings, lambda ids: [store[i] for i in ids if i in store])
    docs = make_docs(pool, size, 0, rng)
    store.update({d.entry_id: d for d in docs})  # the "database": allocated before measuring
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    ingest(engine, docs, store)
    engine._cache.clear()  # features cache is bounded separately; measure the index itself
    gc.collect()
    index_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    bands = (engine.full.nbytes() + engine.lead.nbytes()) / len(engine)
    matrices = (engine._full_sigs.nbytes + engine._lead_sigs.nbytes) / len(engine)
    rates = []
    for r in range(3):
        batch = make_docs(pool, 2000, size + r * 2000, rng)
        t = time.perf_counter()
        ingest(engine, batch, store)
        rates.append(len(batch) / (time.perf_counter() - t))
    # rebuild from stored signature bytes (what a restarting daemon does)
    fresh = Engine(settings, lambda ids: [store[i] for i in ids if i in store])
    sigs = stored_signatures(engine)
    t = time.perf_counter()
    for eid, data in sigs.items():
        fresh.add(eid, eid, store[eid].time, Signature.from_bytes(data))
    rebuild = time.perf_counter() - t
    sig_bytes = sum(len(b) for b in sigs.values()) / len(sigs)
    return {
        "band_index_bytes_per_entry": round(bands, 1),
        "signature_matrix_bytes_per_entry": round(matrices, 1),
        "other_bytes_per_entry": round(index_bytes / size - matrices - bands, 1),  # maps, lists
        "entries": size,
        "entries_per_s_median": round(statistics.median(rates), 1),
        "entries_per_s_runs": [round(x, 1) for x in rates],  # type: ignore[dict-item]
        "index_bytes_per_entry": round(index_bytes / size, 1),
        "index_bytes_per_entry_beyond_signatures": round(index_bytes / size - matrices, 1),
        "stored_signature_bytes": round(sig_bytes, 1),
        "rebuild_s": round(rebuild, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared/corpus/dedup-dev"
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = ap.parse_args()
    pool = sentences(args.corpus)
    print(f"sentence pool: {len(pool)}")
    for size in args.sizes:
        print(json.dumps(run(pool, size, random.Random(size))))


if __name__ == "__main__":
    main()
