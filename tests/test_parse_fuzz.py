"""parse() on random bytes and mutated golden feeds: a value or a ParseError, nothing else."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.errors import ParseError
from aggregator.models import FeedDiscovery, ParsedFeed
from aggregator.parse import parse

FEEDS = Path(__file__).parent / "data" / "feeds"
GOLDEN = [p.read_bytes() for p in sorted(FEEDS.iterdir()) if p.stat().st_size < 20_000]
CONTENT_TYPES = ["application/rss+xml", "application/json", "text/html", "text/xml; charset=utf-8", ""]


def check(body: bytes, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    try:
        result = parse(body, headers, "https://berita.example.id/feed")
    except ParseError:
        return
    assert isinstance(result, ParsedFeed | FeedDiscovery)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    body = bytearray(draw(st.sampled_from(GOLDEN)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(["cut", "insert", "flip", "truncate"]))
        if action == "cut":
            del body[at : at + draw(st.integers(1, 40))]
        elif action == "insert":
            body[at:at] = draw(
                st.sampled_from([b"&", b"<", b"]]>", b"<!ENTITY x 'y'>", b"\x00", b"\xff\xfe", b"{"])
            )
        elif action == "flip" and at < len(body):
            body[at] = draw(st.integers(0, 255))
        else:
            del body[at:]
    return bytes(body)


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(body=st.binary(max_size=2000), content_type=st.sampled_from(CONTENT_TYPES))
def test_random_bytes(body: bytes, content_type: str) -> None:
    check(body, content_type)


@FAST
@given(body=mutated(), content_type=st.sampled_from(CONTENT_TYPES))
def test_mutated_golden_feeds(body: bytes, content_type: str) -> None:
    check(body, content_type)
