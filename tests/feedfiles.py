"""Build small RSS 2.0 documents from fixture entries, for tests that serve them over HTTP."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import datetime
from email.utils import format_datetime
from typing import Any


def rss(title: str, site: str, entries: Iterable[Mapping[str, Any]]) -> bytes:
    items = []
    for e in entries:
        published = datetime.fromisoformat(e["published"])
        body = e.get("content_html") or ""
        items.append(
            "<item>"
            f"<title>{html.escape(e['title'])}</title>"
            f"<link>{html.escape(e['url'])}</link>"
            f'<guid isPermaLink="false">{html.escape(e["guid"])}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<description>{html.escape(e.get('summary_html') or '')}</description>"
            + (f"<content:encoded>{html.escape(body)}</content:encoded>" if body else "")
            + "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{html.escape(title)}</title><link>{html.escape(site)}</link>"
        f"<description>{html.escape(title)}</description>{''.join(items)}</channel></rss>"
    ).encode()


def paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n\n") if p.strip())
