"""JSON Feed 1.1 output with the ``_aggregator`` extension (a contract other tools read).

Each item is one story: ``url`` is the representative's URL exactly as its feed gave it;
``_aggregator`` = {"story_id", "members": [{"url", "feed_url", "title", "published", "match",
"similarity"}, ... representative first], "sources": [feed titles]}. Key names never change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aggregator.models import MemberView, OutputMeta, StoryView
from aggregator.normalise.text import html_to_text

VERSION = "https://jsonfeed.org/version/1.1"
SUMMARY_CHARS = 300


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _member(m: MemberView) -> dict[str, Any]:
    return {
        "url": m.url,
        "feed_url": m.feed_url,
        "title": m.title,
        "published": rfc3339(m.published),
        "match": m.match,
        "similarity": None if m.similarity is None else round(m.similarity, 4),
        "representative": m.is_representative,
    }


def _summary(story: StoryView) -> str:
    text = " ".join(html_to_text(story.summary_html or story.content_html).split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1].rstrip() + "…"


def _item(story: StoryView) -> dict[str, Any]:
    item: dict[str, Any] = {"id": story.key}
    if story.url:
        item["url"] = story.url
    item["title"] = story.title
    item["content_html"] = story.content_html or story.summary_html or ""
    summary = _summary(story)
    if summary:
        item["summary"] = summary
    item["date_published"] = rfc3339(story.published)
    item["date_modified"] = rfc3339(story.updated)
    if story.author:
        item["authors"] = [{"name": story.author}]
    if story.language:
        item["language"] = story.language
    item["_aggregator"] = {
        "story_id": story.story_id,
        "members": [_member(m) for m in story.members],
        "sources": list(story.sources),
    }
    return item


def render_json(meta: OutputMeta, stories: Sequence[StoryView]) -> bytes:
    doc: dict[str, Any] = {"version": VERSION, "title": meta.title}
    if meta.home_url:
        doc["home_page_url"] = meta.home_url
    if meta.self_url:
        doc["feed_url"] = meta.self_url
    doc["description"] = meta.description
    doc["items"] = [_item(s) for s in stories]
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"
