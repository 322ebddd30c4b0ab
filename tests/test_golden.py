"""Golden files: parse + normalise, and publish, compared with expected outputs kept in the repository.

tests/data/golden/parse/ holds input feeds; for each ``<name>`` there is ``<name>.expected.json``
holding the ``ParsedFeed`` (``dataclasses.asdict``, datetimes as ISO strings), the feed title as
``plain_title`` stores it, and the ``Entry`` values ``normalise_feed`` makes of the feed (fixed
``now``; fetched from, and relative links resolved against, ``https://example.org/feed``).
tests/data/golden/publish/stories.json holds stories and an ``OutputMeta``; ``all.atom``,
``all.rss`` and ``all.json`` are what ``render`` makes of them, compared byte for byte.

When a change to the output is intended, regenerate the expected files and review the diff::

    AGGREGATOR_REGEN_GOLDEN=1 python -m pytest -q tests/test_golden.py

With that variable set to 1 the tests (re)write the expected files instead of comparing them,
and pass. Read the rewritten files before committing them: they become the definition of right.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aggregator.models import MemberView, OutputMeta, ParsedFeed, StoryView
from aggregator.normalise import normalise_feed, plain_title
from aggregator.parse import parse
from aggregator.publish import render

GOLDEN = Path(__file__).parent / "data" / "golden"
PARSE = GOLDEN / "parse"
PUBLISH = GOLDEN / "publish"
REGEN = os.environ.get("AGGREGATOR_REGEN_GOLDEN") == "1"
URL = "https://example.org/feed"
NOW = datetime(2024, 8, 20, 12, 0, tzinfo=UTC)
CONTENT_TYPES = {  # no charset: the document's own declaration decides, as for most servers
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".json": "application/feed+json",
}
INPUTS = sorted(
    p.name for p in PARSE.iterdir() if p.suffix in CONTENT_TYPES and not p.name.endswith(".expected.json")
)


def check(path: Path, actual: bytes) -> None:
    """Compare ``actual`` with the golden file at ``path``, or write it there when regenerating."""
    if REGEN:
        path.write_bytes(actual)
        return
    if not path.exists():
        pytest.fail(f"{path.name} is missing; run with AGGREGATOR_REGEN_GOLDEN=1 to create it")
    expected = path.read_bytes()
    if actual != expected:
        # Compared as text first, for a readable diff; bytes decide (a changed byte must fail).
        assert actual.decode("utf-8", "replace") == expected.decode("utf-8", "replace"), path.name
        assert actual == expected, path.name


def to_jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to a golden file")


def dump(value: Any) -> bytes:
    return json.dumps(value, default=to_jsonable, ensure_ascii=False, indent=1).encode() + b"\n"


# --------------------------------------------------------------------------- parse + normalise
def test_inputs_found() -> None:
    assert len(INPUTS) >= 10, INPUTS
    expected = {p.name.removesuffix(".expected.json") for p in PARSE.glob("*.expected.json")}
    assert REGEN or expected <= set(INPUTS), f"expected files without an input: {expected - set(INPUTS)}"


@pytest.mark.parametrize("name", INPUTS)
def test_parse_golden(name: str) -> None:
    path = PARSE / name
    headers = {"content-type": CONTENT_TYPES[path.suffix]}
    feed = parse(path.read_bytes(), headers, URL)
    assert isinstance(feed, ParsedFeed)
    entries = normalise_feed(feed, feed_url=URL, base_url=URL, now=NOW)
    result = {
        "input": {"headers": headers, "url": URL, "now": NOW},
        "parsed": dataclasses.asdict(feed),
        "normalised": {  # what the pipeline stores (see pipeline.digest)
            "title": plain_title(feed.title, feed.title_is_html),
            "entries": [dataclasses.asdict(e) for e in entries],
        },
    }
    check(PARSE / f"{name}.expected.json", dump(result))


# --------------------------------------------------------------------------- publish
def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def load_stories(fmt: str) -> tuple[OutputMeta, list[StoryView]]:
    """The meta and stories of stories.json; ``{fmt}`` in ``self_url`` names each output's own URL."""
    doc = json.loads((PUBLISH / "stories.json").read_text(encoding="utf-8"))
    raw = doc["meta"]
    self_url = raw["self_url"].format(fmt=fmt)
    meta = OutputMeta(**{**raw, "self_url": self_url, "updated": _when(raw["updated"])})
    stories = []
    for s in doc["stories"]:
        members = tuple(MemberView(**{**m, "published": _when(m["published"])}) for m in s["members"])
        stories.append(
            StoryView(
                **{
                    **s,
                    "published": _when(s["published"]),
                    "updated": _when(s["updated"]),
                    "members": members,
                    "sources": tuple(s["sources"]),
                }
            )
        )
    return meta, stories


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
def test_publish_golden(fmt: str) -> None:
    meta, stories = load_stories(fmt)
    output = render(fmt, meta, stories)
    assert output == render(fmt, meta, stories)  # deterministic before it is worth pinning
    check(PUBLISH / f"all.{fmt}", output)
