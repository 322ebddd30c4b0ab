"""From settings to the objects the stages need: the composition shared by commands and daemon.

Holds no policy of its own: it translates ``feeds.yaml`` values into the values each stage
takes (database options, dedup knobs, fetch limits, polling policies) and opens the database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aggregator import USER_AGENT
from aggregator.config import Settings
from aggregator.dedup.settings import DedupSettings
from aggregator.pipeline.schedule import Policy
from aggregator.store import Database, DatabaseOptions
from aggregator.store import feeds as feed_repo
from aggregator.store.db import bump
from aggregator.store.values import FeedState

if TYPE_CHECKING:  # the fetch path (aiohttp) loads only for commands that fetch
    from aggregator.fetch import FetchSettings
    from aggregator.pipeline.runner import RunnerSettings


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """The database of ``settings``, its schema brought up to date (unless ``migrate`` is off)."""
    db = settings.database
    database = Database(
        settings.database_url,
        DatabaseOptions(pool_size=db.pool_size, statement_timeout=db.statement_timeout.total_seconds()),
    )
    if migrate:
        try:
            database.ensure_schema()
        except BaseException:
            database.close()
            raise
    return database


def dedup_settings(settings: Settings) -> DedupSettings:
    d = settings.dedup
    return DedupSettings(
        enabled=d.enabled, window=d.window, reworded=d.reworded, excerpts=d.excerpts, headlines=d.headlines
    )


def fetch_settings(settings: Settings) -> FetchSettings:
    from aggregator.fetch import FetchSettings

    p = settings.polling
    return FetchSettings(
        user_agent=p.user_agent or USER_AGENT,
        total_timeout=p.timeout.total_seconds(),
        max_body_bytes=p.max_body,
        limit=max(p.concurrency, 1),
        limit_per_host=max(p.per_host, 1),
    )


class Policies:
    """Each feed's polling policy under the current settings, looked up by name in a table
    made once per configuration (a round of thousands of feeds asks for every one)."""

    def __init__(self, current: Callable[[], Settings]) -> None:
        self._current = current
        self._settings: Settings | None = None
        self._table: dict[str, Policy] = {}
        self._default = Policy.of(timedelta(minutes=30), timedelta(minutes=5), timedelta(days=1))

    def __call__(self, feed: FeedState) -> Policy:
        settings = self._current()
        if settings is not self._settings:
            p = settings.polling
            self._default = Policy.of(p.interval, p.min_interval, p.max_interval)
            of = Policy.of
            self._table = {
                f.name: of(p.interval, p.min_interval, p.max_interval, f.interval) for f in settings.feeds
            }
            self._settings = settings
        return self._table.get(feed.name, self._default)


def runner_settings(
    current: Callable[[], Settings], owner: str, *, hold_writes: float | None, workers: int | None = None
) -> RunnerSettings:
    from aggregator.pipeline.runner import RunnerSettings

    settings = current()
    return RunnerSettings(
        fetch=fetch_settings(settings),
        owner=owner,
        policy=Policies(current),
        parse_timeout=settings.polling.timeout.total_seconds(),
        workers=workers,
        hold_writes=hold_writes,
        lease=settings.polling.lease,
    )


def sync_config(database: Database, settings: Settings, now: datetime) -> list[FeedState]:
    """Feed rows matching feeds.yaml, in config order (safe with several processes at once)."""
    with database.transaction("updating the feeds table from feeds.yaml") as tx:
        states, changed = feed_repo.sync_feeds(tx, settings.feeds, now)
        if changed:
            bump(tx)  # titles and outputs shown by the web pages may have changed
    return states
