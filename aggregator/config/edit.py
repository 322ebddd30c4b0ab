"""Edits to feeds.yaml that keep the user's comments and layout (ruamel.yaml round trip)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from aggregator.config.opml import Subscription
from aggregator.errors import ConfigError
from aggregator.files import write_atomic

STARTER = Path(__file__).with_name("starter.yaml")
NEW_FILE = (
    "# feeds.yaml — what aggregator polls and what it publishes.\n"
    '# Full reference: README.md, section "Configuration". Durations: 30s, 15m, 2h, 1d, 1w.\n\n'
    "feeds:\n"
)


def write_starter(path: Path, *, force: bool = False) -> None:
    """A commented starter feeds.yaml (real news feeds, three outputs) at ``path``."""
    if path.exists() and not force:
        raise ConfigError(f"{path} exists already; pass --force to replace it, or edit it")
    _write(path, STARTER.read_bytes())


def _write(path: Path, data: bytes) -> None:
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise ConfigError(exc.strerror or str(exc)) from exc


def add_feeds(path: Path, subs: Sequence[Subscription]) -> list[Subscription]:
    """Append subscriptions whose URL is not yet in the file (creating the file when there is
    none); returns those added."""
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else NEW_FILE
        doc = yaml.load(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from exc
    if not isinstance(doc, CommentedMap):
        raise ConfigError(f"{path}: the top level must be a mapping with a `feeds:` list")
    feeds = doc.get("feeds")
    if not isinstance(feeds, CommentedSeq):
        feeds = doc["feeds"] = CommentedSeq(feeds or [])
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
        _write(path, out.getvalue().encode("utf-8"))
    return added
