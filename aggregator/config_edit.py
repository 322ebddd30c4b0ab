"""Edits to feeds.yaml that keep the user's comments and layout (ruamel.yaml round trip)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from aggregator.errors import ConfigError
from aggregator.opml import Subscription
from aggregator.publish.files import write_atomic


def add_feeds(path: Path, subs: Sequence[Subscription]) -> list[Subscription]:
    """Append subscriptions whose URL is not yet in the file; returns those added."""
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from exc
    if not isinstance(doc, CommentedMap):
        raise ConfigError(f"{path}: the top level must be a mapping with a `feeds:` list")
    feeds = doc.get("feeds")
    if feeds is None:
        feeds = doc["feeds"] = CommentedSeq()
    known = {str(f.get("url", "")).rstrip("/") for f in feeds if isinstance(f, dict)}
    added = []
    for s in subs:
        if s.url.rstrip("/") in known:
            continue
        item = CommentedMap(url=s.url)
        if s.title:
            item["title"] = s.title
        if s.tags:
            item["tags"] = list(s.tags)
        feeds.append(item)
        known.add(s.url.rstrip("/"))
        added.append(s)
    if added:
        out = io.StringIO()
        yaml.dump(doc, out)
        write_atomic(path, out.getvalue().encode("utf-8"))
    return added
