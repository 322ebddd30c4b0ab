"""Which stories an output shows: its feeds and tags, keyword and language filters, the limit.

Reads the store (one transaction) and returns values; rendering them is the pure part of
``publish``. A story is in an output when any of its members comes from the output's feeds; its
representative stays the global one. A story whose representative has neither title nor link
(an entry with nothing to show) is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aggregator.config import OutputConfig, Settings
from aggregator.models import OutputMeta, StoryView
from aggregator.publish.filters import keep_story
from aggregator.store import Tx
from aggregator.store import feeds as feed_repo
from aggregator.store import stories as story_repo
from aggregator.store.stories import Order

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Query:
    """A page of an output: how many, from where, in which order, matching what."""

    limit: int | None = None  # None: every story
    offset: int = 0
    order: Order = "newest"
    search: str | None = None
    since: timedelta | None = None  # only stories published this close to the newest


def output_named(settings: Settings, name: str) -> OutputConfig | None:
    return next((o for o in settings.outputs if o.name == name), None)


def select_stories(tx: Tx, settings: Settings, output: OutputConfig, query: Query) -> list[StoryView]:
    """The stories of one output for ``query``, newest (or most covered) first."""
    names = output.feed_names(settings.feeds)
    every = len(names) == len(settings.feeds)
    feed_ids = None if every else [f.id for f in feed_repo.list_feeds(tx) if f.name in names]

    def page(limit: int | None, offset: int) -> tuple[int, list[StoryView]]:
        ids = story_repo.latest_story_ids(
            tx,
            feed_ids=feed_ids,
            limit=limit,
            offset=offset,
            order=query.order,
            search=query.search,
            since=query.since,
        )
        return len(ids), [s for s in story_repo.story_views(tx, ids) if _shown(s, output)]

    if not (output.include or output.exclude or output.language):
        return page(query.limit, query.offset)[1]
    # Keyword and language filters run on the views: read pages until enough pass.
    want = None if query.limit is None else query.offset + query.limit
    size = None if want is None else max(4 * want, 200)
    kept: list[StoryView] = []
    offset = 0
    while True:
        n, views = page(size, offset)
        kept.extend(views)
        if size is None or n < size or (want is not None and len(kept) >= want):
            break
        offset += size
    kept = kept[query.offset :]
    return kept if query.limit is None else kept[: query.limit]


def _shown(story: StoryView, output: OutputConfig) -> bool:
    if not (story.title or story.url):  # an entry with no title, link or text has nothing to show
        return False
    return keep_story(story, include=output.include, exclude=output.exclude, language=output.language)


def output_meta(
    settings: Settings, output: OutputConfig, stories: list[StoryView], fmt: str | None = None
) -> OutputMeta:
    """Feed-level metadata; ``updated`` is the newest story's, so identical content renders to
    identical bytes (and ETags)."""
    base = settings.server.base_url
    root = base.rstrip("/") if base else None
    return OutputMeta(
        name=output.name,
        title=output.title,
        description=output.description or f"{output.title}: one item per story, copies listed",
        home_url=f"{root}/" if root else None,
        self_url=f"{root}/feeds/{output.name}.{fmt}" if root and fmt else None,
        updated=max((s.updated for s in stories), default=EPOCH),
    )
