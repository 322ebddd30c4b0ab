"""JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1), which feedparser 6 does not read."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any

from aggregator.errors import ParseError
from aggregator.models import ParsedEntry, ParsedFeed
from aggregator.parse.limits import MAX_ENTRIES, cut_html, cut_title

VERSIONS = {"https://jsonfeed.org/version/1": "json10", "https://jsonfeed.org/version/1.1": "json11"}


def looks_like_json_feed(body: bytes, content_type: str) -> bool:
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        return False
    return b"jsonfeed.org/version" in body[:65536] or "json" in content_type


def _str(item: dict[str, Any], key: str, warnings: list[str]) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    warnings.append(f"{key!r} is {type(value).__name__}, not a string; ignored")
    return None


def _date(value: str | None, warnings: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        warnings.append(f"unreadable date {value!r}")
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _author(item: dict[str, Any]) -> str | None:
    authors = item.get("authors")
    if isinstance(authors, list) and authors and isinstance(authors[0], dict):
        name = authors[0].get("name")
        return name if isinstance(name, str) else None
    author = item.get("author")
    if isinstance(author, dict) and isinstance(author.get("name"), str):
        return str(author["name"])
    return None


def _entry(item: dict[str, Any], language: str | None, warnings: list[str]) -> ParsedEntry:
    guid = item.get("id")
    content_html = _str(item, "content_html", warnings)
    content_text = _str(item, "content_text", warnings)
    if content_html is None and content_text:
        content_html = "".join(f"<p>{html.escape(p)}</p>" for p in content_text.split("\n\n") if p.strip())
    return ParsedEntry(
        guid=str(guid) if isinstance(guid, str | int) and not isinstance(guid, bool) else None,
        link=_str(item, "url", warnings) or _str(item, "external_url", warnings),
        title=cut_title(_str(item, "title", warnings) or ""),
        content_html=cut_html(content_html or ""),
        summary_html=cut_html(html.escape(_str(item, "summary", warnings) or "")),
        published=_date(_str(item, "date_published", warnings), warnings),
        updated=_date(_str(item, "date_modified", warnings), warnings),
        author=_author(item),
        language=_str(item, "language", warnings) or language,
    )


def parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    try:
        doc = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError) as exc:
        raise ParseError(url, f"not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise ParseError(url, "JSON document is not a JSON Feed (no 'items' list)")
    version = doc.get("version")
    fmt = VERSIONS.get(version, "json") if isinstance(version, str) else "json"
    warnings: list[str] = [] if fmt != "json" else [f"unknown JSON Feed version {version!r}"]
    language = doc.get("language") if isinstance(doc.get("language"), str) else None
    items = [i for i in doc["items"][:MAX_ENTRIES] if isinstance(i, dict)]
    title = doc.get("title")
    home = doc.get("home_page_url")
    return ParsedFeed(
        format=fmt,
        title=cut_title(title if isinstance(title, str) else ""),
        link=home if isinstance(home, str) else None,
        language=language,
        entries=tuple(_entry(i, language, warnings) for i in items),
        warnings=tuple(dict.fromkeys(warnings))[:20],
    )
