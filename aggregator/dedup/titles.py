"""Headlines as evidence: how an entry with little or no text finds its story.

News-search and headline feeds carry entries with a title and a link and no text, often with
the publisher stuck to the title ("Title - Publisher", "Title | Publisher", "Publisher: Title",
"Title (Publisher)"); copies re-title stories ("VIDEO: ...", "[FOTO] ...", "..., sources say",
the title cut short). Text signals cannot see these; the headline can, with care:

- **Affixes.** A title's candidate affixes are what stands beyond a separator at either end
  (" - ", " | ", ": ", brackets). Per feed we count them like boilerplate lines (the same counts,
  the same persistence): an affix on most of a feed's titles is its furniture and is dropped.
  A leading affix made only of generic dressing words ("VIDEO", "BREAKING", "HEBOH") is
  dropped everywhere. No site's name is written here.
- **Words.** The rest is reduced to its content words (function words and single letters out, figures kept as
  written, case and accents folded), as 32-bit hashes: at most ``TITLE_WIDTH``.
- **Comparison.** Two headlines agree when nearly all words of the shorter one are in the
  longer one (a trimmed or wrapped title is contained in the other) and the longer one is not
  mostly other words; figures in both must agree ("Gempa 6,6 SR" is not "Gempa 5,2 SR").
- **Recurring titles.** "Rupiah menguat", "X Issues 100 Mln Sfr Convertible", "Liga 1: hasil
  pertandingan" recur with other figures or other subjects. A title whose skeleton (figures
  masked) the window holds in several stories, or over most of a day, is a template: it joins
  only a report within ``TEMPLATE_HOURS`` and never on a guess between two.
- **Slug.** A link whose last path segment spells the headline's words is a second witness of
  what the headline is (an aggregator's own page for the story).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
import xxhash

from aggregator.dedup.text import STOP_WORDS, fold

TITLE_WIDTH = 12  # content words of a headline kept (longer titles: the first ones)
FIGURES_WIDTH = 4
THIN_TOKENS = 8  # entries with fewer distinct signed words than this are matched by headline
MIN_SHARED = 3  # words two headlines must share at least
SMALL_ACCEPT = 0.9  # share of the shorter headline's words found in the longer one
LARGE_ACCEPT = 0.5  # share of the longer headline's words found in the shorter one
SLUG_ACCEPT = 0.8  # share of the other headline's words spelled in this entry's link
SLUG_SMALL = 0.7  # ...which lets a headline pass with this share instead of SMALL_ACCEPT
HEADLINE_HOURS = 36.0  # a headline points at a story published at most this long before or after
TEMPLATE_HOURS = 6.0  # a recurring title joins only a report this close in time (a quarter day)
RECURRING_SPAN = 18 * 3600.0  # one title over a longer span than this (seconds) is a template:
# a daily report comes back about a day later, sometimes a few hours early
MAX_AFFIX_WORDS = 5  # longer segments are part of the headline, not an affix
_AFFIX_MAX_CHARS = 60

# Function words too short for the text signals' cut (which drops words under four letters),
# but common in headlines; the text's stop words hold the longer ones.
_SHORT_STOP = frozenset(
    str.split(
        "a an the and or but of to in on at by for as is are was be it its his her he she we you "
        "they our not no new how why who what has had via vs per off out up "
        "di ke ya dan ini itu ada pun kok sih lho jadi usai soal bagi para oleh kian kini"
    )
)
_TITLE_STOP = frozenset(STOP_WORDS | _SHORT_STOP)
# Generic dressing: a leading segment made only of these words is not part of the headline.
_DRESSING = frozenset(
    str.split(
        "breaking news just in video videos foto photo photos gallery galeri exclusive eksklusif "
        "update updated updates watch live opinion analysis heboh viral terkini terbaru populer "
        "trending wow alert urgent developing podcast listen infografis infographic hot top "
        "berita cek fakta hoaks fact check sponsored advertorial "
        # wrappers: "..., sources say", "Everything we know: ...", "..., Begini Kronologinya"
        "sources source say says said report reports everything know need things here heres "
        "begini inilah ini simak kronologinya faktanya penjelasannya selengkapnya"
    )
)
_WORD = re.compile(r"[^\W_]+(?:[.,:/][^\W_]+)*", re.UNICODE)
_DIGIT = re.compile(r"\d")
_SEPARATORS_SUFFIX = (" - ", " | ", " – ", " — ", " · ", " :: ", " » ", " ~ ", ", ")
_SEPARATORS_PREFIX = (": ", " | ", " - ", " – ", " — ", "! ")
_BRACKET_PREFIX = re.compile(r"^\s*[\[(]([^\])]{1,40})[\])]\s*")
_BRACKET_SUFFIX = re.compile(r"\s*[\[(]([^\])]{1,40})[\])]\s*$")


def _key32(text: str) -> int:
    """A 32-bit key, never 0 (0 marks an empty slot)."""
    return (xxhash.xxh32_intdigest(text.encode()) & 0xFFFF_FFFE) | 1


def affix_key(affix: str) -> int:
    """The key under which a feed's use of an affix is counted (beside its boilerplate lines)."""
    folded = " ".join(fold(affix).split())
    return xxhash.xxh64_intdigest(b"\x1faffix\x1f" + folded.encode()) & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True, slots=True)
class Affix:
    text: str
    prefix: bool  # before the headline (else after it)
    rest: str  # the title without it


def affixes(title: str) -> list[Affix]:
    """Every candidate affix of a title: a short segment beyond a separator at either end."""
    t = " ".join(title.split())
    out: list[Affix] = []
    m = _BRACKET_PREFIX.match(t)
    if m:
        out.append(Affix(m.group(1), True, t[m.end() :]))
    m = _BRACKET_SUFFIX.search(t)
    if m and m.start() > 0:
        out.append(Affix(m.group(1), False, t[: m.start()]))
    for sep in _SEPARATORS_SUFFIX:
        at = t.rfind(sep)
        if at > 0:
            out.append(Affix(t[at + len(sep) :], False, t[:at]))
    for sep in _SEPARATORS_PREFIX:
        at = t.find(sep)
        if 0 < at <= _AFFIX_MAX_CHARS:
            out.append(Affix(t[:at], True, t[at + len(sep) :]))
    return [a for a in out if a.rest.strip() and 0 < len(a.text.split()) <= MAX_AFFIX_WORDS]


def is_dressing(text: str) -> bool:
    """Whether a title segment is generic dressing ("VIDEO", "BREAKING NEWS", "HEBOH!",
    "sources say", "Everything we know"): dressing words, function words between them."""
    words = [w.strip("!?.#'’") for w in fold(text).replace("-", " ").split()]
    return any(w in _DRESSING for w in words) and all(w in _DRESSING or w in _TITLE_STOP for w in words)


def _dressing(affix: Affix) -> bool:
    return is_dressing(affix.text)


def _undress(title: str) -> str:
    """The title without leading dressing words that no separator sets off ("Fakta-fakta ...",
    "HEBOH ..."), as long as a headline of a few words remains."""
    words = title.split()
    n = 0
    while n < min(3, len(words) - MIN_SHARED) and is_dressing(words[n]):
        n += 1
    return " ".join(words[n:])


@dataclass(frozen=True, slots=True)
class Headline:
    """A headline reduced for comparison: content-word keys (figures among them), the figures'
    keys, the skeleton key (the words without figures: what recurs in a template), and the
    affixes that were dropped (for ``explain``)."""

    words: tuple[int, ...]
    figures: tuple[int, ...]
    skeleton: int
    dropped: tuple[str, ...] = ()
    slug: frozenset[int] = field(default_factory=frozenset)


def headline(title: str, learned: Callable[[int], bool] = lambda key: False, url: str = "") -> Headline:
    """The headline of ``title``; ``learned``: whether its feed is known to add an affix (by key)."""
    dropped: list[str] = []
    rest = title
    for _ in range(3):  # "VIDEO: Title - Publisher" sheds both
        for a in affixes(rest):
            if _dressing(a) or learned(affix_key(a.text)):
                dropped.append(a.text)
                rest = a.rest
                break
        else:
            break
    words, figures, skeleton = _words(_undress(rest))
    return Headline(words, figures, skeleton, tuple(dropped), slug_words(url) if url else frozenset())


def _words(title: str) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    folded = fold(title)
    keep: list[int] = []
    figures: list[int] = []
    plain: list[str] = []
    for token in _WORD.findall(folded):
        if _DIGIT.search(token):
            key = _key32("#" + token.replace(",", ".").lstrip("0"))
            figures.append(key)
        elif len(token) >= 2 and token not in _TITLE_STOP:
            key = _key32(token)
            plain.append(token)
        else:
            continue
        if key not in keep:
            keep.append(key)
    skeleton = xxhash.xxh64_intdigest(" ".join(sorted(set(plain))).encode()) & 0x7FFF_FFFF_FFFF_FFFF
    return tuple(keep[:TITLE_WIDTH]), tuple(dict.fromkeys(figures))[:FIGURES_WIDTH], skeleton


_SLUG_SPLIT = re.compile(r"[^0-9a-z\u00c0-\uffff]+")


def slug_words(url: str) -> frozenset[int]:
    """Content-word keys of a link's last meaningful path segment ("/2024/05/07/some-headline/")."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return frozenset()
    segments = [s for s in path.split("/") if s and not s.isdigit()]
    if not segments:
        return frozenset()
    last = fold(segments[-1]).rsplit(".", 1)[0]
    tokens = [t for t in _SLUG_SPLIT.split(last) if t]
    if len(tokens) < MIN_SHARED:
        return frozenset()
    return frozenset(_key32(t) for t in tokens if len(t) >= 3 and t not in _TITLE_STOP and not t.isdigit())


def recurs(times: Sequence[float], stories: Iterable[int]) -> bool:
    """Whether a title skeleton seen at ``times`` (epoch seconds), in entries of ``stories``
    placed before, is a template: seen over most of a day or longer, or in more than one story."""
    return len(times) >= 2 and (max(times) - min(times) > RECURRING_SPAN or len(set(stories)) > 1)


def padded(values: tuple[int, ...], width: int) -> np.ndarray:
    out = np.zeros(width, dtype=np.uint32)
    out[: len(values)] = values[:width]
    return out


def compare(a: Headline, b: Headline) -> dict[str, float]:
    """The headline signals between two entries (symmetric but for ``slug``: a's link)."""
    wa, wb = set(a.words), set(b.words)
    shared = len(wa & wb)
    small, large = sorted((len(wa), len(wb)))
    detail: dict[str, float] = {
        "title_shared": float(shared),
        "title_small": shared / small if small else 0.0,
        "title_large": shared / large if large else 0.0,
    }
    fa, fb = set(a.figures), set(b.figures)
    if fa and fb:
        detail["title_figures"] = len(fa & fb) / min(len(fa), len(fb))
    for side, h, other in (("slug", a, wb), ("slug_other", b, wa)):
        if h.slug and other:
            detail[side] = len(h.slug & other) / len(other)
    return detail


@dataclass(frozen=True, slots=True)
class TitleVerdict:
    same: bool
    score: float
    method: str  # "headline", or why not
    detail: dict[str, float]


def judge(a: Headline, b: Headline, hours_apart: float, recurring: bool) -> TitleVerdict:
    """Whether headline ``a`` names the story of ``b`` (``recurring``: the title is a template)."""
    d = compare(a, b)
    d["hours_apart"] = round(hours_apart, 2)
    if recurring:
        d["template"] = 1.0
    if a.dropped:
        d["affix_dropped"] = float(len(a.dropped))
    shared, small, large = d["title_shared"], d["title_small"], d["title_large"]
    if shared < MIN_SHARED:
        return TitleVerdict(False, small, "title-too-short", d)
    if d.get("title_figures", 1.0) < 1.0 or (bool(a.figures) != bool(b.figures) and recurring):
        return TitleVerdict(False, small, "numbers-differ", d)
    if hours_apart > (TEMPLATE_HOURS if recurring else HEADLINE_HOURS):
        return TitleVerdict(False, small, "template-title" if recurring else "too-far-apart", d)
    slug = max(d.get("slug", 0.0), d.get("slug_other", 0.0))
    passes = small >= SMALL_ACCEPT or (slug >= SLUG_ACCEPT and small >= SLUG_SMALL)
    if passes and large >= LARGE_ACCEPT:
        return TitleVerdict(True, small, "headline", d)
    return TitleVerdict(False, small, "titles-differ", d)
