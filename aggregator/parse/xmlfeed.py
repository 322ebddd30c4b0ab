"""RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 through feedparser, made safe and reduced to our values.

feedparser gets a byte stream plus the response headers, never a string (a string is tried as
a URL and then as a file path). Two defences against entity attacks: the DOCTYPE's internal
subset is removed before parsing (feedparser's lenient fallback parser would otherwise expand
"safe-looking" entities, e.g. a 50 kB entity referenced 50,000 times), and the strict parser is
our SAX driver that refuses any entity declaration that slips through.
"""

from __future__ import annotations

import calendar
import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser

from aggregator.models import ParsedEntry, ParsedFeed
from aggregator.parse import dates
from aggregator.parse.limits import MAX_ENTRIES, cut_field, cut_html, cut_title

feedparser.api.PREFERRED_XML_PARSERS[:] = ["aggregator.parse.saxdriver"]
dates.register()

# <!DOCTYPE name PUBLIC "..." "..." [ internal subset ]>: the subset is where entities live.
_DOCTYPE = re.compile(rb"<!DOCTYPE\s+([^\s\[>]+)([^\[>]*)\[(.*?)\]\s*>", re.S | re.I)
_ENTITY = re.compile(rb"<!ENTITY", re.I)
_SY_PERIODS = {"hourly": 60, "daily": 1440, "weekly": 10080, "monthly": 43200, "yearly": 525600}


def strip_internal_subset(body: bytes) -> tuple[bytes, bool]:
    """Remove a DOCTYPE's internal subset (entity declarations); True when one was removed."""
    head = body[:65536]
    if not _ENTITY.search(head) and b"[" not in head.split(b"<!DOCTYPE", 1)[-1][:200]:
        return body, False
    stripped, n = _DOCTYPE.subn(rb"<!DOCTYPE \1\2>", head, count=1)
    if n:
        return stripped + body[65536:], True
    if _ENTITY.search(head):  # an entity outside any DOCTYPE we could read: neutralise it
        return _ENTITY.sub(b"<!-- refused ENTITY", head) + body[65536:], True
    return body, False


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _content(entry: Any) -> str:
    """The longest ``content`` value: feeds sometimes carry a short and a full version."""
    values = [c.get("value", "") for c in entry.get("content", []) if isinstance(c, Mapping)]
    return max(values, key=len, default="")


def _title(entry: Any) -> str:
    detail = entry.get("title_detail") or {}
    raw = entry.get("title", "") or ""
    if detail.get("type") in ("text/html", "application/xhtml+xml") and "<" in raw:
        from aggregator.normalise.text import html_to_text

        raw = html_to_text(raw).replace("\n", " ")
    return cut_title(raw)


def _entry(e: Any, language: str | None) -> ParsedEntry:
    return ParsedEntry(
        guid=cut_field(e.get("id") or e.get("guid")),
        link=cut_field(e.get("link")),
        title=_title(e),
        content_html=cut_html(_content(e)),
        summary_html=cut_html(e.get("summary", "") or ""),
        published=_when(e.get("published_parsed")) or _when(e.get("created_parsed")),
        updated=_when(e.get("updated_parsed")),
        author=cut_field(e.get("author")),
        language=cut_field((e.get("title_detail") or {}).get("language")) or language,
    )


def _ttl_minutes(feed: Any) -> int | None:
    ttl = feed.get("ttl")
    if isinstance(ttl, str) and ttl.strip().isdigit():
        return int(ttl.strip())
    period = str(feed.get("sy_updateperiod", "")).strip().lower()
    if period in _SY_PERIODS:
        freq = str(feed.get("sy_updatefrequency", "1")).strip()
        n = int(freq) if freq.isdigit() and int(freq) > 0 else 1
        return max(1, _SY_PERIODS[period] // n)
    return None


def run_feedparser(body: bytes, headers: Mapping[str, str], url: str) -> Any:
    response_headers = {
        "content-type": headers.get("content-type", "application/xml"),
        "content-location": url,
    }
    if headers.get("content-language"):
        response_headers["content-language"] = headers["content-language"]
    return feedparser.parse(
        io.BytesIO(body),
        response_headers=response_headers,
        sanitize_html=False,  # we sanitise with nh3 in normalise/
        resolve_relative_uris=True,
    )


def to_parsed_feed(result: Any, warnings: list[str]) -> ParsedFeed:
    feed = result.get("feed", {})
    language = cut_field(feed.get("language"))
    if result.get("bozo") and result.get("bozo_exception") is not None:
        warnings.append(f"salvaged malformed document: {result['bozo_exception']}"[:300])
    entries = result.get("entries", [])[:MAX_ENTRIES]
    return ParsedFeed(
        format=result.get("version") or "unknown",
        title=cut_title(feed.get("title", "") or ""),
        link=cut_field(feed.get("link")),
        language=language,
        entries=tuple(_entry(e, language) for e in entries),
        ttl_minutes=_ttl_minutes(feed),
        warnings=tuple(warnings),
    )


def parse_xml_feed(body: bytes, headers: Mapping[str, str], url: str) -> tuple[Any, list[str]]:
    """feedparser's result for ``body`` plus our warnings (entities removed, charset repaired)."""
    warnings: list[str] = []
    body, stripped = strip_internal_subset(body)
    if stripped:
        warnings.append("the document declared XML entities; they were removed, not expanded")
    result = run_feedparser(body, headers, url)
    if _mojibake(result) and _not_utf8(body):
        repaired = run_feedparser(_as_cp1252(body), {**headers, "content-type": "application/xml"}, url)
        if not _mojibake(repaired):
            warnings.append("declared charset was wrong; decoded as windows-1252")
            result = repaired
    return result, warnings


def _mojibake(result: Any) -> bool:
    sample = str(result.get("feed", {}).get("title", "")) + "".join(
        str(e.get("title", "")) + str(e.get("summary", ""))[:500] for e in result.get("entries", [])[:50]
    )
    return "\ufffd" in sample


def _not_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


_DECL = re.compile(rb"^(\s*<\?xml[^>]*?)encoding\s*=\s*[\"'][^\"']*[\"']", re.I)


def _as_cp1252(body: bytes) -> bytes:
    text = body.decode("cp1252", errors="replace")
    data = text.encode("utf-8")
    return _DECL.sub(rb'\1encoding="utf-8"', data, count=1)
