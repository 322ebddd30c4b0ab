"""The web handlers, in process (aiohttp's test server), on a database a real poll filled."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from typer.testing import CliRunner

from aggregator.commands import app
from aggregator.config import load_config
from aggregator.metrics import Metrics
from aggregator.store import Database
from aggregator.web import Site, build_app
from tests.httpserver import LocalServer
from tests.test_cli import serve_fixture, write_config

Check = Callable[[TestClient[Any, Any], Site], Awaitable[None]]


def run_site(config: Path, check: Check) -> None:
    settings = load_config(config, {})
    database = Database(settings.database_url)

    async def go() -> None:
        site = Site(lambda: settings, database, Metrics(), lambda: {"polling": False})
        async with TestClient(TestServer(build_app(site))) as client:
            await check(client, site)

    try:
        asyncio.run(go())
    finally:
        database.close()


@pytest.fixture
def polled(server: LocalServer, tmp_path: Path) -> Path:
    config = write_config(tmp_path, serve_fixture(server), "server:\n  base_url: https://news.example/agg/\n")
    assert CliRunner().invoke(app, ["--config", str(config), "poll"]).exit_code == 0
    return config


def test_feed_documents_validators_gzip_and_base_url(polled: Path) -> None:
    async def check(client: TestClient[Any, Any], site: Site) -> None:
        for ext, marker in (("atom", b"<feed"), ("rss", b"<rss"), ("json", b'"version"')):
            resp = await client.get(f"/feeds/all.{ext}")
            body = await resp.read()
            assert resp.status == 200 and marker in body
            assert resp.headers["Cache-Control"].startswith("public, max-age=")
            etag, modified = resp.headers["ETag"], resp.headers["Last-Modified"]
            again = await client.get(f"/feeds/all.{ext}", headers={"If-None-Match": etag})
            assert again.status == 304 and await again.read() == b""
            since = await client.get(f"/feeds/all.{ext}", headers={"If-Modified-Since": modified})
            assert since.status == 304
            zipped = await client.get(
                f"/feeds/all.{ext}", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
            )
            assert zipped.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(await zipped.read()) == body
        doc = json.loads(await (await client.get("/feeds/all.json")).read())
        assert doc["feed_url"] == "https://news.example/agg/feeds/all.json"
        assert doc["home_page_url"] == "https://news.example/agg/"
        atom = await (await client.get("/feeds/all.atom")).read()
        assert b'href="https://news.example/agg/feeds/all.atom" rel="self"' in atom
        assert (await client.get("/feeds/nope.atom")).status == 404
        assert (await client.get("/feeds/all.xml")).status == 404

    run_site(polled, check)


def test_pages_search_sort_page_and_not_found(polled: Path) -> None:
    async def check(client: TestClient[Any, Any], site: Site) -> None:
        home = await client.get("/")
        text = await home.text()
        assert home.status == 200 and "also in 10 sources" in text and "Pimpinan KPK" in text
        covered = await (await client.get("/?sort=covered")).text()
        assert covered.index("Pimpinan KPK") < covered.index("<article", covered.index("Pimpinan KPK") + 1)
        found = await (await client.get("/?q=gempa")).text()
        assert "Gempa" in found and "Pimpinan KPK" not in found
        nothing = await (await client.get("/?q=zzzyyyxxx")).text()
        assert "No story mentions" in nothing
        later = await (await client.get("/?page=9")).text()
        assert "No more stories" in later
        story_id = text.split('data-story="')[1].split('"')[0]
        story = await client.get(f"/story/{story_id}")
        assert story.status == 200 and "★ original" in await story.text()
        for path in ("/story/999999", "/story/abc", "/nowhere", "/?output=nope"):
            resp = await client.get(path)
            assert resp.status == 404 and "Go to the newest stories" in await resp.text(), path
        feeds = await client.get("/feeds")
        assert feeds.status == 200 and "CNN Indonesia" in await feeds.text()
        assert (await client.get("/metrics")).status == 200
        health = await client.get("/healthz")
        assert health.status == 200 and (await health.json())["database"] is True

    run_site(polled, check)


def test_an_empty_database_says_how_to_start(tmp_path: Path, server: LocalServer) -> None:
    config = write_config(tmp_path, [(server.url("/nothing.rss"), "Nothing")])
    assert CliRunner().invoke(app, ["--config", str(config), "db", "upgrade"]).exit_code == 0

    async def check(client: TestClient[Any, Any], site: Site) -> None:
        text = await (await client.get("/")).text()
        assert "No stories yet" in text and "aggregator poll" in text and 'href="/feeds"' in text

    run_site(config, check)


def test_held_documents_are_served_while_the_database_is_down(polled: Path) -> None:
    async def check(client: TestClient[Any, Any], site: Site) -> None:
        first = await client.get("/feeds/all.atom")
        body = await first.read()
        home = await (await client.get("/")).text()
        site.database = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")  # the database is gone
        site.refresh()
        assert not site.database_ok
        again = await client.get("/feeds/all.atom")
        assert again.status == 200 and await again.read() == body
        assert await (await client.get("/")).text() == home
        assert (await client.get("/healthz")).status == 503
        assert (await client.get("/story/1")).status == 503  # not held: says so, and when to retry
        site.database.close()

    run_site(polled, check)
