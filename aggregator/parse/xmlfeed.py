"""RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 through feedparser, made safe and reduced to our values.

feedparser gets a byte stream plus the response headers, never a string (a string is tried as
a URL and then as a file path).

Entity attacks are stopped twice:

1. ``refuse_entity_declarations`` rejects any document whose prolog declares an entity. This is
   required, not belt and braces: when the strict parse fails, feedparser's lenient fallback
   parser is handed every "safe-looking" declaration (a quoted value without ``&``) and expands
   it, so one 50 kB entity referenced 50,000 times becomes 2.5 GB of text. Nested declarations
   (billion laughs) and ``SYSTEM`` entities it does not expand, but they are refused all the same.
2. The strict parser is our SAX driver (``saxdriver``), which raises on any entity declaration
   that reaches it and never loads anything external; its error is not a SAX error, so
   feedparser cannot swallow it and fall back to the lenient parser.
"""

from __future__ import annotations

import calendar
import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser
from feedparser.urls import _urljoin as feedparser_urljoin

from aggregator.errors import ParseError
from aggregator.models import ParsedEntry, ParsedFeed
from aggregator.parse import dates
from aggregator.parse.limits import MAX_ENTRIES, cut_field, cut_html, cut_title
from aggregator.parse.saxdriver import EntityDeclarationRefused

feedparser.api.PREFERRED_XML_PARSERS[:] = ["aggregator.parse.saxdriver"]
dates.register()

_ROOT_START = re.compile(rb"<[A-Za-z_:]")  # the first element: everything before it is the prolog
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
_EBCDIC_MARKER = b"\x4c\x6f\xa7\x94"  # "<?xm" in cp037, which feedparser also reads
# sy:updatePeriod in minutes (RSS 1.0 Syndication module), divided by sy:updateFrequency.
_SY_PERIODS = {"hourly": 60, "daily": 1440, "weekly": 10080, "monthly": 43200, "yearly": 525600}
_MAX_WARNINGS = 20


def _prolog(body: bytes) -> bytes:
    """The bytes before the root element, as ASCII-compatible text whatever the encoding."""
    if body.startswith(_EBCDIC_MARKER):
        body = body.decode("cp037", errors="replace").encode("utf-8")
    # UTF-16/32 (with or without a BOM): ASCII markup is interleaved with NUL bytes.
    if b"\x00" in body[:1024]:
        body = body.replace(b"\x00", b"")
    m = _ROOT_START.search(body)
    return body[: m.start()] if m else body


def refuse_entity_declarations(body: bytes, url: str) -> None:
    """Raise ``ParseError`` when the document declares an XML entity (internal or external)."""
    if _ENTITY_DECL.search(_prolog(body)):
        raise ParseError(
            url,
            "the document declares XML entities (<!ENTITY>); refused, as entity declarations are "
            "how entity-expansion and external-entity attacks work",
        )


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, TypeError, OSError):
        return None


_HTML_TYPES = ("text/html", "application/xhtml+xml")
# Element names of HTML, for telling escaped markup from text that merely holds "<" (RSS titles
# carry no type; feedparser's own guess says "text" as soon as it meets a <script>, which would
# publish the script's source as part of the headline).
_HTML_ELEMENTS = frozenset(
    str.split(
        "a abbr acronym address area article aside audio b big blink blockquote br button caption center "
        "cite code col colgroup dd del details dfn dialog div dl dt em embed fieldset figcaption figure "
        "font footer form h1 h2 h3 h4 h5 h6 header hr i iframe img input ins kbd label legend li link main "
        "mark marquee meta nav noscript object ol option p picture pre q s samp script section select "
        "small source span strike strong style sub summary sup svg table tbody td template textarea tfoot "
        "th thead time tr tt u ul var video wbr"
    )
)
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)\b[^<>]*>")
_CLOSE_OR_ENTITY = re.compile(r"</[A-Za-z][A-Za-z0-9]*\s*>|&#?\w+;")


def _looks_like_markup(text: str) -> bool:
    """Escaped HTML in a field that declares no type: a closing tag or an entity, and every tag
    an HTML element ("std::vector<int> explained" is text; "<b>Big</b> news" is markup)."""
    if "<" not in text or not _CLOSE_OR_ENTITY.search(text):
        return False
    names = _TAG.findall(text)
    return bool(names) and all(n.lower() in _HTML_ELEMENTS for n in names)


def _title(element: Any, declared: bool) -> tuple[str, bool]:
    """A title as the feed gives it (feedparser has resolved the XML escaping once) and whether
    it is markup. Turning markup into text is ``normalise``'s job, done once: a title that is
    text must stay that text. ``declared``: the format states the type (Atom), so it is trusted;
    otherwise (RSS) markup is recognised by its tags."""
    detail = element.get("title_detail") or {}
    raw = " ".join((element.get("title", "") or "").split())
    is_html = detail.get("type") in _HTML_TYPES or (not declared and _looks_like_markup(raw))
    return cut_title(raw), is_html


def _content(entry: Any) -> tuple[str, str | None]:
    """The longest ``content`` value (feeds sometimes carry a short and a full version) and the
    base URI feedparser recorded for it."""
    values = [c for c in entry.get("content", []) if isinstance(c, Mapping)]
    best = max(values, key=lambda c: len(c.get("value", "")), default=None)
    return ("", None) if best is None else (best.get("value", ""), best.get("base"))


def _summary(entry: Any, content: str) -> str:
    """The summary, unless feedparser copied it from the content (an Atom entry with content
    but no summary gets the content as ``summary`` too): the same text twice is no summary."""
    summary = entry.get("summary", "") or ""
    return "" if summary == content else summary


def _date(entry: Any, key: str, warnings: list[str]) -> datetime | None:
    # dict.get: feedparser's own lookup maps a missing "updated" onto "published" with a warning.
    parsed = _when(dict.get(entry, f"{key}_parsed"))
    raw = dict.get(entry, key)
    if parsed is None and raw and len(warnings) < _MAX_WARNINGS:
        warnings.append(f"unreadable date {str(raw)[:60]!r}")
    return parsed


def _entry(
    e: Any,
    language: str | None,
    author: str | None,
    declared: bool,
    warnings: list[str],
    late: Late,
    url: str | None,
) -> ParsedEntry:
    title, title_is_html = _title(e, declared)
    guid, link = e.get("id"), e.get("link")
    if late is not None:  # resolved as feedparser would have, given the base
        base, guids = late
        link = resolve_link(base, link)
        guid = resolve_link(base, guid) if guids else guid
    content, content_base = _content(e)
    summary = _summary(e, content)
    if not content:
        content_base = (e.get("summary_detail") or {}).get("base")
    # Only a base the document set itself: feedparser reports the document's address otherwise.
    xml_base = content_base if late is None and content_base and content_base != url else None
    return ParsedEntry(
        guid=cut_field(guid),
        link=cut_field(link),
        title=title,
        title_is_html=title_is_html,
        content_html=cut_html(content),
        summary_html=cut_html(summary),
        base=cut_field(xml_base),
        published=_date(e, "published", warnings) or _date(e, "created", warnings),
        updated=_date(e, "updated", warnings),
        author=cut_field(e.get("author")) or author,
        language=cut_field((e.get("title_detail") or {}).get("language")) or language,
    )


def _ttl_minutes(feed: Any) -> int | None:
    """RSS 2.0 ``<ttl>`` (minutes), else sy:updatePeriod / sy:updateFrequency."""
    ttl = str(feed.get("ttl", "")).strip()
    if ttl.isdigit() and 0 < int(ttl) <= 525600:
        return int(ttl)
    period = str(feed.get("sy_updateperiod", "")).strip().lower()
    if period in _SY_PERIODS:
        freq = str(feed.get("sy_updatefrequency", "1")).strip()
        n = int(freq) if freq.isdigit() and 0 < int(freq) <= 10_000 else 1
        return max(1, _SY_PERIODS[period] // n)
    return None


_GUID_TAG = re.compile(rb"<guid\b([^>]*)>")
_PERMALINK_ATTR = re.compile(rb"""ispermalink\s*=\s*(["'])(.*?)\1""", re.I)


def _late_resolution(body: bytes) -> bool | None:
    """Whether this document's links can be resolved after parsing, as feedparser would have
    resolved them while parsing: None when they cannot, else whether RSS guids are resolved.

    Not when the document sets a base URI itself (``xml:base``, or a bare ``base`` attribute
    feedparser also honours). feedparser resolves a guid unless its ``isPermaLink`` is other
    than "true", which its result does not record: the document's guid tags tell, when they all
    agree (a feed mixing both is parsed with the base).
    """
    if b"base=" in body:
        return None
    flags = set()
    for attrs in _GUID_TAG.findall(body):
        m = _PERMALINK_ATTR.search(attrs)
        flags.add(m is None or m.group(2) == b"true")
    if len(flags) > 1:
        return None
    return flags != {False}


def resolve_link(base: str, value: str | None) -> str | None:
    """What feedparser makes of a link given the base URI (its own ``_urljoin``)."""
    return feedparser_urljoin(base, value) if value else value


def run_feedparser(body: bytes, headers: Mapping[str, str], url: str, *, base: bool = True) -> Any:
    """feedparser over a byte stream, with only the headers it uses for encoding and base URI.

    ``base=False`` leaves the base URI out: feedparser then resolves nothing, which saves a
    fifth of its time (it joins a base to every element's URI); the caller resolves the few
    links it keeps with ``resolve_link``, which gives what feedparser would have."""
    response_headers = {"content-type": headers.get("content-type", "application/xml")}
    if base:
        response_headers["content-location"] = url
    if headers.get("content-language"):
        response_headers["content-language"] = headers["content-language"]
    try:
        return feedparser.parse(
            io.BytesIO(body),
            response_headers=response_headers,
            sanitize_html=False,  # we sanitise with nh3 in normalise/
            # normalise/ resolves links itself, after reading them the way browsers do;
            # feedparser would turn "&#106;avascript:" into a harmless-looking relative URL.
            resolve_relative_uris=False,
        )
    except EntityDeclarationRefused as exc:
        raise ParseError(url, f"the document declares XML entities; refused ({exc})") from exc
    except RecursionError as exc:
        raise ParseError(url, "the document is nested too deeply to parse") from exc
    except Exception as exc:  # feedparser's lenient parser has its own bugs; none may escape
        raise ParseError(url, f"the feed parser failed: {type(exc).__name__}: {exc}"[:300]) from exc


Late = tuple[str, bool] | None  # links to resolve after parsing: (base URI, guids too?)


def to_parsed_feed(result: Any, warnings: list[str], late: Late = None, url: str | None = None) -> ParsedFeed:
    """Our values from feedparser's result; ``late``: the base URI to resolve links against,
    and whether guids are resolved too, when feedparser ran without it (``run_feedparser``);
    ``url``: the document's address, to tell a base the document sets from its own."""
    feed = result.get("feed", {})
    language = cut_field(feed.get("language"))
    if result.get("bozo") and result.get("bozo_exception") is not None:
        warnings.insert(0, f"salvaged malformed document: {result['bozo_exception']}"[:300])
    entries = result.get("entries", [])[:MAX_ENTRIES]
    version = result.get("version") or "unknown"
    declared = version.startswith("atom")
    if late is not None and declared:  # Atom ids are always resolved (they carry no isPermaLink)
        late = (late[0], True)
    # An Atom entry without an author has the feed's (RFC 4287 4.2.1); RSS has no such rule.
    author = cut_field(feed.get("author")) if declared else None
    parsed = tuple(_entry(e, language, author, declared, warnings, late, url) for e in entries)
    title, title_is_html = _title(feed, declared)
    return ParsedFeed(
        format=version,
        title=title,
        title_is_html=title_is_html,
        link=cut_field(resolve_link(late[0], feed.get("link")) if late else feed.get("link")),
        language=language,
        entries=parsed,
        ttl_minutes=_ttl_minutes(feed),
        warnings=tuple(dict.fromkeys(warnings))[:_MAX_WARNINGS],
    )


def parse_xml_feed(body: bytes, headers: Mapping[str, str], url: str) -> tuple[Any, list[str], Late]:
    """feedparser's result for ``body``, our warnings (charset repaired), and how the links of
    the result still need resolving (None: feedparser resolved them; see ``to_parsed_feed``).

    Raises ``ParseError`` for a document that declares entities.
    """
    refuse_entity_declarations(body, url)
    warnings: list[str] = []
    guids = _late_resolution(body)
    late = None if guids is None else (url, guids)
    inline = late is None
    result = run_feedparser(body, headers, url, base=inline)
    if _mojibake(result) and _not_utf8(body):
        repaired = run_feedparser(
            _as_cp1252(body), {**headers, "content-type": "application/xml"}, url, base=inline
        )
        if not _mojibake(repaired):
            warnings.append("declared charset was wrong; decoded as windows-1252")
            result = repaired
    return result, warnings, late


def _mojibake(result: Any) -> bool:
    """True when decoding left replacement characters in the text we keep."""
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
    """The body transcoded from windows-1252 to UTF-8, its XML declaration saying so."""
    text = body.decode("cp1252", errors="replace")
    data = text.encode("utf-8")
    return _DECL.sub(rb'\1encoding="utf-8"', data, count=1)
