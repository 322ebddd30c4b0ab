"""Build a derived dedup corpus with the kinds of copies dedup-dev lacks: headline-only, dressed-up, short.

    python bench/headline_corpus.py [--corpus ../shared/corpus/dedup-dev] --out DIR [--seed 1]

The labelled dev corpus (``shared/corpus/dedup-dev``) has full-text, excerpt and edited copies but
almost no copies that carry little or no text. This script copies the dev corpus's ``sources.json``
and ``entries.jsonl`` unchanged into DIR (same format, see ``shared/tools/README.md``) and adds:

- headline-only sources (news-search style: title and link, no text at all), each dressing the
  original headline with its publisher name in ONE style (``Title - P``, ``Title | P``, ``P: Title``,
  ``Title (P)``); three link to the original article's URL, one (``newsbrief-daily``) to a page of
  its own site whose slug carries the headline words (role ``headline``);
- dressed-up copies: the original's text (verbatim or lightly edited) under a dressed-up title:
  a prefix (``JUST IN:``, ``[FOTO]``), a wrapper (``..., sources say``, ``Fakta-fakta ...``), ALL
  CAPS, the first half of the words, or the first sentence as the title (role ``dressed``);
- short items: the original's title and its first sentence only (role ``short``);
- recurring-report traps: headline-only entries that repeat the title of another day's report of
  the same template (earnings, money market, match results ...), at least two days from it, each
  its own story (role ``distinct``, family ``distinct_template_headline``: joining one to the
  report it copies is a merged hard negative), and a few same-day headlines of template reports
  (role ``headline``, family ``headline_template_same_day``: positives).

So the aggregator's handling of them is measured with the shared tools, unchanged:

    python bench/headline_corpus.py --out /tmp/headline-corpus
    bash ../shared/tools/run_dedup_eval.sh . /tmp/headline-corpus

``score_dedup.py`` reports fixed roles in its JSON line (``by_role_b3_r``); the new roles appear in
its "by family" table. It matches entries by URL, so headline entries that link to the original's
URL are joined to it by construction: title-only matching is measured by the own-site family
(``headline_affix_colon``) and the template families. Output is deterministic for a given --seed;
DIR/README.md (written with the data, never into this repository) lists what was added.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import random
import re
import sys
import unicodedata
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

Entry = dict[str, Any]

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = PROJECT.parent / "shared" / "corpus" / "dedup-dev"
FIELDS = (
    "source",
    "url",
    "guid",
    "title",
    "content_html",
    "summary_html",
    "published",
    "lang",
    "cluster",
    "role",
    "wave",
    "family",
)
LANGS = ("id", "en")
TRAP_GAP = timedelta(days=2)


@dataclass(frozen=True)
class SourceSpec:
    """A source this script adds, and how its entries' titles, URLs and guids look."""

    source: str
    title: str
    site_url: str
    format: str
    content: str
    lang: str
    tz_hours: int
    url_tpl: str  # "" = the target's own URL (news-search style link)
    guid_tpl: str
    publisher: str = ""
    style: str = ""  # headline sources: dash | pipe | colon | paren
    per_lang: tuple[tuple[str, int], ...] = ()

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(hours=self.tz_hours))

    def dress(self, title: str) -> str:
        return AFFIX[self.style].format(t=title, p=self.publisher)


AFFIX = {"dash": "{t} - {p}", "pipe": "{t} | {p}", "colon": "{p}: {t}", "paren": "{t} ({p})"}

HEADLINE_SOURCES = (
    SourceSpec(
        "wartakilat",
        "Warta Kilat - Berita Terkini",
        "https://wartakilat.example",
        "rss2",
        "summary",
        "id",
        7,
        "",
        "wartakilat-{num}",
        "Warta Kilat",
        "dash",
        (("id", 60),),
    ),
    SourceSpec(
        "morningticker",
        "The Morning Ticker - Top Stories",
        "https://morningticker.example",
        "rss2",
        "summary",
        "en",
        0,
        "",
        "tag:morningticker.example,2024:{num}",
        "The Morning Ticker",
        "pipe",
        (("en", 60),),
    ),
    SourceSpec(
        "newsbrief-daily",
        "NewsBrief Daily",
        "https://brief.example",
        "atom",
        "summary",
        "en",
        7,
        "{site}/{y}/{m}/{d}/{slug}",
        "{url}",
        "NewsBrief Daily",
        "colon",
        (("id", 60), ("en", 60)),
    ),
    SourceSpec(
        "sorotanharian",
        "Sorotan Harian",
        "https://sorotanharian.example",
        "atom",
        "summary",
        "id",
        7,
        "",
        "urn:uuid:{uuid}",
        "Sorotan Harian",
        "paren",
        (("id", 30), ("en", 30)),
    ),
)
OWN_SITE = HEADLINE_SOURCES[2]  # also carries the template headlines (traps and same-day positives)
DRESSED_SOURCES = (
    SourceSpec(
        "viralterkini",
        "Viral Terkini",
        "https://viralterkini.example",
        "rss2",
        "full",
        "id",
        7,
        "{site}/read/{num}/{slug}",
        "{site}/?p={num}",
        per_lang=(("id", 60),),
    ),
    SourceSpec(
        "buzzdesk",
        "The Buzz Desk",
        "https://buzzdesk.example",
        "atom",
        "full",
        "en",
        -5,
        "{site}/{y}/{m}/{d}/{slug}/",
        "{url}",
        per_lang=(("en", 60),),
    ),
)
SHORT_SOURCE = SourceSpec(
    "quicktake",
    "QuickTake - News in One Line",
    "https://quicktake.example",
    "jsonfeed",
    "full",
    "en",
    0,
    "{site}/s/{num}/{slug}",
    "qt-{num}",
    per_lang=(("id", 40), ("en", 40)),
)
NEW_SOURCES = (*HEADLINE_SOURCES, *DRESSED_SOURCES, SHORT_SOURCE)
SAME_DAY_POSITIVES = (("en", 4), ("id", 2))

DRESS_KINDS = ("prefix", "wrapper", "caps", "trim", "first_sentence")
PREFIXES = {
    "en": ("JUST IN:", "VIDEO:", "EXCLUSIVE:", "Update:", "BREAKING:"),
    "id": ("[FOTO]", "HEBOH!", "VIDEO:", "[VIDEO]", "VIRAL!"),
}
WRAPPERS = {
    "en": ("{t}, sources say", "Everything we know: {t}", "{t}: what we know so far"),
    "id": ("{t}, Begini Kronologinya", "Fakta-fakta {t}", "{t}, Ini Penjelasannya"),
}
CREDIT = {"en": "Source: {s}", "id": "Sumber: {s}"}

_TAG = re.compile(r"<[^>]+>")
_PARA = re.compile(r"<p\b[^>]*>(.*?)</p\s*>", re.S | re.I)
_WS = re.compile(r"[ \t\r\f\v\u00a0]+")
_BOUNDARY = re.compile(r"[.!?]+[\"”’')\]]*\s+(?=[\"“‘'(\[]?[A-Z0-9])")
_ABBREV = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "jr",
        "sr",
        "co",
        "corp",
        "inc",
        "ltd",
        "no",
        "nos",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "gov",
        "sen",
        "rep",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "prof",
        "vs",
        "etc",
        "mln",
        "bln",
        "dlrs",
        "pct",
        "cts",
        "approx",
        "dept",
        "est",
        "fig",
        "jl",
        "kab",
        "kec",
        "prov",
        "tbk",
        "pt",
        "dll",
        "dkk",
        "rp",
        "hj",
        "bpk",
        "ir",
        "drs",
        "kol",
        "brigjen",
        "irjen",
        "kombes",
        "akbp",
        "kompol",
    }
)
_DATELINE = re.compile(r"^(?P<p>[^\n]{2,70}?)\s*(?:--|—|–|\s-)\s+")
_SCORE = re.compile(r"\b\d+\s?-\s?\d+\b")


# ----------------------------------------------------------------------------- text helpers
def parse_time(s: str) -> datetime:
    """An entry's ``published`` as an aware datetime."""
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def iso(d: datetime, tz: timezone) -> str:
    return d.astimezone(tz).isoformat(timespec="seconds")


def clean(s: str) -> str:
    return _WS.sub(" ", html.unescape(_TAG.sub(" ", s))).strip()


def paragraphs(content_html: str) -> list[str]:
    """The ``<p>`` blocks of an article's HTML (the whole text as one block if it has none)."""
    found = _PARA.findall(content_html)
    return found if found else [content_html]


def plain_text(content_html: str) -> str:
    return "\n".join(t for t in (clean(p) for p in paragraphs(content_html)) if t)


def first_sentence(content_html: str) -> str | None:
    """The article's first sentence as it stands (dateline included), or None if it has no clean one."""
    paras = [clean(p) for p in paragraphs(content_html)]
    first = next((p for p in paras if p), "")
    raw = next((p for p in paragraphs(content_html) if clean(p)), "")
    if not first or "\n" in html.unescape(_TAG.sub(" ", raw)).strip():
        return None  # tabular reports (earnings tables) have no first sentence
    out = first
    for m in _BOUNDARY.finditer(first):
        before = first[: m.start()].split()
        word = before[-1].strip("\"“'(").lower() if before else ""
        if first[m.start()] == "." and (len(word) == 1 or "." in word or word in _ABBREV):
            continue
        out = first[: m.end()].strip()
        break
    n = len(out.split())
    if n < 6 or n > 70 or out[-1] not in ".!?\"”’')":
        return None
    return out


def strip_dateline(sentence: str) -> str:
    """``JAKARTA, CNN Indonesia -- Text`` -> ``Text`` (kept as is when no dateline is recognised)."""
    m = _DATELINE.match(sentence)
    if m:
        words = re.findall(r"[^\s,]+", m.group("p"))
        if 0 < len(words) <= 8 and all(w[0].isupper() or w[0].isdigit() or w[0] in "(<" for w in words):
            rest = sentence[m.end() :]
            if len(rest.split()) >= 5:
                sentence = rest
    return sentence[:1].upper() + sentence[1:]


def summary_of(text: str, limit: int = 200) -> str:
    """The first ``limit`` characters of the text, cut at a word, HTML-escaped."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[:limit].rsplit(" ", 1)[0]
    return html.escape(flat, quote=False)


def slugify(text: str, max_words: int = 10) -> str:
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "-".join(re.findall(r"[a-z0-9]+", ascii_)[:max_words]) or "item"


def title_tokens(title: str) -> frozenset[str]:
    """Lower-cased title words, any word with a digit masked as ``#`` (so reports of one template meet)."""
    words = re.findall(r"[\w.'-]+", title.lower().replace("<", " ").replace(">", " "))
    return frozenset("#" if any(c.isdigit() for c in w) else w for w in words)


def title_sim(a: str, b: str) -> float:
    ta, tb = title_tokens(a), title_tokens(b)
    return len(ta & tb) / len(ta | tb) if ta | tb else 0.0


def norm_title(title: str) -> str:
    return " ".join(title.lower().split())


def dress_title(
    kind: str, title: str, sentence: str | None, lang: str, rng: random.Random
) -> tuple[str, str]:
    """(kind actually used, dressed title); a kind a title cannot take falls back to another."""
    words = title.split()
    if kind == "trim" and len(words) < 4:
        kind = "caps"
    if kind == "first_sentence":
        lede = strip_dateline(sentence).rstrip(" .") if sentence else ""
        if len(lede.split()) < 5 or norm_title(lede) == norm_title(title):
            kind = "wrapper"
        else:
            return kind, lede
    if kind == "prefix":
        return kind, f"{rng.choice(PREFIXES[lang])} {title}"
    if kind == "wrapper":
        return kind, rng.choice(WRAPPERS[lang]).format(t=title)
    if kind == "caps":
        return kind, title.upper()
    if kind == "trim":
        return kind, " ".join(words[: math.ceil(len(words) / 2)]).rstrip(" ,:;-")
    raise ValueError(kind)


# ----------------------------------------------------------------------------- corpus
def load(corpus: Path) -> tuple[list[dict[str, Any]], list[str], list[Entry]]:
    """sources.json, the raw lines of entries.jsonl (copied verbatim) and the parsed entries."""
    with open(corpus / "sources.json", encoding="utf-8") as fh:
        sources = json.load(fh)
    with open(corpus / "entries.jsonl", encoding="utf-8") as fh:
        lines = [ln if ln.endswith("\n") else ln + "\n" for ln in fh if ln.strip()]
    return sources, lines, [json.loads(ln) for ln in lines]


def reachable(entries: list[Entry], sources: list[dict[str, Any]], waves: int) -> list[bool]:
    """Which entries a feed farm ever shows (the farm's and score_dedup.py's rule)."""
    max_items = {s["source"]: int(s.get("max_items") or 10**9) for s in sources}
    by_src: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(entries):
        by_src[e["source"]].append(i)
    ok = [True] * len(entries)
    for src, idx in by_src.items():
        for w in range(1, waves + 1):
            vis = [i for i in idx if int(entries[i].get("wave", 1)) <= w]
            vis.sort(key=lambda i: (parse_time(entries[i]["published"]).timestamp(), entries[i]["url"]))
            shown = set(vis[::-1][: max_items.get(src, 10**9)])
            for i in idx:
                if int(entries[i].get("wave", 1)) == w and i not in shown:
                    ok[i] = False
    return ok


# ----------------------------------------------------------------------------- builder
@dataclass
class Trap:
    """One recurring-report trap, for the README."""

    cluster: str
    title: str
    chosen_for: str
    copies: str
    copies_published: str
    published: str
    side: str
    sim: float


class Builder:
    """Adds the new entries to a copy of the dev corpus."""

    def __init__(self, sources: list[dict[str, Any]], entries: list[Entry], seed: int) -> None:
        self.sources = sources
        self.entries = entries
        self.rng = random.Random(seed)
        self.seed = seed
        self.waves = max(int(e.get("wave", 1)) for e in entries)
        self.reach = reachable(entries, sources, self.waves)
        self.source_title = {s["source"]: s.get("title") or s["source"] for s in sources}
        self.new: list[Entry] = []
        self.targets: list[int | None] = []  # the corpus entry each new entry copies (None: none)
        self.used_urls = {e["url"] for e in entries}
        self.used_guids = {e.get("guid") or "" for e in entries}
        self.used_nums: set[int] = set()
        self.clusters = {e["cluster"] for e in entries}
        self.traps: list[Trap] = []
        self.edits: Counter[str] = Counter()
        names = {s["source"] for s in sources}
        clash = names & {s.source for s in NEW_SOURCES}
        if clash:
            raise SystemExit(f"corpus already has sources named {sorted(clash)}")

    # -- ids
    def _num(self) -> int:
        while True:
            n = self.rng.randrange(100000, 1000000)
            if n not in self.used_nums:
                self.used_nums.add(n)
                return n

    def _add(
        self,
        spec: SourceSpec,
        target: int | None,
        title: str,
        when: datetime,
        slug_of: str = "",
        **fields: Any,
    ) -> Entry:
        """Make the entry's URL (slug from ``slug_of`` or the title) and guid, both unique; record it."""
        local = when.astimezone(spec.tz)
        num = self._num()
        if spec.url_tpl:
            base = slugify(slug_of or title)
            url, k = "", 1
            while not url or url in self.used_urls:
                slug = base if k == 1 else f"{base}-{k}"
                url = spec.url_tpl.format(
                    site=spec.site_url, y=f"{local:%Y}", m=f"{local:%m}", d=f"{local:%d}", slug=slug, num=num
                )
                k += 1
        else:
            assert target is not None
            url = self.entries[target]["url"]
            if any(e["url"] == url for e in self.new):
                raise RuntimeError(f"two new entries link to {url}")
        uid = uuid.uuid5(uuid.NAMESPACE_URL, f"{spec.source}:{self.seed}:{num}:{url}")
        guid = spec.guid_tpl.format(site=spec.site_url, num=num, url=url, uuid=uid)
        if guid in self.used_guids:
            raise RuntimeError(f"guid {guid} is not unique")
        self.used_urls.add(url)
        self.used_guids.add(guid)
        e: Entry = {
            "source": spec.source,
            "url": url,
            "guid": guid,
            "title": title,
            "content_html": "",
            "summary_html": "",
            "published": iso(when, spec.tz),
        }
        e.update(fields)
        entry = {k: e[k] for k in FIELDS}
        self.new.append(entry)
        self.targets.append(target)
        return entry

    def _later(self, i: int, lo_min: int, hi_min: int) -> datetime:
        return parse_time(self.entries[i]["published"]) + timedelta(
            seconds=self.rng.randint(lo_min * 60, hi_min * 60)
        )

    def _wave(self, i: int, p_later: float) -> int:
        w = int(self.entries[i].get("wave", 1))
        return min(self.waves, w + (1 if self.rng.random() < p_later else 0))

    # -- selection
    def template_reports(self) -> tuple[list[int], list[int]]:
        """(reachable distinct_template reports, reachable originals with a template title)."""
        reports = [i for i, e in enumerate(self.entries) if e.get("family") == "distinct_template"]
        titled = []
        for i, e in enumerate(self.entries):
            if e["role"] != "original" or not self.reach[i]:
                continue
            for j in reports:
                d = self.entries[j]
                if d["lang"] != e["lang"]:
                    continue
                s = title_sim(e["title"], d["title"])
                if s >= 0.5 or (s >= 0.2 and _SCORE.search(e["title"]) and _SCORE.search(d["title"])):
                    titled.append(i)
                    break
        return [i for i in reports if self.reach[i]], titled

    def story_pools(self, exclude: set[str]) -> dict[str, list[int]]:
        """Reachable originals per language, in a seeded random order."""
        pools: dict[str, list[int]] = {}
        for lang in LANGS:
            idx = [
                i
                for i, e in enumerate(self.entries)
                if e["role"] == "original"
                and e["lang"] == lang
                and self.reach[i]
                and e["cluster"] not in exclude
            ]
            idx.sort(key=lambda i: (self.entries[i]["cluster"], self.entries[i]["url"]))
            self.rng.shuffle(idx)
            pools[lang] = idx
        return pools

    @staticmethod
    def take(pool: list[int], n: int, ok: Callable[[int], bool] | None = None) -> list[int]:
        """Remove and return the first n items of pool that pass ok."""
        got = [i for i in pool if ok is None or ok(i)][:n]
        chosen = set(got)
        pool[:] = [i for i in pool if i not in chosen]
        if len(got) < n:
            raise SystemExit(f"corpus too small: wanted {n} stories, found {len(got)}")
        return got

    # -- the four additions
    def add_short(self, pools: dict[str, list[int]]) -> None:
        for lang, n in SHORT_SOURCE.per_lang:
            for i in self.take(
                pools[lang], n, lambda i: first_sentence(self.entries[i]["content_html"]) is not None
            ):
                o = self.entries[i]
                sentence = first_sentence(o["content_html"])
                assert sentence is not None
                body = html.escape(sentence, quote=False)
                self._add(
                    SHORT_SOURCE,
                    i,
                    o["title"],
                    self._later(i, 5, 180),
                    content_html=f"<p>{body}</p>",
                    summary_html=body,
                    lang=lang,
                    cluster=o["cluster"],
                    role="short",
                    wave=self._wave(i, 0.25),
                    family="short_first_sentence",
                )

    def add_dressed(self, pools: dict[str, list[int]]) -> None:
        for spec in DRESSED_SOURCES:
            for lang, n in spec.per_lang:
                chosen = self.take(pools[lang], n, lambda i: bool(self.entries[i]["content_html"]))
                for k, i in enumerate(chosen):
                    o = self.entries[i]
                    sentence = first_sentence(o["content_html"])
                    kind, title = dress_title(
                        DRESS_KINDS[k % len(DRESS_KINDS)], o["title"], sentence, lang, self.rng
                    )
                    paras = _PARA.findall(o["content_html"])
                    r = self.rng.random()
                    if r < 0.25 and len(paras) >= 3:
                        edit = "last paragraph dropped"
                        body = "\n".join(f"<p>{p}</p>" for p in paras[:-1])
                    elif r >= 0.75:
                        edit = "credit line appended"
                        credit = CREDIT[lang].format(s=self.source_title.get(o["source"], o["source"]))
                        body = o["content_html"].rstrip() + f"\n<p>{html.escape(credit, quote=False)}</p>"
                    else:
                        edit = "verbatim"
                        body = o["content_html"]
                    self.edits[edit] += 1
                    self._add(
                        spec,
                        i,
                        title,
                        self._later(i, 10, 360),
                        content_html=body,
                        summary_html=summary_of(plain_text(body)),
                        lang=lang,
                        cluster=o["cluster"],
                        role="dressed",
                        wave=self._wave(i, 0.3),
                        family=f"dressed_{kind}",
                    )

    def add_headlines(self, pools: dict[str, list[int]]) -> None:
        for spec in HEADLINE_SOURCES:
            for lang, n in spec.per_lang:
                for i in self.take(pools[lang], n):
                    o = self.entries[i]
                    self._add(
                        spec,
                        i,
                        spec.dress(o["title"]),
                        self._later(i, 3, 240),
                        slug_of=o["title"],
                        lang=lang,
                        cluster=o["cluster"],
                        role="headline",
                        wave=self._wave(i, 0.25),
                        family=f"headline_affix_{spec.style}",
                    )

    def add_template_headlines(self, reports: list[int], titled: list[int]) -> None:
        spec = OWN_SITE
        stamps: dict[str, list[datetime]] = defaultdict(list)  # normalised title -> every dated copy
        for i in reports + titled:
            stamps[norm_title(self.entries[i]["title"])].append(parse_time(self.entries[i]["published"]))
        # Same-day positives: originals with a template title (a distinct report would count as
        # "merged" in distinct_merged once its positive is rightly joined to it).
        for lang, n in SAME_DAY_POSITIVES:
            cands = sorted(
                (i for i in titled if self.entries[i]["lang"] == lang), key=lambda i: self.entries[i]["url"]
            )
            self.rng.shuffle(cands)
            for i in cands[:n]:
                r = self.entries[i]
                start = parse_time(r["published"])
                when = self._later(i, 10, 180)
                end = start.replace(hour=23, minute=59, second=59)
                if when > end:
                    when = start + max((end - start) / 2, timedelta(seconds=1))
                self._add(
                    spec,
                    i,
                    spec.dress(r["title"]),
                    when,
                    slug_of=r["title"],
                    lang=lang,
                    cluster=r["cluster"],
                    role="headline",
                    wave=int(r.get("wave", 1)),
                    family="headline_template_same_day",
                )
                stamps[norm_title(r["title"])].append(when)
        # Traps: for each template report C, a headline that repeats the title of its nearest
        # other-day report X of the same template, at least TRAP_GAP from every dated copy of that title.
        # A title already copied counts 0.1 less similar and its next copy goes to the side (before/after)
        # it has fewer copies on, so repeated titles do not pile up days away from the corpus's timeline.
        pool = reports + titled
        uses: Counter[str] = Counter()
        on_side: dict[str, Counter[str]] = defaultdict(Counter)
        order = sorted(reports, key=lambda i: self.entries[i]["cluster"])
        sides = ["after", "before"] * (len(order) // 2 + 1)
        self.rng.shuffle(sides)
        for n, c in enumerate(order, 1):
            ce = self.entries[c]
            best: tuple[float, int, float, int] | None = None
            for x in pool:
                xe = self.entries[x]
                if xe["cluster"] == ce["cluster"] or xe["lang"] != ce["lang"]:
                    continue
                key = (
                    title_sim(ce["title"], xe["title"]) - 0.1 * uses[norm_title(xe["title"])],
                    int(xe["source"] == ce["source"]),
                    self.rng.random(),
                    x,
                )
                if best is None or key > best:
                    best = key
            if best is None:
                continue
            x = best[3]
            xe = self.entries[x]
            norm = norm_title(xe["title"])
            copies = stamps[norm]
            jitter = timedelta(seconds=self.rng.randint(3600, 20 * 3600))
            side = sides[n - 1]
            other = "before" if side == "after" else "after"
            if on_side[norm][side] > on_side[norm][other]:
                side = other
            uses[norm] += 1
            on_side[norm][side] += 1
            if side == "after":
                when, wave = max(copies) + TRAP_GAP + jitter, self.waves
            else:
                when = min(copies) - TRAP_GAP - jitter
                wave = max(int(xe.get("wave", 1)), int(ce.get("wave", 1)))
            label = f"{ce['lang']}-hx{n:03d}"
            if label in self.clusters:
                raise RuntimeError(f"cluster label {label} exists")
            self.clusters.add(label)
            e = self._add(
                spec,
                x,
                spec.dress(xe["title"]),
                when,
                slug_of=xe["title"],
                lang=ce["lang"],
                cluster=label,
                role="distinct",
                wave=wave,
                family="distinct_template_headline",
            )
            copies.append(when)
            self.traps.append(
                Trap(
                    label,
                    xe["title"],
                    ce["cluster"],
                    xe["cluster"],
                    xe["published"],
                    e["published"],
                    side,
                    title_sim(ce["title"], xe["title"]),
                )
            )

    def build(self) -> None:
        reports, titled = self.template_reports()
        exclude = {self.entries[i]["cluster"] for i in reports + titled}
        pools = self.story_pools(exclude)
        self.add_short(pools)
        self.add_dressed(pools)
        self.add_headlines(pools)
        self.add_template_headlines(reports, titled)

    # -- output
    def new_sources(self) -> list[dict[str, Any]]:
        count = Counter(e["source"] for e in self.new)
        return [
            {
                "source": s.source,
                "title": s.title,
                "site_url": s.site_url,
                "format": s.format,
                "content": s.content,
                "lang": s.lang,
                "max_items": count[s.source],  # the whole feed: every entry reachable at every wave
            }
            for s in NEW_SOURCES
        ]

    def check(self) -> list[str]:
        """Problems with the derived corpus (empty when it keeps every rule)."""
        problems = []
        all_entries = self.entries + self.new
        reach = reachable(all_entries, self.sources + self.new_sources(), self.waves)
        if reach[: len(self.entries)] != self.reach:
            problems.append("reachability of the dev corpus's entries changed")
        lost = sum(1 for ok in reach[len(self.entries) :] if not ok)
        if lost:
            problems.append(f"{lost} new entries are unreachable")
        guids = Counter(e["guid"] for e in all_entries)  # the dev corpus repeats some (same_url)
        problems += [f"new guid {e['guid']} not unique" for e in self.new if guids[e["guid"]] > 1]
        urls = Counter(e["url"] for e in self.new)
        problems += [f"url {u} used by {n} new entries" for u, n in urls.items() if n > 1]
        for e, t in zip(self.new, self.targets, strict=True):
            if t is None:
                continue
            te = self.entries[t]
            if e["wave"] < int(te.get("wave", 1)) or not 1 <= e["wave"] <= self.waves:
                problems.append(f"{e['url']}: wave {e['wave']} before its target's")
            own = e["url"] == te["url"]
            if own and not (e["role"] == "headline" and e["cluster"] == te["cluster"]):
                problems.append(f"{e['url']}: shares a URL with a corpus entry of another story")
            if e["role"] == "distinct":
                gap = abs(parse_time(e["published"]) - parse_time(te["published"]))
                if gap < TRAP_GAP:
                    problems.append(f"{e['url']}: trap only {gap} from the report it copies")
            elif parse_time(e["published"]) <= parse_time(te["published"]):
                problems.append(f"{e['url']}: not published after its original")
        return problems

    def counts(self) -> list[tuple[str, str, str, int]]:
        c = Counter((e["lang"], e["role"], e["family"]) for e in self.new)
        return [(lang, role, fam, n) for (lang, role, fam), n in sorted(c.items())]


def table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    cells = [header, *[tuple(str(c) for c in r) for r in rows]]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def md_table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


TRAP_HEADER = (
    "trap story",
    "title copied",
    "for report",
    "copied from",
    "its time",
    "trap time",
    "side",
    "sim",
)


def readme(b: Builder, corpus: Path, seed: int, n_sources: int) -> str:
    """DIR/README.md: what the derived corpus adds to the dev corpus."""
    by_src = Counter(e["source"] for e in b.new)
    link = {
        s.source: ("original article" if not s.url_tpl else "own site (slug from its title)")
        for s in NEW_SOURCES
    }
    src_rows = [
        (
            s.source,
            s.title,
            s.format,
            s.content,
            s.lang,
            s.dress("Title") if s.style else "-",
            link[s.source],
            by_src[s.source],
        )
        for s in NEW_SOURCES
    ]
    lang_role = Counter((e["lang"], e["role"]) for e in b.new)
    trap_rows = [
        (t.cluster, t.title, t.chosen_for, t.copies, t.copies_published, t.published, t.side, f"{t.sim:.2f}")
        for t in b.traps
    ]
    families = {
        "headline_affix_dash": "`Title - Warta Kilat` (wartakilat; links to the original article)",
        "headline_affix_pipe": "`Title | The Morning Ticker` (morningticker; links to the original article)",
        "headline_affix_colon": "`NewsBrief Daily: Title` (newsbrief-daily; links to its OWN page "
        "`https://brief.example/YYYY/MM/DD/<headline-slug>`)",
        "headline_affix_paren": "`Title (Sorotan Harian)` (sorotanharian; links to the original article)",
        "headline_template_same_day": "newsbrief-daily headline of a template-titled report, same day as "
        "the report, same story (positive)",
        "dressed_prefix": "`JUST IN:` / `VIDEO:` / `EXCLUSIVE:` / `Update:` / `BREAKING:`; "
        "`[FOTO]` / `HEBOH!` / `[VIDEO]` / `VIRAL!` + title",
        "dressed_wrapper": "`..., sources say`, `Everything we know: ...`, `...: what we know so far`; "
        "`..., Begini Kronologinya`, `Fakta-fakta ...`, `..., Ini Penjelasannya`",
        "dressed_caps": "title in ALL CAPS",
        "dressed_trim": "first half of the title's words",
        "dressed_first_sentence": "the article's first sentence (dateline stripped) as the title",
        "short_first_sentence": "original title + the original's first sentence (dateline kept) as the "
        "only text",
        "distinct_template_headline": "trap: headline-only, repeats the title of ANOTHER report of the same "
        "template, >= 2 days from every dated copy of that title; its own story",
    }
    fam_rows = [(f, families.get(f, ""), n) for f, n in sorted(Counter(e["family"] for e in b.new).items())]
    total = len(b.entries) + len(b.new)
    return f"""# Derived dedup corpus: headline-only, dressed-up and short copies

Built by `bench/headline_corpus.py --corpus {corpus} --seed {seed}`.

The dev corpus's {n_sources} sources and {len(b.entries)} entries are copied unchanged (same format:
`sources.json`, `entries.jsonl`, see `shared/tools/README.md`); {len(b.new)} entries in
{len(NEW_SOURCES)} new sources are added, so the aggregator's handling of copies that carry little
or no text can be measured with the same tools:

    bash shared/tools/run_dedup_eval.sh PROJECT_DIR THIS_DIR
    python3 shared/tools/score_dedup.py THIS_DIR out.json

Entries: {total} ({len(b.entries)} from the dev corpus + {len(b.new)} new); highest wave {b.waves}.
Every new entry is reachable (each new source's `max_items` is its entry count); the dev corpus's
entries keep their reachability. A new entry's wave is >= the wave of the entry it copies.

## What was added

- **Headline-only sources** (role `headline`): news-search style items with a title and a link and
  no text at all (`content_html` and `summary_html` empty), for a random sample of stories that have
  an `original` (both languages; disjoint from the dressed and short samples). The title is the
  original's title with the source's publisher affix, one style per source. Published 3 min - 4 h
  after the original, in its wave or (25 %) the next one.
- **Dressed-up copies** (role `dressed`, source `viralterkini` for `id`, `buzzdesk` for `en`): the
  original's full text under a dressed-up title (kinds in turn; a title too short to trim is put in
  capitals, a lede unusable as a title falls back to a wrapper). 10 min - 6 h after the original.
  Text: verbatim {b.edits["verbatim"]}, last paragraph dropped {b.edits["last paragraph dropped"]},
  a "Source:"/"Sumber:" credit line appended {b.edits["credit line appended"]}.
- **Short items** (role `short`, source `quicktake`, JSON Feed, both languages): the original's title
  and its first sentence as the only text. Originals whose first paragraph is a table (earnings
  reports) are not used. 5 min - 3 h after the original.
- **Recurring-report traps** (role `distinct`, family `distinct_template_headline`, source
  `newsbrief-daily`): for each `distinct_template` report C, the report X of the same template
  whose title is nearest C's (digits masked; identical titles first; the pool is the
  `distinct_template` reports plus originals with a template title), a headline-only entry with X's
  title (publisher affix included), dated at least 2 days from every dated copy of that title (X,
  same-titled reports, other traps), either after them (then in the last wave) or before them (then
  in the wave of X or C, whichever is later). Each is a new one-entry story (`<lang>-hxNNN`), so
  joining it to X (or to C) counts in `distinct_merged`.
- **Same-day template headlines** (role `headline`, family `headline_template_same_day`): a few
  headlines of originals with a template title, the same day as the report, same story. Originals
  rather than `distinct` reports so that rightly joining them does not raise `distinct_merged`.

## Reading the scores

- `score_dedup.py` lists fixed roles in `by_role_b3_r` (original ... distinct); the new roles
  (`headline`, `dressed`, `short`) are in its "by family" table, one row per family below.
- It matches entries by URL: an entry of `wartakilat`, `morningticker` or `sorotanharian` has the
  original's URL, so it falls into whatever story reports that URL. Those families measure little
  beyond "no harm done"; title-only matching is measured by `headline_affix_colon` (own URLs), and
  false merges of look-alike headlines by `distinct_template_headline`.

## New sources

{md_table(src_rows, ("source", "title", "format", "content", "lang", "title style", "links to", "entries"))}

## Families added

{md_table(fam_rows, ("family", "what", "entries"))}

## Counts (new entries)

{md_table([(lang, role, n) for (lang, role), n in sorted(lang_role.items())], ("lang", "role", "entries"))}

{md_table(b.counts(), ("lang", "role", "family", "entries"))}

## Traps

{md_table(trap_rows, TRAP_HEADER)}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "--corpus", type=Path, default=DEFAULT_CORPUS, help="dev corpus folder (default: %(default)s)"
    )
    ap.add_argument(
        "--out", type=Path, required=True, help="folder for the derived corpus (outside this repo)"
    )
    ap.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
    a = ap.parse_args(argv)
    out, corpus = a.out.resolve(), a.corpus.resolve()
    if out == PROJECT or PROJECT in out.parents:
        ap.error(f"--out {out} is inside the project {PROJECT}: write derived data elsewhere")
    if out == corpus:
        ap.error("--out must not be the source corpus")
    sources, lines, entries = load(corpus)
    b = Builder(sources, entries, a.seed)
    b.build()
    problems = b.check()
    if problems:
        print("\n".join(["derived corpus breaks its rules:", *problems[:20]]), file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "sources.json", "w", encoding="utf-8") as fh:
        json.dump(sources + b.new_sources(), fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    with open(out / "entries.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(lines)
        fh.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in b.new)
    (out / "README.md").write_text(readme(b, corpus, a.seed, len(sources)), encoding="utf-8")

    by_src = Counter(e["source"] for e in b.new)
    print(
        f"{out}: {len(entries)} dev entries copied, {len(b.new)} added in {len(NEW_SOURCES)} sources",
        file=sys.stderr,
    )
    print(table(b.counts(), ("lang", "role", "family", "n")), file=sys.stderr)
    totals = sorted(Counter((e["lang"], e["role"]) for e in b.new).items())
    print(
        "\n" + table([(lang, role, n) for (lang, role), n in totals], ("lang", "role", "n")), file=sys.stderr
    )
    rows = [(s.source, s.format, s.content, s.lang, by_src[s.source]) for s in NEW_SOURCES]
    print("\n" + table(rows, ("source", "format", "content", "lang", "entries")), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
