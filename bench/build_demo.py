"""Build the sample feeds ``aggregator demo`` serves: ``aggregator/demo/sample.json``.

Reads the labelled development corpus (``--corpus``, default ``../shared/corpus/dedup-dev``)
and keeps only its Indonesian entries, whose texts come from IndoSum (CC BY-SA 4.0; see the
credit written into the output). Picks a handful of sources in the three formats and a dozen
stories with real copies among them (syndicated, edited, excerpted, reworded), some stories
that no one copied, and the seed case (a content farm's synonym-swapped repost with a trailing
"Sumber cnnindonesia.com"), and spreads them over three release waves so the demo shows copies
joining stories while it runs.

Times are not absolute: each entry has the wave it appears in and its age in minutes when that
wave is released; the demo turns them into dates when it starts.

Deterministic: the same corpus and ``--seed`` give the same file. Run by hand:

    python bench/build_demo.py [--corpus DIR] [--seed 7]
"""

from __future__ import annotations

import argparse
import html
import json
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "aggregator" / "demo" / "sample.json"
SEED_DIR = ROOT / "tests" / "data" / "dedup"

# Demo feed name -> how it is served, and which corpus sources it takes entries from.
SOURCES: dict[str, dict[str, Any]] = {
    "cnnindonesia": {
        "title": "CNN Indonesia",
        "site_url": "https://www.cnnindonesia.com/",
        "format": "rss",
        "from": (
            "cnnindonesia-nasional",
            "cnnindonesia-hiburan",
            "cnnindonesia-olahraga",
            "cnnindonesia-internasional",
            "cnnindonesia-ekonomi",
        ),
    },
    "kumparan": {"title": "kumparan", "site_url": "https://kumparan.com/", "format": "atom"},
    "suara": {"title": "Suara.com", "site_url": "https://www.suara.com/", "format": "rss"},
    "kabar24jam": {"title": "Kabar24Jam", "site_url": "https://www.kabar24jam.com/", "format": "rss"},
    "wartanusantara": {
        "title": "Warta Nusantara",
        "site_url": "https://wartanusantara.id/",
        "format": "atom",
    },
    "portalsatu": {"title": "PortalSatu", "site_url": "https://portalsatu.net/", "format": "json"},
    "infoviral": {"title": "InfoViral", "site_url": "https://infoviral.my.id/", "format": "rss"},
    "ringkasnews": {"title": "RingkasNews", "site_url": "https://ringkas.news/", "format": "json"},
    "lintasberita": {"title": "LintasBerita", "site_url": "https://lintasberita.id/", "format": "atom"},
}
PUBLISHERS = ("cnnindonesia", "kumparan", "suara")  # where the originals come from
COPY_ROLES = ("syndicated", "edited", "excerpt", "spun")
STORIES = 12  # stories with copies
SINGLES = 10  # stories no one copied
CREDIT = (
    "Texts from IndoSum (Kurniawan & Louvan, 2018, 'IndoSum: A New Benchmark Dataset for Indonesian "
    "Text Summarization'), CC BY-SA 4.0, and copies derived from them (syndicated, edited, "
    "excerpted, synonym-swapped) for the aggregator's dedup corpus; the seed case is a real "
    "content-farm repost of a CNN Indonesia article. Shared under CC BY-SA 4.0. Feed names, "
    "addresses and dates are as the corpus gives them; the demo moves the dates to the present."
)


def _demo_source(corpus_source: str) -> str | None:
    for name, spec in SOURCES.items():
        if corpus_source in spec.get("from", (name,)):
            return name
    return None


def _entry(e: dict[str, Any], source: str, wave: int, age: int) -> dict[str, Any]:
    return {
        "source": source,
        "guid": e["guid"],
        "url": e["url"],
        "title": e["title"],
        "content_html": e["content_html"],
        "summary_html": e["summary_html"],
        "wave": wave,
        "age_minutes": age,
        "role": e["role"],  # kept for the tests' and readers' benefit; not served
        "story": e["cluster"],
    }


def _seed_case(rng: random.Random) -> list[dict[str, Any]]:
    """The original case: the article, and its synonym-swapped repost released in wave 2."""

    def paragraphs(text: str) -> tuple[str, str]:
        lines = [ln.strip() for ln in text.split("\n\n") if ln.strip()]
        title, body = lines[0], lines[1:]
        return title, "".join(f"<p>{html.escape(p)}</p>" for p in body)

    title, body = paragraphs((SEED_DIR / "seed_original.txt").read_text(encoding="utf-8"))
    repost_title, repost_body = paragraphs((SEED_DIR / "seed_repost.txt").read_text(encoding="utf-8"))
    slug = "kolaborasi-bpjs-ketenagakerjaan-lindungi-pekerja-di-bangka-belitung"
    original = {
        "source": "cnnindonesia",
        "guid": f"https://www.cnnindonesia.com/ekonomi/20240506093512-97-1094871/{slug}",
        "url": f"https://www.cnnindonesia.com/ekonomi/20240506093512-97-1094871/{slug}",
        "title": title,
        "content_html": body,
        "summary_html": "",
        "wave": 1,
        "age_minutes": rng.randint(240, 600),
        "role": "original",
        "story": "seed",
    }
    repost = {
        **original,
        "source": "infoviral",
        "guid": "https://infoviral.my.id/?p=702114",
        "url": f"https://infoviral.my.id/2024/05/06/{slug}/",
        "title": repost_title,
        "content_html": repost_body,
        "wave": 2,
        "age_minutes": 1,
        "role": "spun",
    }
    return [original, repost]


def build(corpus: Path, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    lines = (corpus / "entries.jsonl").read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    by_story: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        if e["lang"] == "id" and _demo_source(e["source"]) is not None:
            by_story[e["cluster"]].append(e)

    def original(members: list[dict[str, Any]]) -> dict[str, Any] | None:
        found = [e for e in members if e["role"] == "original" and _demo_source(e["source"]) in PUBLISHERS]
        return found[0] if found else None

    # Stories with copies: one copy per feed (a feed carrying a story three times is real, but
    # noise in a first look), at least four members, at least one reworded or edited copy.
    candidates = []
    for _story, members in sorted(by_story.items()):
        first = original(members)
        if first is None:
            continue
        by_feed: dict[str, dict[str, Any]] = {}
        for e in members:
            where = _demo_source(e["source"])
            if e["role"] in COPY_ROLES and where not in PUBLISHERS and where not in by_feed:
                by_feed[str(where)] = e
        if len(by_feed) >= 3 and {"spun", "edited"} & {c["role"] for c in by_feed.values()}:
            candidates.append((first, list(by_feed.values())))
    chosen = rng.sample(candidates, STORIES)
    singles_pool = [
        first
        for story, members in sorted(by_story.items())
        if (first := original(members)) is not None and len(members) == 1
    ]
    singles = rng.sample(singles_pool, SINGLES)

    out: list[dict[str, Any]] = []
    for i, (first, copies) in enumerate(chosen):
        late_story = i >= STORIES - 2  # the last two stories appear only in wave 3
        wave = 3 if late_story else 1
        age = rng.randint(30, 90) if late_story else rng.randint(120, 1200)
        out.append(_entry(first, str(_demo_source(first["source"])), wave, age))
        rng.shuffle(copies)
        for j, c in enumerate(copies):
            where = str(_demo_source(c["source"]))
            if late_story:
                out.append(_entry(c, where, 3, rng.randint(0, age - 5)))
            elif j == 0:  # one copy of each early story turns up later, while the demo runs
                out.append(_entry(c, where, rng.choice((2, 3)), rng.randint(0, 3)))
            else:
                out.append(_entry(c, where, 1, rng.randint(max(0, age - 600), age - 10)))
    for first in singles:
        out.append(_entry(first, str(_demo_source(first["source"])), 1, rng.randint(20, 1400)))
    out.extend(_seed_case(rng))
    out.sort(key=lambda e: (e["wave"], e["age_minutes"], e["url"]))
    sources = [{"name": n, **{k: v for k, v in s.items() if k != "from"}} for n, s in SOURCES.items()]
    return {"credit": CREDIT, "wave_seconds": 60, "sources": sources, "entries": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "dedup-dev")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if not (args.corpus / "entries.jsonl").is_file():
        print(f"{args.corpus}: no entries.jsonl here; pass --corpus DIR", file=sys.stderr)
        return 2
    sample = build(args.corpus, args.seed)
    args.out.write_text(json.dumps(sample, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    counts: dict[str, int] = defaultdict(int)
    for e in sample["entries"]:
        counts[e["role"]] += 1
    stories = len({e["story"] for e in sample["entries"]})
    print(f"{args.out}: {len(sample['entries'])} entries, {stories} stories, {dict(counts)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
