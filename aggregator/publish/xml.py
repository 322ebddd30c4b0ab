"""Atom 1.0 (RFC 4287) and RSS 2.0 output, written with feedgen.

feedgen pitfalls handled here: entries are added with ``order="append"`` (otherwise the feed
comes out reversed); the feed's ``updated``/``lastBuildDate`` is the newest story's time, never
"now", so identical content gives identical bytes (and ETags); characters XML 1.0 forbids are
stripped before they reach the writer.

How the members of a story appear: Atom has one ``link rel="related"`` per other copy and a
``source`` naming the representative's feed; RSS has a ``source`` element for the
representative's feed and the other copies listed at the end of the description ("Also in").

feedgen 1.0 drops every attribute but ``href`` of an entry's Atom links (so ``rel="related"``
and titles would be lost and every copy would become a second "alternate" link, which RFC 4287
forbids): entry links are therefore added to the Atom document with lxml after feedgen wrote it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator
from lxml import etree

from aggregator import __version__
from aggregator.models import OutputMeta, StoryView

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
GENERATOR_URI = "https://github.com/aggregator-project/aggregator"
PLACEHOLDER_HOME = "http://localhost/"
ATOM_NS = "http://www.w3.org/2005/Atom"  # RSS requires a channel link; used when none is configured


def _x(text: str | None) -> str:
    return _ILLEGAL.sub("", text or "")


def _absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _base(meta: OutputMeta) -> FeedGenerator:
    fg = FeedGenerator()
    fg.id(meta.self_url or f"urn:aggregator:output:{meta.name}")
    fg.title(_x(meta.title))
    fg.subtitle(_x(meta.description))
    fg.description(_x(meta.description))
    fg.author({"name": _x(meta.title)})
    fg.generator("aggregator", version=__version__, uri=GENERATOR_URI)
    fg.updated(meta.updated)
    fg.lastBuildDate(meta.updated)
    # feedgen makes the RSS channel <link> of the link added last: the home page goes last.
    if meta.self_url and _absolute(meta.self_url):
        fg.link(href=meta.self_url, rel="self")
    home = meta.home_url if meta.home_url and _absolute(meta.home_url) else None
    if home:
        fg.link(href=home, rel="alternate")
    return fg


def _also_in(story: StoryView) -> str:
    others = [m for m in story.members if not m.is_representative and _absolute(m.url)]
    if not others:
        return ""
    items = "".join(
        f'<li><a href="{html.escape(m.url)}">{html.escape(_x(m.title) or m.url)}</a> — '
        f"{html.escape(_x(m.feed_title))}</li>"
        for m in others
    )
    return f"<p>Also in:</p><ul>{items}</ul>"


def _add_entries(fg: FeedGenerator, stories: Sequence[StoryView], *, rss: bool) -> None:
    for story in stories:
        fe = fg.add_entry(order="append")
        fe.id(story.key)
        fe.guid(story.key, permalink=False)
        fe.title(_x(story.title) or "(untitled)")
        body = _x(story.content_html or story.summary_html)
        if rss:
            if _absolute(story.url):
                fe.link(href=story.url, rel="alternate")
            fe.description(body + _also_in(story) or _x(story.title) or "(untitled)")
        else:
            fe.content(body or html.escape(_x(story.title) or "(untitled)"), type="html")
            summary = _x(story.summary_html)
            if summary and story.content_html:
                fe.summary(summary, type="html")
        fe.published(story.published)
        fe.updated(story.updated)
        fe.pubDate(story.published)
        if story.author:
            fe.author({"name": _x(story.author)})
        if _absolute(story.feed_url):
            fe.source(url=story.feed_url, title=_x(story.feed_title) or story.feed_url)


def _entry_links(story: StoryView) -> list[dict[str, str]]:
    links = [{"href": story.url, "rel": "alternate", "type": "text/html"}] if _absolute(story.url) else []
    for m in story.members:
        if not m.is_representative and _absolute(m.url) and m.url != story.url:
            links.append({"href": m.url, "rel": "related", "title": _x(f"{m.title} — {m.feed_title}")})
    return links


def render_atom(meta: OutputMeta, stories: Sequence[StoryView]) -> bytes:
    fg = _base(meta)
    _add_entries(fg, stories, rss=False)
    root = etree.fromstring(bytes(fg.atom_str(pretty=False, encoding="UTF-8")))
    entries = root.findall(f"{{{ATOM_NS}}}entry")
    for element, story in zip(entries, stories, strict=True):
        anchor = element.find(f"{{{ATOM_NS}}}title")
        position = list(element).index(anchor) + 1 if anchor is not None else len(element)
        for offset, attrs in enumerate(_entry_links(story)):
            link = etree.Element(f"{{{ATOM_NS}}}link", attrib=attrs)
            element.insert(position + offset, link)
    etree.indent(root, space="  ")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8")) + b"\n"


def render_rss(meta: OutputMeta, stories: Sequence[StoryView]) -> bytes:
    fg = _base(meta)
    if not meta.home_url or not _absolute(meta.home_url):
        fg.link(href=PLACEHOLDER_HOME, rel="alternate")
    _add_entries(fg, stories, rss=True)
    return bytes(fg.rss_str(pretty=True, encoding="UTF-8"))
