"""The HTML pages: plain, fast, escaped. Every value from a feed goes through ``html.escape``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from urllib.parse import urlsplit

from aggregator.models import StoryView
from aggregator.store.values import FeedSummary

STYLE = """
body{font:16px/1.45 system-ui,sans-serif;max-width:52rem;margin:1.5rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}nav a{margin-right:1rem}article{border-bottom:1px solid #ddd;padding:.6rem 0}
.meta,.also{color:#666;font-size:.88rem}table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{border-bottom:1px solid #eee;padding:.3rem;text-align:left;vertical-align:top}.bad{color:#a00}
"""


def _safe_href(url: str) -> str:
    """Only http(s) links are rendered as links; anything else becomes '#'."""
    return escape(url) if urlsplit(url).scheme in ("http", "https") else "#"


def _when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC") if t else "—"


def layout(title: str, body: str, outputs: Sequence[str]) -> bytes:
    links = "".join(f'<a href="/?output={escape(o)}">{escape(o)}</a>' for o in outputs)
    feeds = "".join(f'<a href="/feeds/{escape(o)}.atom">{escape(o)}.atom</a>' for o in outputs[:3])
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<nav>{links}<a href="/feeds">feeds</a>{feeds}</nav><h1>{escape(title)}</h1>{body}'
        "</body></html>"
    ).encode()


def stories_page(title: str, stories: Sequence[StoryView], outputs: Sequence[str]) -> bytes:
    parts = []
    for s in stories:
        others = [m for m in s.members if not m.is_representative]
        also = ""
        if others:
            names = ", ".join(
                f'<a href="{_safe_href(m.url)}" rel="noopener noreferrer">{escape(m.feed_title)}</a>'
                for m in others
            )
            also = f"<div class=also>also in: {names}</div>"
        parts.append(
            f'<article data-story="{s.story_id}"><a class=title href="{_safe_href(s.url)}" '
            f'rel="noopener noreferrer">{escape(s.title or "(untitled)")}</a>'
            f"<div class=meta>{escape(s.feed_title)} · {_when(s.published)} · "
            f'<a href="/story/{s.story_id}">{len(s.members)} cop{"y" if len(s.members) == 1 else "ies"}</a>'
            f"</div>{also}</article>"
        )
    return layout(title, "".join(parts) or "<p>No stories yet.</p>", outputs)


def story_page(story: StoryView, details: dict[int, str], outputs: Sequence[str]) -> bytes:
    rows = "".join(
        f"<tr><td>{'★' if m.is_representative else ''}</td><td>{_when(m.published)}</td>"
        f"<td>{escape(m.feed_title)}</td>"
        f'<td><a href="{_safe_href(m.url)}" rel="noopener noreferrer">{escape(m.title)}</a></td>'
        f"<td>{escape(m.match)}</td><td>{'' if m.similarity is None else f'{m.similarity:.3f}'}</td>"
        f"<td class=meta>{escape(details.get(m.entry_id, ''))}</td></tr>"
        for m in story.members
    )
    body = (
        "<table><tr><th></th><th>published</th><th>feed</th><th>entry</th><th>joined by</th>"
        f"<th>score</th><th>breakdown</th></tr>{rows}</table>"
    )
    return layout(story.title or "(untitled)", body, outputs)


def feeds_page(feeds: Sequence[FeedSummary], outputs: Sequence[str]) -> bytes:
    rows = []
    for f in feeds:
        s = f.state
        status = "removed" if not s.in_config else ("disabled" if not s.enabled else s.last_status or "new")
        bad = " class=bad" if s.error_count or s.gone else ""
        rows.append(
            f"<tr{bad}><td>{escape(s.name)}</td><td>{escape(status)}</td>"
            f"<td>{_when(s.last_success_at)}</td><td>{_when(s.next_check_at)}</td><td>{f.entries}</td>"
            f"<td>{s.error_count}</td><td>{escape(s.last_error or '')}</td>"
            f'<td><a href="{_safe_href(s.url)}">{escape(s.url)}</a></td></tr>'
        )
    body = (
        "<table><tr><th>feed</th><th>status</th><th>last success</th><th>next check</th>"
        "<th>entries</th><th>errors</th><th>problem</th><th>url</th></tr>" + "".join(rows) + "</table>"
    )
    return layout("Feeds", body, outputs)
