"""Stories → combined feed bytes (JSON Feed 1.1, Atom 1.0, RSS 2.0). Pure, except ``files``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from aggregator.errors import PublishError
from aggregator.models import OutputMeta, StoryView
from aggregator.publish.jsonfeed import render_json
from aggregator.publish.xml import render_atom, render_rss

Format = Literal["json", "atom", "rss"]
CONTENT_TYPES: dict[str, str] = {
    "json": "application/feed+json; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
}
_RENDERERS = {"json": render_json, "atom": render_atom, "rss": render_rss}


def render(fmt: str, meta: OutputMeta, stories: Sequence[StoryView]) -> bytes:
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise PublishError(f"unknown format {fmt!r}; use json, atom or rss")
    try:
        return renderer(meta, stories)
    except ValueError as exc:  # feedgen/lxml reject what they cannot write
        raise PublishError(f"cannot render the {fmt} feed {meta.name!r}: {exc}") from exc


__all__ = ["CONTENT_TYPES", "render"]
