"""Representative election: the original publisher's copy stands for the story.

Order: (1) a member that names its source in an attribution line points at the member from
that source's feed (matched by the feed's site host or title); (2) a member with text over a
headline-only one, whose text says nothing its title does not (a news-search feed links the
story; it does not tell it; a summary feed's one-paragraph item is text and keeps its place);
(3) the feed's configured priority; (4) the earliest published; (5) a main URL over an AMP,
mobile or tracking variant of it (the same article in two feeds of its publisher); (6) the
fullest text; (7) the lowest entry id, so the result never depends on the order members
arrived in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_WORD = re.compile(r"\w+")  # (not dedup.text's words: that module loads NumPy, which a 304 round never needs)
THIN_TEXT = 280  # characters: only a text shorter than this can be a headline with furniture...
EXTRA_WORDS = 3  # ...and only when it adds at most this many words to the title (a publisher's name)


@dataclass(frozen=True, slots=True)
class MemberInfo:
    entry_id: int
    feed_site: str  # host of the feed's site, without www.: "example.co.id"
    feed_title: str
    priority: int
    time: datetime
    text_length: int
    attributed_sources: tuple[str, ...] = ()  # what this member says it was taken from
    variant_url: bool = False  # its URL is an AMP/mobile/tracking spelling of another
    headline_only: bool = False  # its text says nothing its title does not (see ``headline_only``)


def headline_only(title: str, text: str) -> bool:
    """Whether an entry carries a headline and no article: no text, or a text that only repeats
    the title, perhaps with the publisher's name ("Title - Publisher"), as news-search and
    link-blog feeds do. A summary of a sentence or two is text: a summary feed's item is often
    the original publisher's, and the earliest copy must keep its claim."""
    if len(text) >= THIN_TEXT:
        return False
    said = set(_WORD.findall(title.casefold()))
    return len(set(_WORD.findall(text.casefold())) - said) <= EXTRA_WORDS


def _squash(text: str) -> str:
    return _NON_ALNUM.sub("", text.lower())


def _names_source(member: MemberInfo, source: str) -> bool:
    """Whether ``source`` (a domain or an outlet's name) designates this member's feed."""
    src = source.lower().removeprefix("www.")
    site = member.feed_site
    if site and ("." in src) and (src == site or site.endswith("." + src) or src.endswith("." + site)):
        return True
    squashed = _squash(src.split(".")[0] if "." in src else src)
    if len(squashed) < 3:
        return False
    site_label = _squash(site.split(".")[0]) if site else ""
    return squashed == site_label or squashed in _squash(member.feed_title)


def pointed_at(members: Sequence[MemberInfo]) -> set[int]:
    """Entry ids that another member names as its source."""
    out: set[int] = set()
    for m in members:
        for src in m.attributed_sources:
            for other in members:
                if other.entry_id != m.entry_id and _names_source(other, src):
                    out.add(other.entry_id)
    return out


def elect_representative(members: Sequence[MemberInfo]) -> int:
    if not members:
        raise ValueError("a story without members has no representative")
    named = pointed_at(members)
    return min(
        members,
        key=lambda m: (
            m.entry_id not in named,
            m.headline_only,
            -m.priority,
            m.time,
            m.variant_url,
            -m.text_length,
            m.entry_id,
        ),
    ).entry_id
