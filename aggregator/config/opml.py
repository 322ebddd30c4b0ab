"""OPML subscription lists: read them (safely) and write them. Pure, apart from the callers' I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element, SubElement, indent, tostring

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from aggregator.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Subscription:
    url: str
    title: str | None
    tags: tuple[str, ...] = ()


def read_opml(data: bytes, source: str) -> list[Subscription]:
    """Every ``outline`` with an ``xmlUrl``; enclosing outline titles become tags."""
    try:
        root = SafeET.fromstring(data)
    except (SafeET.ParseError, DefusedXmlException) as exc:
        raise ConfigError(f"{source}: not a readable OPML file: {exc}") from exc
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise ConfigError(f"{source}: not an OPML file (no <opml><body>)")
    found: list[Subscription] = []

    def walk(node: Element, tags: tuple[str, ...]) -> None:
        for outline in node.findall("outline"):
            url = (outline.get("xmlUrl") or "").strip()
            title = outline.get("title") or outline.get("text")
            if url:
                found.append(Subscription(url, title, tags))
            else:
                label = (title or "").strip().lower().replace(" ", "-")
                walk(outline, (*tags, label) if label else tags)

    walk(body, ())
    return found


def write_opml(title: str, subs: Sequence[Subscription]) -> bytes:
    """OPML 2.0, indented; a feed's first tag is its folder (as readers import them)."""
    root = Element("opml", version="2.0")
    SubElement(SubElement(root, "head"), "title").text = title
    body = SubElement(root, "body")
    folders: dict[str, Element] = {}
    for s in subs:
        attrs = {"type": "rss", "text": s.title or s.url, "xmlUrl": s.url}
        if s.title:
            attrs["title"] = s.title
        if s.tags:
            attrs["category"] = ",".join(s.tags)
        parent = body
        if s.tags:
            parent = folders.get(s.tags[0]) or folders.setdefault(
                s.tags[0], SubElement(body, "outline", {"text": s.tags[0], "title": s.tags[0]})
            )
        SubElement(parent, "outline", attrs)
    indent(root, space="  ")
    xml: bytes = tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + xml + b"\n"
