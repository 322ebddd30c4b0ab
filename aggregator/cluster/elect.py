"""Re-elect the representatives of stories whose members changed (see ``dedup.elect``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aggregator.dedup.elect import MemberInfo, elect_representative, headline_only
from aggregator.store import Tx
from aggregator.store import stories as story_repo
from aggregator.store.values import MemberFacts


def member_info(m: MemberFacts) -> MemberInfo:
    from aggregator.normalise.urls import is_variant_url, site_host  # (w3lib: loaded when needed)

    return MemberInfo(
        entry_id=m.entry_id,
        feed_site=site_host(m.feed_site_url or m.feed_url),
        feed_title=m.feed_title,
        priority=m.priority,
        time=m.published,
        text_length=m.text_length,
        attributed_sources=m.credits,
        variant_url=is_variant_url(m.url),
        headline_only=headline_only(m.title, m.text_head),
    )


def reelect(tx: Tx, story_ids: Sequence[int], now: datetime) -> None:
    """Elect each story's representative from its members as stored now (one query)."""
    facts = story_repo.member_facts(tx, story_ids)
    reps = []
    for sid, members in sorted(facts.items()):
        # Most stories have one member, which represents it: no facts to weigh (a rebuild
        # re-elects every story, and reading a link's site costs more than the rest).
        if len(members) == 1:
            rep = members[0].entry_id
        else:
            rep = elect_representative([member_info(m) for m in members])
        published = next(m.published for m in members if m.entry_id == rep)
        reps.append((sid, rep, published))
    story_repo.set_representatives(tx, reps, now)
