"""Parsed entries → ``Entry`` values ready to store. Pure: the clock comes in as ``now``.

Computes identity keys (GUID key, canonical URL, normalised-text hash), sanitises HTML, extracts
plain text and settles dates in UTC. Does not decide whether two entries are the same story.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urljoin, urlsplit

from aggregator.models import Entry, ParsedEntry, ParsedFeed
from aggregator.normalise.credits import credits
from aggregator.normalise.text import html_to_text, sanitise_html, sanitised_to_text
from aggregator.normalise.urls import canonical_url, site_host

__all__ = [
    "canonical_url",
    "credits",
    "effective_published",
    "fallback_title",
    "guid_key",
    "html_to_text",
    "normalise_entry",
    "normalise_feed",
    "plain_title",
    "raw_hash",
    "sanitise_html",
    "site_host",
    "text_fingerprint",
]

MAX_FUTURE = timedelta(hours=2)  # clock skew we forgive before calling a date "in the future"
EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)  # before any feed format: a placeholder date
MIN_WORDS_FOR_TEXT_KEY = 12  # shorter texts ("Read more", a caption) identify nothing


def effective_published(
    published: datetime | None,
    updated: datetime | None,
    now: datetime,
    max_future: timedelta = MAX_FUTURE,
) -> tuple[datetime, bool]:
    """(publish time in UTC, is_fallback): the feed's published date, else its updated date.

    Dates before 1995 are placeholders (``1970-01-01``, ``0001-01-01``) and count as missing.
    With no usable date, or one more than ``max_future`` ahead of ``now`` (a wrong zone or a
    scheduled post), the answer is ``now``, flagged as a fallback. A date slightly ahead, within
    the tolerance (clock skew), is kept but never later than ``now``.
    """
    for candidate in (published, updated):
        if candidate is None or candidate < EARLIEST:
            continue
        if candidate > now + max_future:
            return now.astimezone(UTC), True
        return min(candidate, now).astimezone(UTC), False
    return now.astimezone(UTC), True


# For ASCII text the same folding is a byte translation: letters lowered, digits kept, every
# other byte a separator (what NFKC, casefold and [\W_] do to ASCII).
_ASCII_FOLD = bytes(
    b + 32 if 65 <= b <= 90 else b if (48 <= b <= 57 or 97 <= b <= 122) else 32 for b in range(256)
)
_ASCII_FOLD_KEEP_UTF8 = _ASCII_FOLD[:128] + bytes(range(128, 256))  # bytes of non-ASCII characters kept
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def text_fingerprint(text: str) -> str:
    r"""sha256 of the text with case, punctuation and spacing folded away; "" when too short.

    That is: NFKC, casefold, every run of characters that are not letters or digits (``[\W_]``)
    a separator, the words joined by single spaces. A Unicode regex over a whole article is
    slow (~0.1 ms), and most texts are ASCII but for a few quotes and dashes; so the few
    distinct non-ASCII characters are looked at one by one (``str.isalnum`` is what ``\w``
    means), the separators among them become spaces, and the rest is a byte translation."""
    if text.isascii():
        data = text.encode().translate(_ASCII_FOLD)
    else:
        folded = unicodedata.normalize("NFKC", text).casefold()
        for ch in set(_NON_ASCII.findall(folded)):
            if not ch.isalnum():
                folded = folded.replace(ch, " ")
        data = folded.encode().translate(_ASCII_FOLD_KEEP_UTF8)  # non-ASCII left: letters, digits
    words = data.split()
    if len(words) < MIN_WORDS_FOR_TEXT_KEY:
        return ""
    return hashlib.sha256(b" ".join(words)).hexdigest()


def plain_title(raw: str, is_html: bool) -> str:
    """A title as plain text, on one line. Markup is reduced to its text (scripts and styles
    dropped) only when the feed said the title is markup: a plain-text title is kept as written,
    "<" and "&" included, and escaped again wherever it is published."""
    return " ".join((html_to_text(raw) if is_html else raw).split())


FALLBACK_TITLE = 90  # characters of an untitled entry's text that stand in for its title


def fallback_title(text: str, url: str) -> str:
    """A title for an entry that has none: its text's opening, else its link's last path part.

    "" when the entry has neither (it is stored, but there is nothing to publish of it)."""
    first = text.split("\n", 1)[0].strip()
    if first:
        if len(first) <= FALLBACK_TITLE:
            return first
        cut = first[:FALLBACK_TITLE].rsplit(" ", 1)[0].rstrip(" ,;:-")
        return (cut or first[:FALLBACK_TITLE]) + "…"
    if not url:
        return ""
    parts = urlsplit(url)
    slug = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    slug = re.sub(r"\.(html?|php|aspx?)$", "", slug, flags=re.I)
    words = " ".join(re.split(r"[-_+]+", slug)).strip()
    return words[:1].upper() + words[1:] if words and not words.isdigit() else parts.hostname or url


def guid_key(guid: str | None, canonical: str, title: str, text: str) -> str:
    """Per-feed identity: the GUID (trimmed), else the canonical link, else a hash of the words."""
    guid = (guid or "").strip()
    if guid:
        return guid
    if canonical:
        return canonical
    return "sha1:" + hashlib.sha1(f"{title}\0{text}".encode(), usedforsecurity=False).hexdigest()


def _absolute(link: str | None, base_url: str) -> str:
    if not link:
        return ""
    url = urljoin(base_url, link.strip())
    return url if urlsplit(url).scheme in ("http", "https") else ""


def raw_hash(entry: ParsedEntry) -> str:
    """A hash of the entry exactly as parsed: equal hashes need no normalising again."""
    h = hashlib.blake2b(digest_size=16)
    for part in (
        entry.guid or "",
        entry.link or "",
        entry.title,
        "h" if entry.title_is_html else "t",
        entry.content_html,
        entry.summary_html,
        entry.published.isoformat() if entry.published else "",
        entry.updated.isoformat() if entry.updated else "",
        entry.author or "",
        entry.language or "",
    ):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def normalise_entry(entry: ParsedEntry, *, feed_url: str, base_url: str, now: datetime) -> Entry:
    url = _absolute(entry.link, base_url)
    canon = canonical_url(url)
    # A document's own xml:base counts only as a web address (never "javascript:" and the like).
    declared = entry.base if entry.base and entry.base.lower().startswith(("http://", "https://")) else None
    base = declared or url or base_url
    content = sanitise_html(entry.content_html, base)
    summary = sanitise_html(entry.summary_html, base)
    text = sanitised_to_text(content if len(content) >= len(summary) else summary)
    title = plain_title(entry.title, entry.title_is_html) or fallback_title(text, url)
    published, fallback = effective_published(entry.published, entry.updated, now)
    return Entry(
        guid_key=guid_key(entry.guid, canon, title, text),
        url=url,
        canonical_url=canon,
        title=title,
        content_html=content,
        summary_html=summary,
        text=text,
        published=published,
        published_is_fallback=fallback,
        updated=entry.updated,
        author=entry.author,
        language=entry.language,
        content_hash=hashlib.sha256(f"{title}\0{content}\0{summary}".encode()).hexdigest(),
        text_hash=text_fingerprint(text),
        raw_hash=raw_hash(entry),
        credits=credits(text),
    )


def normalise_feed(
    feed: ParsedFeed, *, feed_url: str, base_url: str, now: datetime, known: frozenset[str] = frozenset()
) -> list[Entry]:
    """The entries of a document but those whose ``raw_hash`` is in ``known`` (stored as they
    are: sanitising them again would change nothing); a GUID key repeated within one document
    keeps its first entry."""
    seen: set[str] = set()
    out: list[Entry] = []
    for parsed in feed.entries:
        if known and raw_hash(parsed) in known:
            continue
        entry = normalise_entry(parsed, feed_url=feed_url, base_url=base_url, now=now)
        if entry.guid_key in seen:
            continue
        seen.add(entry.guid_key)
        out.append(entry)
    return out
