"""JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1), which feedparser 6 does not read.

Feeds are written by hand as often as by libraries, so a field of the wrong type (a number
where a string belongs) is skipped with a warning rather than failing the whole document.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any

from aggregator.errors import ParseError
from aggregator.models import ParsedEntry, ParsedFeed
from aggregator.parse import dates
from aggregator.parse.limits import MAX_ENTRIES, cut_field, cut_html, cut_title

VERSIONS = {"https://jsonfeed.org/version/1": "json10", "https://jsonfeed.org/version/1.1": "json11"}
_VERSION_PREFIX = "//jsonfeed.org/version/"
_MAX_WARNINGS = 20


def looks_like_json_feed(body: bytes, content_type: str) -> bool:
    """A JSON content type, or an object that names a JSON Feed version near its start."""
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        return False
    return "json" in content_type or b"jsonfeed.org/version" in body[:65536]


class _Reader:
    """Typed access to one JSON object, collecting a warning for each field of the wrong type."""

    def __init__(self, warnings: list[str]) -> None:
        self.warnings = warnings

    def warn(self, message: str) -> None:
        if len(self.warnings) < _MAX_WARNINGS and message not in self.warnings:
            self.warnings.append(message)

    def text(self, obj: dict[str, Any], key: str) -> str | None:
        value = obj.get(key)
        if value is None or isinstance(value, str):
            return value
        self.warn(f"{key!r} is a {type(value).__name__}, not a string; ignored")
        return None

    def date(self, obj: dict[str, Any], key: str) -> datetime | None:
        value = self.text(obj, key)
        if not value or not value.strip():
            return None
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            fallback = dates.parse_any(value)
            if fallback is None:
                self.warn(f"unreadable date {value[:60]!r} in {key!r}")
            return fallback
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def author(self, obj: dict[str, Any]) -> str | None:
        """1.1 ``authors`` (first with a name), else 1.0 ``author``."""
        authors = obj.get("authors")
        candidates = authors if isinstance(authors, list) else []
        candidates = [*candidates, obj.get("author")]
        for author in candidates:
            if isinstance(author, dict) and isinstance(author.get("name"), str):
                return cut_field(author["name"])
        return None


def _text_to_html(text: str) -> str:
    """``content_text`` as HTML: escaped, blank lines as paragraphs, newlines as breaks."""
    paragraphs = (p.strip() for p in text.replace("\r\n", "\n").split("\n\n"))
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs if p)


def _guid(item: dict[str, Any], r: _Reader) -> str | None:
    guid = item.get("id")
    if isinstance(guid, bool) or guid is None:
        return None
    if isinstance(guid, int | str):  # 1.0 feeds in the wild often use numbers
        return cut_field(str(guid))
    r.warn(f"'id' is a {type(guid).__name__}, not a string; ignored")
    return None


def _entry(item: dict[str, Any], language: str | None, author: str | None, r: _Reader) -> ParsedEntry:
    content_html = r.text(item, "content_html")
    content_text = r.text(item, "content_text")
    if not content_html and content_text:
        content_html = _text_to_html(content_text)
    summary = r.text(item, "summary")
    return ParsedEntry(
        guid=_guid(item, r),
        link=cut_field(r.text(item, "url") or r.text(item, "external_url")),
        title=cut_title(" ".join((r.text(item, "title") or "").split())),
        content_html=cut_html(content_html or ""),
        summary_html=cut_html(html.escape(summary) if summary else ""),  # plain text in JSON Feed
        published=r.date(item, "date_published"),
        updated=r.date(item, "date_modified"),
        author=r.author(item) or author,  # an item without authors has the feed's (spec, 1.1)
        language=cut_field(r.text(item, "language")) or language,
    )


def _format(doc: dict[str, Any], url: str, r: _Reader) -> str:
    version = doc.get("version")
    if not isinstance(version, str) or _VERSION_PREFIX not in version:
        raise ParseError(url, "the JSON document is not a JSON Feed (no jsonfeed.org version)")
    fmt = VERSIONS.get(version.strip().replace("http://", "https://").rstrip("/"))
    if fmt is None:
        r.warn(f"unknown JSON Feed version {version[:60]!r}; read as 1.1")
        return "json"
    return fmt


def parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    """A JSON Feed document as a ``ParsedFeed``; ``ParseError`` when it is not one."""
    try:
        doc = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError) as exc:
        raise ParseError(url, f"not valid JSON: {exc}"[:300]) from exc
    if not isinstance(doc, dict):
        raise ParseError(url, "the JSON document is not a JSON Feed (not an object)")
    warnings: list[str] = []
    r = _Reader(warnings)
    fmt = _format(doc, url, r)
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError(url, "the JSON Feed has no 'items' list")
    if any(not isinstance(i, dict) for i in items):
        r.warn("'items' holds values that are not objects; skipped")
    language = cut_field(r.text(doc, "language"))
    author = r.author(doc)
    entries = tuple(_entry(i, language, author, r) for i in items[:MAX_ENTRIES] if isinstance(i, dict))
    title = cut_title(" ".join((r.text(doc, "title") or "").split()))
    return ParsedFeed(
        format=fmt,
        title=title,
        link=cut_field(r.text(doc, "home_page_url")),
        language=language,
        entries=entries,
        warnings=tuple(warnings),
    )
