"""Text for similarity: boilerplate out, tokens and anchors in. Pure and language-light.

Works on the plain text ``normalise`` produced (block elements on their own lines). General
patterns remove what any news site adds around an article — "read more"/"baca juga" link lines,
advertisement markers, datelines, attribution tails — in English and Indonesian; what a given
site adds beyond that is learned per feed (``boilerplate.py``). No site names live here.

Two views of a text come out of here:
- ``sign_tokens``: the words MinHash signs (cheap; every new entry needs it);
- ``features``: what verification compares (dearer; computed only for entries that have a
  plausible candidate, and cached).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import xxhash

from aggregator.dedup.arrays import unique
from aggregator.normalise.credits import ATTRIBUTION, BARE_DOMAIN

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
# Editor initials and similar sign-offs: "(rea/rir)", "(ant/ab)", "(AP)".
SIGN_OFF = re.compile(r"^\(?[a-z]{1,5}(?:/[a-z]{1,5})+\)?\.?$|^\([A-Za-z]{1,12}\)$", re.IGNORECASE)
# One pass per line instead of four: any of the above means the line is not article text.
_DROP = re.compile(
    "|".join(f"(?:{p.pattern})" for p in (FURNITURE, ATTRIBUTION, SIGN_OFF, BARE_DOMAIN)).replace(
        "(?P<src>", "(?:"
    ),
    re.IGNORECASE,
)
# Dateline at the start of an article: "JAKARTA, Site -", "LONDON (Reuters) -", "Jakarta, X --".
DATELINE = re.compile(
    r"^[A-Z][\w'.]*(?:[ -][A-Z][\w'.]*){0,3}\s*(?:,\s*[^-–—,.]{1,40}?)?\s*(?:\([^)]{1,40}\))?"
    r"\s*(?:[-–—]{1,2}|:)\s+",
)
# Figures as written: "2,556.32", "4.9", "1986" (separators kept while matching, so 48.31 is
# one figure, not "48" and "31"; then folded to digits, so 2.556,32 and 2,556.32 agree).
_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
# Upper-case letters of the Latin, Greek and Cyrillic alphabets (``re`` has no \p{Lu}).
_UPPER = "A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĲĴĶĹĻĽĿŁŃŅŇŊŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽΑ-ΩА-Я"
# A capital not preceded by a letter or digit, and the rest of its word. (The look-behind comes
# after the capital, so the regex engine skips ahead to candidate capitals: 5x faster than
# ``(?<!\w)[A-Z]...``, which tests every position; the same matches.)
_CAPITALISED = re.compile(rf"[{_UPPER}](?<!\w.)[\w-]*")

MIN_CONTENT_LEN = 4  # shorter words carry little (the, dan, of, di): with STOP_WORDS, what is left
#                      is content. Numbers are kept at any length.
LEAD_TOKENS = 60  # an excerpt carries roughly this much of an article's beginning (in words)...
LEAD_SIGNED = 16  # ...and at least this many distinct content words, which a summary shares with
#                   the article's opening: the lead signature is made of these
MAX_FURNITURE = 200  # longer lines are paragraphs, even when they open with "Related" or "Via"

# Function words of the languages we know best, at least MIN_CONTENT_LEN long (shorter ones are
# dropped anyway). They are in almost every article, so two unrelated articles share them:
# leaving them out of the signatures keeps the LSH buckets for words that say what a story is
# about, and a spinner's swap of one of them ("yang" → "nan") costs nothing. Texts in other
# languages are signed with all their words, which works, only with more LSH candidates.
STOP_WORDS = frozenset(
    str.split(
        # Indonesian / Malay
        "yang dengan dari dalam untuk pada juga akan tidak sudah tersebut menjadi bisa saat sebagai "
        "mereka kata lalu adalah seperti oleh namun lebih telah masih hanya atau setelah karena bahwa "
        "kepada secara hingga kami harus lagi belum antara atas bagi saja para sejak jadi tapi tetapi "
        "jika bila kalau agar supaya serta ketika sebelum sesudah sedang sangat semua itu ini kita saya "
        "anda dia beliau nya pun bahkan yakni yaitu ialah maka sehingga sambil selain selama tanpa "
        "terhadap tentang sampai menurut melalui dapat ujar ucap katanya sementara kemudian lain lainnya "
        "begitu demikian masing sendiri sebuah seorang sejumlah beberapa banyak setiap bukan hal "
        "ada adanya apa apakah bagaimana kenapa mengapa siapa mana kapan dimana "
        # English
        "about above after again against also although among another around because been before being "
        "below between both came come could does doing down during each either else even ever every "
        "from further have having here hers herself himself however into itself just least less like "
        "made make many might more most much must near neither never next only onto other others "
        "ought ours over own said same says shall should since some such than that their theirs them "
        "themselves then there these they this those though through thus together toward towards "
        "under until upon very was were what whatever when where whether which while whom whose will "
        "with within without would your yours yourself"
    )
)

# Characters that change how a text looks to a tokeniser, not to a reader: zero-width spaces and
# joiners, soft hyphens, word joiners, byte-order marks (a copy laced with them must still match),
# and Cyrillic/Greek letters that look like Latin ones (a disguise for copied Latin text).
_INVISIBLE = "".join(
    map(
        chr,
        [
            *(0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0),
            *range(0x200B, 0x2010),
            *range(0x202A, 0x202F),
            *range(0x2060, 0x2070),
        ],
    )
)
_LOOKALIKE = dict(
    zip(
        "АВЕЅІЈКМНОРСТХУаеѕіјорсхуԁһԛԝΑΒΕΖΗΙΚΜΝΟΡΤΥΧαεικνορτυχ",
        "ABESIJKMHOPCTXYaesijopcxydhqwABEZHIKMNOPTYXaeiknoptux",
        strict=True,
    )
)
# Typographic punctuation separates words like ASCII punctuation does (for the byte tokeniser).
_PUNCTUATION = "“”„‟‘’‚‛«»‹›–—―‒…•·′″¡¿"
_UNMASK = {**dict.fromkeys(_INVISIBLE, ""), **_LOOKALIKE, **dict.fromkeys(_PUNCTUATION, " ")}
_MASKED = re.compile("[" + "".join(_UNMASK) + "]")


def fold(text: str) -> str:
    """The form texts are compared in: invisible characters out, look-alikes in, typographic
    punctuation to spaces, NFKC, casefold."""
    if not text.isascii():  # (a regex finds the few such characters; str.translate is slower)
        text = _MASKED.sub(lambda m: _UNMASK[m.group()], text)
    return unicodedata.normalize("NFKC", text).casefold()


def general_lines(lines: Iterable[str]) -> list[str]:
    """The lines (stripped) that the general furniture patterns keep: what a feed's learned
    boilerplate is then checked against."""
    kept: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped and not (len(stripped) <= MAX_FURNITURE and _DROP.match(stripped)):
            kept.append(stripped)
    return kept


def _cut_dateline(kept: Sequence[str]) -> tuple[list[str], str]:
    """The lines with a leading dateline stripped, and that dateline ("" if none)."""
    lines = list(kept)
    dateline = ""
    if lines:
        first = DATELINE.sub("", lines[0], count=1)
        if len(first) >= 0.5 * len(lines[0]) and len(first) > 20:
            dateline = lines[0][: len(lines[0]) - len(first)]
            lines[0] = first
    return lines, dateline


@dataclass(frozen=True, slots=True)
class Cleaned:
    """An entry's text with furniture and boilerplate removed: the input of both views."""

    title: str
    body: str  # kept lines, one per line
    dateline: str  # the dateline stripped from the first line ("" if none), kept for its figures
    words: list[bytes]  # the body's words, folded, as UTF-8 (see ``words_of``)
    content: dict[bytes, bool]  # each distinct word, in order: whether it is a content word


def clean(title: str, text: str, is_learned: Callable[[str], bool]) -> Cleaned:
    """Drop navigation, attribution and learned boilerplate lines; strip a leading dateline."""
    return clean_lines(title, [line for line in general_lines(text.split("\n")) if not is_learned(line)])


def clean_lines(title: str, kept: Sequence[str]) -> Cleaned:
    """``clean`` from the lines already kept (``general_lines`` less learned boilerplate)."""
    lines, dateline = _cut_dateline(kept)
    body = "\n".join(lines)
    words = words_of(body)
    return Cleaned(title, body, dateline, words, content_words(words))


def content_words(words: list[bytes]) -> dict[bytes, bool]:
    """Whether each distinct word is a content word (long enough, or not only letters), decided
    once per distinct word and shared by the signatures and the verification features."""
    short = MIN_CONTENT_LEN
    return {t: len(t) >= short or not t.isalpha() for t in dict.fromkeys(words)}


@dataclass(frozen=True, slots=True)
class SignTokens:
    """What the signatures are made of: unique content words (UTF-8), minus function words, in order."""

    lead: list[bytes]  # the first LEAD_SIGNED of them: how the text opens
    rest: list[bytes]  # the others


# Words are runs of ASCII letters and digits and of non-ASCII characters (their UTF-8 bytes are
# >= 0x80), so "café" and "Jürgen" stay whole, in the UTF-8 bytes of the folded text: every
# other byte becomes a space and ``bytes.split`` does the rest — several times faster than
# ``\w+`` on ``str``, and the words come out ready for hashing.
_WORD_BYTES = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyz") | frozenset(range(0x80, 0x100))
_SEPARATE = bytes(b if b in _WORD_BYTES else 0x20 for b in range(256))


def words_of(text: str) -> list[bytes]:
    """The words of ``text``, folded, as UTF-8 bytes."""
    return fold(text).encode().translate(_SEPARATE).split()


_STOP_BYTES = frozenset(w.encode() for w in STOP_WORDS)


def sign_tokens(c: Cleaned) -> SignTokens:
    stop = _STOP_BYTES
    signed = [t for t, content in c.content.items() if content and (t not in stop or not t.isalpha())]
    return SignTokens(signed[:LEAD_SIGNED], signed[LEAD_SIGNED:])


HashSet = np.ndarray  # sorted unique int64 hashes: a compact set (8 bytes an element)


def word_hash(word: bytes | str) -> int:
    """A word's 64-bit hash, the same in every process (xxh3; Python's own ``hash`` is salted per
    process), so a parser process can make an entry's features for the process that places it.
    As fast as ``hash`` on fresh ``bytes``. Signed, to live in int64 arrays."""
    h = xxhash.xxh3_64_intdigest(word.encode() if isinstance(word, str) else word)
    return h - (1 << 64) if h >= 1 << 63 else h


def hashes_of(words: Sequence[bytes]) -> np.ndarray:
    """``word_hash`` of every word, in order, as int64 (one C-level pass)."""
    return np.fromiter(map(xxhash.xxh3_64_intdigest, words), dtype=np.uint64, count=len(words)).view(np.int64)


def hash_set(items: Iterable[bytes | str]) -> HashSet:
    """A set as sorted unique hashes (``word_hash``). (Sorted in Python: these sets are small,
    and ``np.unique`` costs more to call than to run.)"""
    return np.array(sorted({word_hash(x) for x in items}), dtype=np.int64)


# Month names as datelines write them ("March 28", "28 Maret", "Sept. 3"), English and Indonesian.
_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            "january jan januari",
            "february feb februari pebruari peb",
            "march mar maret",
            "april apr",
            "may mei",
            "june jun juni",
            "july jul juli",
            "august aug agustus agu agt",
            "september sep sept",
            "october oct oktober okt",
            "november nov nopember",
            "december dec desember des",
        ]
    )
    for name in names.split()
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_IN_DATELINE = re.compile(
    rf"\b(?:(?P<m1>{_MONTH})\.?\s+(?P<d1>\d{{1,2}})|(?P<d2>\d{{1,2}})\s+(?P<m2>{_MONTH}))\b", re.IGNORECASE
)
_MONTH_START = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def dateline_day(dateline: str) -> int:
    """Day of the year a dateline names ("LONDON, March 28 (Reuters) -" → 87), or -1."""
    m = _DATE_IN_DATELINE.search(dateline)
    if m is None:
        return -1
    month = _MONTHS[(m.group("m1") or m.group("m2")).lower()]
    day = int(m.group("d1") or m.group("d2"))
    if not 1 <= day <= 31:
        return -1
    return _MONTH_START[month - 1] + day - 1


@dataclass(frozen=True, slots=True)
class Detail:
    """The dearer part of ``Features``, made only for a pair that is not plainly dissimilar."""

    numbers: HashSet
    names: HashSet  # capitalised words not opening a sentence
    trigrams: HashSet  # word 3-grams over all words (order-sensitive)
    title_set: HashSet
    title_names: HashSet  # headline words the text writes capitalised: the subject
    words: HashSet  # every word of title and text (for subject checks)
    filed: int = -1  # day of the year in the dateline, -1 if it names none


class Features:
    """What verification compares, as compact hash sets (~6 KB an article, so many stay cached).

    The content-word sets are made at once: most candidates share too few content words to be
    the same story, and ``verify`` tells so from them alone. The rest (``detail``: figures,
    names, word 3-grams, headline words) is made on first use, and the cleaned text kept until
    then is let go."""

    __slots__ = ("_cleaned", "_detail", "lead_set", "token_set")

    def __init__(self, c: Cleaned) -> None:
        kinds = c.content
        self.token_set: HashSet = _hashed([t for t, content in kinds.items() if content])  # content words
        self.lead_set: HashSet = _hashed([t for t in c.words[:LEAD_TOKENS] if kinds[t]])  # of the opening
        self._cleaned: Cleaned | None = c
        self._detail: Detail | None = None

    @classmethod
    def made(cls, token_set: HashSet, lead_set: HashSet, detail: Detail) -> Features:
        """Features made elsewhere, detail and all (``Prework`` from a parser process)."""
        out = cls.__new__(cls)
        out.token_set, out.lead_set, out._cleaned, out._detail = token_set, lead_set, None, detail
        return out

    @property
    def detail(self) -> Detail:
        if self._detail is None:
            assert self._cleaned is not None
            self._detail = _detail(self._cleaned)
            self._cleaned = None
        return self._detail


def _hashed(words: list[bytes]) -> HashSet:
    return unique(hashes_of(words))


_TRIGRAM_MIX = (np.int64(0x9E3779B97F4A7C15 - (1 << 64)), np.int64(0xC2B2AE3D27D4EB4F - (1 << 64)))
_SEPARATORS = str.maketrans("", "", ".,:/")
_AFTER_SENTENCE = frozenset('.!?:"“')


def _capitals(body: str) -> tuple[list[str], list[str]]:
    """(every capitalised word, those that open no sentence nor line: the proper names)."""
    every, names = [], []
    for m in _CAPITALISED.finditer(body):
        word, at = m.group(), m.start()
        every.append(word)
        opens = (
            at == 0
            or body[at - 1] == "\n"
            or (body[at - 1].isspace() and body[at - 2 : at - 1] in _AFTER_SENTENCE)
        )
        if not opens and len(word) >= 3:
            names.append(word)
    return every, names


def features(c: Cleaned) -> Features:
    """What verification needs of a cleaned text (words as UTF-8 bytes, like ``sign_tokens``)."""
    return Features(c)


def _detail(c: Cleaned) -> Detail:
    """The dearer signals. One hash per word, taken once: the word sets are subsets of those
    hashes, and the word 3-grams are mixed from them arithmetically, not hashed as tuples."""
    body = c.body
    hashes = hashes_of(c.words)
    with np.errstate(over="ignore"):
        trigrams = hashes[:-2] * _TRIGRAM_MIX[0] + hashes[1:-1] * _TRIGRAM_MIX[1] + hashes[2:]
    figures = {n.translate(_SEPARATORS).lstrip("0") or "0" for n in _NUMBER.findall(f"{c.dateline} {body}")}
    every, names = _capitals(body)
    # Words the text writes with a capital anywhere (sentence starts included: an article often
    # opens with its subject, "Saitama Bank Ltd is issuing ..."); a headline word among them is a name.
    capitalised = set(words_of(" ".join(every)))
    title_words = words_of(c.title)
    return Detail(
        numbers=hash_set(figures),
        names=hash_set(fold(" ".join(names)).split()),
        trigrams=unique(trigrams),
        title_set=hash_set(t for t in title_words if len(t) >= MIN_CONTENT_LEN or not t.isalpha()),
        title_names=hash_set(w for w in title_words if w in capitalised and len(w) >= 3),
        words=unique(np.concatenate([hashes, hash_set(title_words)])),
        filed=dateline_day(c.dateline),
    )
