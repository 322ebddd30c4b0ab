"""Bytes and headers in, a ``ParsedFeed`` (or a ``FeedDiscovery``) out. Pure: no I/O.

Reads RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 (feedparser, made safe against entity attacks), JSON
Feed 1.0/1.1 (our own reader), and recognises an HTML page that advertises its feed with
``<link rel="alternate">``. It does not clean HTML or compute identities: see ``normalise``.
"""

from __future__ import annotations

from collections.abc import Mapping

from aggregator.errors import ParseError
from aggregator.models import FeedDiscovery, ParsedFeed
from aggregator.parse.discover import discover_feed, looks_like_html
from aggregator.parse.jsonfeed import looks_like_json_feed, parse_json_feed
from aggregator.parse.xmlfeed import parse_xml_feed, to_parsed_feed

__all__ = ["parse"]


def parse(body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed | FeedDiscovery:
    """Parse one fetched document. Raises ``ParseError`` naming ``url`` and what is wrong.

    ``headers`` are the response headers with lower-case names; ``url`` is the final URL after
    redirects (the base for relative links).
    """
    if not body.strip():
        raise ParseError(url, "the server sent an empty document")
    content_type = headers.get("content-type", "").lower()
    if looks_like_json_feed(body, content_type):
        return parse_json_feed(body, url)
    result, warnings, base = parse_xml_feed(body, headers, url)
    if result.get("version") or result.get("entries"):
        # A feed with no entries is a normal state (a new blog, a quiet search), not an error.
        return to_parsed_feed(result, warnings, base, url)
    if looks_like_html(body, content_type):
        found = discover_feed(body, url)
        if found is not None:
            return FeedDiscovery(page_url=url, feed_url=found)
        raise ParseError(url, "this is an HTML page, not a feed, and it advertises no feed")
    problem = result.get("bozo_exception")
    reason = f": {problem}" if problem else ""
    raise ParseError(url, f"not a feed (no RSS, Atom or JSON Feed found){reason}"[:500])
