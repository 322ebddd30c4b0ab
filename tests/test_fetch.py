"""HTTP behaviour against a real server on 127.0.0.1: validators, redirects, limits, statuses."""

from __future__ import annotations

import asyncio
import gzip
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from aggregator import USER_AGENT
from aggregator.errors import FetchError, FetchTimeout, HTTPStatusError
from aggregator.fetch import Fetcher, FetchSettings, cache_lifetime, parse_retry_after
from aggregator.models import FetchRequest, FetchResult
from tests.httpserver import LocalServer

NOW = datetime(2024, 8, 12, 7, 0, tzinfo=UTC)
FEED = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


def fetch(url: str, settings: FetchSettings | None = None, **req: str) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(settings or FetchSettings(total_timeout=5)) as f:
            return await f.fetch(FetchRequest(url, **req), now=lambda: NOW)

    return asyncio.run(go())


def test_200_with_validators_and_user_agent(server: LocalServer) -> None:
    url = server.serve_bytes("/feed", FEED, etag='"v1"')
    r = fetch(url)
    assert (r.status, r.body, r.etag) == (200, FEED, '"v1"')
    assert server.hits("/feed")[0].headers["User-Agent"] == USER_AGENT


def test_etag_gives_304(server: LocalServer) -> None:
    url = server.serve_bytes("/feed", FEED, etag='"v1"')
    r = fetch(url, etag='"v1"')
    assert r.not_modified and r.body is None and r.etag == '"v1"'
    assert server.hits("/feed")[0].headers["If-None-Match"] == '"v1"'


def test_last_modified_is_sent(server: LocalServer) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("If-Modified-Since") == "Mon, 12 Aug 2024 07:00:00 GMT":
            return web.Response(status=304)
        return web.Response(body=FEED, headers={"Last-Modified": "Mon, 12 Aug 2024 07:00:00 GMT"})

    url = server.route("/lm", handler)
    first = fetch(url)
    assert first.last_modified == "Mon, 12 Aug 2024 07:00:00 GMT"
    assert fetch(url, last_modified=first.last_modified).status == 304


def test_gzip_is_decoded(server: LocalServer) -> None:
    async def handler(request: web.Request) -> web.Response:
        assert "gzip" in request.headers.get("Accept-Encoding", "")
        return web.Response(body=gzip.compress(FEED), headers={"Content-Encoding": "gzip"})

    assert fetch(server.route("/gz", handler)).body == FEED


@pytest.mark.parametrize(("status", "permanent"), [(301, True), (308, True), (302, False), (307, False)])
def test_redirects_and_permanent_moves(server: LocalServer, status: int, permanent: bool) -> None:
    async def moved(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": "new"})  # relative Location

    server.route("/old/feed", moved)
    new = server.serve_bytes("/old/new", FEED)
    r = fetch(server.url("/old/feed"))
    assert r.final_url == new and r.body == FEED
    assert r.permanent_url == (new if permanent else None)


def test_redirect_loop_is_stopped(server: LocalServer) -> None:
    async def a(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/b"})

    async def b(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/a"})

    server.route("/a", a)
    server.route("/b", b)
    with pytest.raises(FetchError, match="redirect loop"):
        fetch(server.url("/a"))


def test_too_many_redirects(server: LocalServer) -> None:
    async def hop(request: web.Request) -> web.Response:
        n = int(request.path.rsplit("/", 1)[1])
        return web.Response(status=302, headers={"Location": f"/hop/{n + 1}"})

    for i in range(20):
        server.route(f"/hop/{i}", hop)
    with pytest.raises(FetchError, match="too many redirects"):
        fetch(server.url("/hop/0"), FetchSettings(total_timeout=5, max_redirects=3))


@pytest.mark.parametrize("status", [404, 500])
def test_error_statuses(server: LocalServer, status: int) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status)

    with pytest.raises(HTTPStatusError) as info:
        fetch(server.route("/e", handler))
    assert info.value.status == status and str(status) in str(info.value)


def test_429_retry_after_seconds_and_503_http_date(server: LocalServer) -> None:
    async def limited(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "3600"})

    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503, headers={"Retry-After": "Mon, 12 Aug 2024 09:00:00 GMT"})

    with pytest.raises(HTTPStatusError) as a:
        fetch(server.route("/429", limited))
    assert a.value.retry_after == NOW + timedelta(hours=1)
    with pytest.raises(HTTPStatusError) as b:
        fetch(server.route("/503", unavailable))
    assert b.value.retry_after == datetime(2024, 8, 12, 9, 0, tzinfo=UTC)


def test_410_gone(server: LocalServer) -> None:
    async def gone(request: web.Request) -> web.Response:
        return web.Response(status=410)

    with pytest.raises(HTTPStatusError) as info:
        fetch(server.route("/gone", gone))
    assert info.value.status == 410


def test_trickling_body_is_cut_by_total_deadline(server: LocalServer) -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(b"<")
            await asyncio.sleep(0.1)
        return resp

    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        fetch(server.route("/slow", trickle), FetchSettings(total_timeout=1, read_timeout=5))
    assert time.monotonic() - started < 3


def test_server_that_never_answers() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    started = time.monotonic()
    try:
        with pytest.raises(FetchTimeout):
            fetch(f"http://127.0.0.1:{port}/", FetchSettings(total_timeout=1))
    finally:
        listener.close()
    assert time.monotonic() - started < 3


def test_declared_oversize_body_refused_before_reading(server: LocalServer) -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": str(200 * 1024 * 1024)})
        await resp.prepare(request)
        await resp.write(b"x" * 1024)
        return resp

    with pytest.raises(FetchError, match="limit"):
        fetch(server.route("/huge", huge), FetchSettings(total_timeout=5, max_body_bytes=1 << 20))


def test_chunked_oversize_body_aborted(server: LocalServer) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunk = b"y" * 65536
        for _ in range(800):  # 50 MiB
            await resp.write(chunk)
        return resp

    with pytest.raises(FetchError, match="limit"):
        fetch(server.route("/chunked", endless), FetchSettings(total_timeout=10, max_body_bytes=1 << 20))


def test_gzip_bomb_stops_at_decompressed_cap(server: LocalServer) -> None:
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MiB of zeros in ~64 KB

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    with pytest.raises(FetchError, match="after decompression"):
        fetch(server.route("/bomb", handler), FetchSettings(total_timeout=10, max_body_bytes=1 << 20))


def test_connection_refused_and_bad_scheme() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(FetchError, match="cannot connect"):
        fetch(f"http://127.0.0.1:{port}/feed")
    with pytest.raises(FetchError, match="only http and https"):
        fetch("ftp://127.0.0.1/feed")


def test_retry_after_and_cache_lifetime_parsing() -> None:
    assert parse_retry_after("120", NOW) == NOW + timedelta(minutes=2)
    assert parse_retry_after("Mon, 12 Aug 2024 08:00:00 GMT", NOW) == NOW + timedelta(hours=1)
    assert parse_retry_after("soon", NOW) is None
    assert cache_lifetime({"cache-control": "public, max-age=600"}, NOW) == timedelta(minutes=10)
    assert cache_lifetime({"cache-control": "no-cache"}, NOW) == timedelta(0)
    assert cache_lifetime({"expires": "Mon, 12 Aug 2024 07:30:00 GMT"}, NOW) == timedelta(minutes=30)
    assert cache_lifetime({}, NOW) is None
