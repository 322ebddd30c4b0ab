"""The HTTP client: polite conditional GETs with hard limits on time and size.

Redirects are followed by hand so that loops are caught, permanent moves recognised and every
hop stays under the same deadline. The body is streamed and counted after decompression, so a
gzip bomb stops at the cap like any other oversized body. aiohttp exceptions never leave this
module: they become ``FetchError``/``FetchTimeout``/``HTTPStatusError`` naming the URL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import aiohttp

from aggregator import USER_AGENT
from aggregator.errors import FetchError, FetchTimeout, HTTPStatusError
from aggregator.fetch.headers import PERMANENT_REDIRECTS, REDIRECTS, parse_retry_after
from aggregator.models import FetchRequest, FetchResult

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)


@dataclass(frozen=True, slots=True)
class FetchSettings:
    user_agent: str = USER_AGENT
    connect_timeout: float = 10.0
    read_timeout: float = 20.0  # between two reads
    total_timeout: float = 30.0  # the whole exchange, redirects and a trickling body included
    max_body_bytes: int = 16 * 1024 * 1024  # after decompression
    max_redirects: int = 8
    limit: int = 16  # connections in all
    limit_per_host: int = 2


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Fetcher:
    """One shared aiohttp session; use as ``async with Fetcher(settings) as f``."""

    def __init__(self, settings: FetchSettings | None = None) -> None:
        self.settings = settings or FetchSettings()
        self._session: aiohttp.ClientSession | None = None
        # Per-host politeness is ours, not the connector's: waiting for a host's turn must not
        # eat into a request's deadline (aiohttp counts pool waits as connect time).
        self._hosts: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        s = self.settings
        connector = aiohttp.TCPConnector(limit=s.limit, limit_per_host=0)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, connect=s.connect_timeout, sock_read=s.read_timeout),
            headers={"User-Agent": s.user_agent, "Accept": ACCEPT},
            auto_decompress=True,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, req: FetchRequest, *, now: Callable[[], datetime] | None = None) -> FetchResult:
        """GET ``req.url`` conditionally; raise a ``FetchError`` subclass on any failure."""
        if self._session is None:
            raise RuntimeError("Fetcher used outside 'async with'")
        clock = now or _utcnow
        host = (urlsplit(req.url).hostname or "").lower()
        slot = self._hosts.setdefault(host, asyncio.Semaphore(self.settings.limit_per_host))
        async with slot:
            return await self._fetch_now(self._session, req, clock)

    async def _fetch_now(
        self, session: aiohttp.ClientSession, req: FetchRequest, clock: Callable[[], datetime]
    ) -> FetchResult:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.total_timeout):
                result = await self._follow(session, req, clock)
        except TimeoutError as exc:
            raise FetchTimeout(
                req.url,
                f"no complete answer within {self.settings.total_timeout:g} s "
                "(server too slow or not answering)",
            ) from exc
        return dataclasses.replace(result, elapsed=time.monotonic() - started)

    async def _follow(
        self, session: aiohttp.ClientSession, req: FetchRequest, clock: Callable[[], datetime]
    ) -> FetchResult:
        url, seen, permanent = req.url, [req.url], True
        for _ in range(self.settings.max_redirects + 1):
            _check_scheme(req.url, url)
            headers = _conditional(req) if url == req.url or permanent else {}
            async with _request(session, req.url, url, headers) as resp:
                if resp.status in REDIRECTS:
                    target = _location(req.url, url, resp)
                    permanent = permanent and resp.status in PERMANENT_REDIRECTS
                    if target in seen:
                        raise FetchError(req.url, f"redirect loop: {' -> '.join([*seen, target])}")
                    seen.append(target)
                    url = target
                    continue
                return await self._finish(req, url, resp, permanent and url != req.url, clock)
        raise FetchError(req.url, f"too many redirects (more than {self.settings.max_redirects})")

    async def _finish(
        self,
        req: FetchRequest,
        url: str,
        resp: aiohttp.ClientResponse,
        moved: bool,
        clock: Callable[[], datetime],
    ) -> FetchResult:
        headers = {k.lower(): v for k, v in resp.headers.items()}
        if resp.status == 304:
            return FetchResult(
                req.url,
                url,
                304,
                headers,
                None,
                etag=headers.get("etag", req.etag),
                last_modified=headers.get("last-modified", req.last_modified),
                permanent_url=url if moved else None,
            )
        if not 200 <= resp.status < 300:
            raise _status_error(req.url, resp, headers, clock())
        body = await self._read_capped(req.url, resp, headers)
        return FetchResult(
            req.url,
            url,
            200,
            headers,
            body,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            permanent_url=url if moved else None,
        )

    async def _read_capped(self, url: str, resp: aiohttp.ClientResponse, headers: dict[str, str]) -> bytes:
        cap = self.settings.max_body_bytes
        declared = resp.content_length
        if declared is not None and declared > cap and "content-encoding" not in headers:
            raise FetchError(url, f"body of {declared:,} bytes is over the {cap:,}-byte limit; refused")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in resp.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > cap:
                    raise FetchError(
                        url, f"body is over the {cap:,}-byte limit (after decompression); aborted"
                    )
                chunks.append(chunk)
        except aiohttp.ClientPayloadError as exc:
            raise FetchError(url, f"the body was cut off or corrupt: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise _client_error(url, exc) from exc
        return b"".join(chunks)


def _check_scheme(original: str, url: str) -> None:
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise FetchError(original, f"only http and https URLs can be fetched, not {url!r}")


def _conditional(req: FetchRequest) -> dict[str, str]:
    headers = {}
    if req.etag:
        headers["If-None-Match"] = req.etag
    if req.last_modified:
        headers["If-Modified-Since"] = req.last_modified
    return headers


def _location(original: str, url: str, resp: aiohttp.ClientResponse) -> str:
    loc = resp.headers.get("Location")
    if not loc:
        raise FetchError(original, f"{url} answered {resp.status} without a Location header")
    return urljoin(url, loc.strip())


class _request:
    """``session.get`` with aiohttp's exceptions translated (an async context manager)."""

    def __init__(
        self, session: aiohttp.ClientSession, original: str, url: str, headers: dict[str, str]
    ) -> None:
        self.session, self.original, self.url, self.headers = session, original, url, headers
        self.resp: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> aiohttp.ClientResponse:
        try:
            self.resp = await self.session.get(self.url, headers=self.headers, allow_redirects=False)
        except aiohttp.ClientError as exc:
            raise _client_error(self.original, exc) from exc
        except ValueError as exc:  # yarl rejects some URLs with ValueError
            raise FetchError(self.original, f"invalid URL {self.url!r}: {exc}") from exc
        return self.resp

    async def __aexit__(self, *exc: object) -> None:
        if self.resp is not None:
            self.resp.release()


def _client_error(url: str, exc: BaseException) -> FetchError:
    host = urlsplit(url).hostname or url
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return FetchError(url, f"DNS lookup failed for {host}: check the URL or your network")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError | ssl.SSLError):
        return FetchError(url, f"TLS problem with {host}: {exc}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return FetchError(url, f"cannot connect to {host}: {exc.os_error or exc}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return FetchError(url, f"{host} closed the connection without answering")
    if isinstance(exc, aiohttp.InvalidURL):
        return FetchError(url, f"invalid URL: {exc}")
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return FetchTimeout(url, f"{host} stopped sending data: {exc}")
    return FetchError(url, f"HTTP request failed: {type(exc).__name__}: {exc}")


def _status_error(
    url: str, resp: aiohttp.ClientResponse, headers: dict[str, str], now: datetime
) -> HTTPStatusError:
    status, reason = resp.status, resp.reason or ""
    if status == 410:
        return HTTPStatusError(url, 410, "the server says this feed was removed (410 Gone)")
    if status in (429, 503):
        retry = parse_retry_after(headers.get("retry-after"), now)
        when = f"; not asking again before {retry:%Y-%m-%d %H:%M:%S} UTC" if retry else ""
        return HTTPStatusError(url, status, f"HTTP {status} {reason}{when}", retry)
    hint = " (check the URL)" if status == 404 else ""
    return HTTPStatusError(url, status, f"HTTP {status} {reason}{hint}")
