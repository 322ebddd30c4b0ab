"""Feed discovery on an HTML page: ``<link rel="alternate" type="application/rss+xml" href>``."""

from __future__ import annotations

from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser as HTMLParser

FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
)


def looks_like_html(body: bytes, content_type: str) -> bool:
    head = body[:4096].lstrip().lower()
    return "html" in content_type or head.startswith((b"<!doctype html", b"<html")) or b"<head" in head


def discover_feed(body: bytes, url: str) -> str | None:
    """The first advertised feed URL (RSS/Atom preferred over JSON), absolute; None if none."""
    tree = HTMLParser(body.decode("utf-8", errors="replace"))
    found: list[tuple[int, str]] = []
    for node in tree.css("link[rel][href]"):
        rel = (node.attributes.get("rel") or "").lower().split()
        kind = (node.attributes.get("type") or "").lower().split(";")[0].strip()
        href = (node.attributes.get("href") or "").strip()
        if "alternate" in rel and kind in FEED_TYPES and href:
            found.append((FEED_TYPES.index(kind), urljoin(url, href)))
    return min(found)[1] if found else None
