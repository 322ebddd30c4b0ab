"""A fetched body made ready to store: parse, then normalise. Pure; runs in a worker process.

What crosses back to the main process is a ``Digest`` of plain values. Entries the store
already has exactly as parsed (their ``raw_hash`` is in ``known``) are left out before their
HTML is sanitised and reduced to text: a changed feed of fifty entries usually brings one or
two new ones, and the other forty-eight cost only their parse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from aggregator.models import Digest, FeedDiscovery


@dataclass(frozen=True, slots=True)
class DigestJob:
    body: bytes
    headers: Mapping[str, str]  # response headers, lower-case names
    url: str  # the final URL after redirects: the base for relative links
    feed_url: str  # the feed as configured
    now: datetime
    known: frozenset[str] = field(default_factory=frozenset)  # raw hashes of stored entries
    prework: bool = False  # also make the entries' dedup prework (see dedup/prework.py)


def digest(job: DigestJob) -> Digest | FeedDiscovery:
    """Parse and normalise one document. Raises ``ParseError`` naming the URL."""
    # Imported here: the worker processes need the parser, the main process does not.
    from aggregator.normalise import normalise_feed, plain_title
    from aggregator.parse import parse

    parsed = parse(job.body, job.headers, job.url)
    if isinstance(parsed, FeedDiscovery):
        return parsed
    entries = normalise_feed(parsed, feed_url=job.feed_url, base_url=job.url, now=job.now, known=job.known)
    made = {}
    if job.prework and entries:
        from aggregator.dedup.prework import prework

        work = prework([(e.title, e.text) for e in entries])
        made = {e.guid_key: w for e, w in zip(entries, work, strict=True)}
    return Digest(
        feed=replace(parsed, entries=()),
        title=plain_title(parsed.title, parsed.title_is_html),
        entries=tuple(entries),
        unchanged=len(parsed.entries) - len(entries),
        prework=made,
    )
