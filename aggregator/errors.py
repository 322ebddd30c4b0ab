"""One exception tree for the whole project.

    AggregatorError
     ├── ConfigError            feeds.yaml or environment is wrong (names file, line, key)
     ├── FeedError(url)         one feed failed; the others go on
     │    ├── FetchError        transport-level failure (DNS, refused, TLS, redirect loop, size cap)
     │    │    ├── FetchTimeout
     │    │    └── HTTPStatusError(status, retry_after)
     │    └── ParseError        the body is not a feed we can read (or it attacked the parser)
     ├── StoreError             the database failed
     │    └── DatabaseUnavailable  it is unreachable, restarting or busy for now: retry later
     └── PublishError           a combined feed could not be rendered or written

Foreign exceptions (aiohttp, SQLAlchemy, feedparser, lxml) never leave their package: they are
mapped at the boundary to the most specific class here, always with ``raise ... from exc`` so the
cause stays visible in logs.
"""

from __future__ import annotations

from datetime import datetime


class AggregatorError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(AggregatorError):
    """The configuration is invalid. ``problems`` holds one human line per problem."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        return head + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class FeedError(AggregatorError):
    """Something went wrong with one feed; carries the feed URL."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.reason = message

    def __reduce__(self) -> tuple[object, ...]:
        # Errors cross process boundaries (the parser pool): rebuild them from their fields.
        return (self.__class__, (self.url, self.reason))


class FetchError(FeedError):
    """The feed could not be downloaded."""


class FetchTimeout(FetchError):
    """Connect, read or total deadline exceeded."""


class HTTPStatusError(FetchError):
    """The server answered with a status we do not treat as success.

    ``retry_after`` is the absolute UTC time before which we must not ask again (429/503 with a
    Retry-After header), or None.
    """

    def __init__(self, url: str, status: int, message: str, retry_after: datetime | None = None) -> None:
        super().__init__(url, message)
        self.status = status
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        return (self.__class__, (self.url, self.status, self.reason, self.retry_after))


class ParseError(FeedError):
    """The body is not a feed we can read (not XML/JSON, no entries, entity attack, parse timeout)."""


class StoreError(AggregatorError):
    """The database failed (a migration problem, a constraint, a bug)."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached, restarted, or kept a lock too long: it may work later.

    Whoever holds work for it (a fetched feed run) keeps the work and retries; nothing is lost.
    """


class PublishError(AggregatorError):
    """A combined feed could not be rendered or written."""
