"""Text for similarity: boilerplate out, tokens and anchors in. Pure and language-light.

Works on the plain text ``normalise`` produced (block elements on their own lines). General
patterns remove what any news site adds around an article — "read more"/"baca juga" link lines,
advertisement markers, datelines, attribution tails — in English and Indonesian; what a given
site adds beyond that is learned per feed (``boilerplate.py``). No site names live here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# Lines that are navigation or furniture, not article text (matched on the casefolded line).
FURNITURE = re.compile(
    r"^\W*(?:"
    r"baca juga|lihat juga|simak juga|tonton juga|baca selengkapnya|selengkapnya|"
    r"read more|read also|see also|related|more:|also read|watch:|recommended|"
    r"advertisement|advertorial|iklan|scroll to continue|scroll untuk melanjutkan|"
    r"share this|bagikan|follow us|ikuti kami|subscribe|click here|klik di sini|"
    r"\[gambas:|sponsored"
    r")",
    re.IGNORECASE,
)
# Attribution lines: "Sumber: x", "Source: Reuters", "This article originally appeared on x".
ATTRIBUTION = re.compile(
    r"^\W*(?:sumber|source|sources|via|credit|kredit|dikutip dari|disadur dari|"
    r"(?:this|the) (?:article|story|post) (?:was )?(?:first |originally )?"
    r"(?:appeared|published|ran)(?: on| in| at)?|"
    r"originally (?:appeared|published)(?: on| in| at)?|"
    r"artikel ini (?:telah )?(?:tayang|terbit|dimuat) (?:di|pada)|"
    r"(?:first )?published (?:on|by|in))\s*:?\s*(?P<src>.{2,120}?)\W*$",
    re.IGNORECASE,
)
# Editor initials and similar sign-offs: "(rea/rir)", "(ant/ab)", "(AP)".
SIGN_OFF = re.compile(r"^\(?[a-z]{1,5}(?:/[a-z]{1,5})+\)?\.?$|^\([A-Za-z]{1,12}\)$", re.IGNORECASE)
# Dateline at the start of an article: "JAKARTA, Site -", "LONDON (Reuters) -", "Jakarta, X --".
DATELINE = re.compile(
    r"^[A-Z][\w'.]*(?:[ -][A-Z][\w'.]*){0,3}\s*(?:,\s*[^-–—,.]{1,40}?)?\s*(?:\([^)]{1,40}\))?"
    r"\s*(?:[-–—]{1,2}|:)\s+",
)
BARE_DOMAIN = re.compile(r"^\W*([a-z0-9-]+(?:\.[a-z0-9-]+)+)\W*$", re.IGNORECASE)
_DOMAIN_IN = re.compile(r"\b([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})\b", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)
# Figures as written: "2,556.32", "4.9", "1986" (separators kept, so 48.31 is not "48" + "31").
_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
_CAPITAL = re.compile(r"(?<![.!?:\"“]\s)(?<!^)\b([A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?]\s+|\n")

MIN_CONTENT_LEN = 4  # tokens shorter than this carry little (the, dan, yang, of): a stop-list
#                      that needs no language list. Numbers are kept at any length.
LEAD_TOKENS = 60  # an excerpt carries roughly this much of an article's beginning


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def attributions(text: str) -> tuple[str, ...]:
    """Sources a copy names in an attribution line (domains or outlet names), lower-case."""
    found: list[str] = []
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    for i, line in enumerate(lines):
        m = ATTRIBUTION.match(line)
        if m:
            found.append(m.group("src").strip().lower())
        elif i >= len(lines) - 2 and (bare := BARE_DOMAIN.match(line)):
            found.append(bare.group(1).lower())
    out: list[str] = []
    for src in found:
        domains = _DOMAIN_IN.findall(src)
        out.extend(d.lower() for d in domains) if domains else out.append(src)
    return tuple(dict.fromkeys(out))


def strip_furniture(lines: Sequence[str], is_learned: Callable[[str], bool]) -> tuple[list[str], str]:
    """Drop navigation, attribution and learned boilerplate lines; strip a leading dateline.

    Returns the kept lines and the dateline that was removed ("" if none).
    """
    kept: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped or is_learned(stripped):
            continue
        if FURNITURE.match(stripped) or ATTRIBUTION.match(stripped) or SIGN_OFF.match(stripped):
            continue
        if BARE_DOMAIN.match(stripped):
            continue
        kept.append(stripped)
    dateline = ""
    if kept:
        first = DATELINE.sub("", kept[0], count=1)
        if len(first) >= 0.5 * len(kept[0]) and len(first) > 20:
            dateline = kept[0][: len(kept[0]) - len(first)]
            kept[0] = first
    return kept, dateline


HashSet = np.ndarray  # sorted unique int64 hashes: a compact set (8 bytes an element)


def hash_set(items: Iterable[object]) -> HashSet:
    """A set as sorted unique hashes. Python's hash is salted per process: these sets live in
    memory only and are never stored (stored signatures use xxhash, the same in every process)."""
    arr: HashSet = np.unique(np.fromiter(map(hash, items), dtype=np.int64))
    return arr


@dataclass(frozen=True, slots=True)
class Features:
    """What verification compares, as compact hash sets (~8 KB an article, so many stay cached)."""

    token_set: HashSet  # content tokens
    lead_set: HashSet  # content tokens of the first LEAD_TOKENS words
    numbers: HashSet
    names: HashSet  # capitalised words not opening a sentence
    trigrams: HashSet  # word 3-grams over all words (order-sensitive)
    title_set: HashSet
    title_names: HashSet  # headline words the text writes capitalised: the subject
    words: HashSet  # every word of title and text (for subject checks)
    length: int  # words in the cleaned text


def content_tokens(text: str) -> list[str]:
    return [t for t in _WORD.findall(fold(text)) if len(t) >= MIN_CONTENT_LEN or t.isdigit()]


def analyse(title: str, lines: Sequence[str], dateline: str = "") -> tuple[Features, list[str]]:
    """Features of a cleaned text, and its content tokens in order (for signing).

    ``dateline`` is the stripped dateline, kept for its figures.
    """
    body = "\n".join(lines)
    words = _WORD.findall(fold(body))
    tokens = [t for t in words if len(t) >= MIN_CONTENT_LEN or any(c.isdigit() for c in t)]
    numbers = frozenset(_NUMBER.findall(f"{dateline} {body}"))
    names: set[str] = set()
    for sentence in _SENTENCE_END.split(body):
        for m in _CAPITAL.finditer(sentence.strip()):
            for w in m.group(1).split():
                if len(w) >= 3:
                    names.add(fold(w))
    # Words the text writes with a capital anywhere (sentence starts included: an article often
    # opens with its subject, "Saitama Bank Ltd is issuing ..."); a headline word among them is a name.
    capitalised = {fold(w) for w in _WORD.findall(body) if w[:1].isupper()}
    title_words = _WORD.findall(fold(title))
    lead_words = words[:LEAD_TOKENS]
    found = Features(
        token_set=hash_set(tokens),
        lead_set=hash_set(t for t in lead_words if len(t) >= MIN_CONTENT_LEN or t.isdigit()),
        numbers=hash_set(numbers),
        names=hash_set(names),
        trigrams=hash_set(zip(words, words[1:], words[2:], strict=False)),
        title_set=hash_set(content_tokens(title)),
        title_names=hash_set(w for w in title_words if w in capitalised and len(w) >= 3),
        words=hash_set([*words, *title_words]),
        length=len(words),
    )
    return found, tokens
