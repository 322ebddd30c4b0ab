"""The knobs of same-story detection users may set under ``dedup:`` (imported without NumPy)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class DedupSettings:
    """The knobs users may set under ``dedup:`` in feeds.yaml."""

    enabled: bool = True
    # Copies further apart in time than this are never compared. Longer finds late re-posts;
    # shorter keeps recurring templates (daily reports) from ever meeting.
    window: timedelta = timedelta(days=3)
    # Join copies that share most content words but few exact phrases (reworded, spun). Off:
    # only verbatim copies and excerpts join, and content-farm rewrites stay separate items.
    reworded: bool = True
    # Join an excerpt or summary to its full article. Off: excerpt-only feeds stay apart.
    excerpts: bool = True
    # Join an entry with (next to) no text — a headline-only item of a news-search or link feed —
    # to the story whose headline it carries. Off: such entries join only by link or GUID.
    headlines: bool = True

    def allows(self, method: str) -> bool:
        """Whether a match found by ``method`` ("copy", "reworded", "excerpt", "headline") may join."""
        switches = {"reworded": self.reworded, "excerpt": self.excerpts, "headline": self.headlines}
        return switches.get(method, True)
