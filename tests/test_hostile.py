"""Hostile feeds and misbehaving servers through the real CLI: nothing crashes, leaks or is lost."""

from __future__ import annotations

import gzip
import json
import secrets
from pathlib import Path

from aiohttp import web
from typer.testing import CliRunner

from aggregator.commands import app
from tests.conftest import DATA
from tests.feedfiles import rss
from tests.httpserver import LocalServer
from tests.synthetic import feed_bytes

FEEDS = DATA / "feeds"
DANGEROUS = (
    "<script",
    "onerror",
    "onload",
    "onmouseover",
    "javascript:",
    "<iframe",
    "data:text/html",
    "<object",
    "<embed",
    "<svg",
)

XSS_HTML = (
    '<p>XSS-SAFE-1 <script>alert(1)</script><img src="x" onerror="alert(2)">'
    '<a href="javascript:alert(3)">a</a><a href="JaVaScRiPt:alert(4)">b</a>'
    '<a href="&#106;avascript:alert(5)">c</a><iframe src="https://evil.example/"></iframe>'
    '<svg onload="alert(6)"></svg><object data="x"></object><embed src="x">'
    '<form action="javascript:alert(7)"><input></form>'
    '<a href="data:text/html,<script>alert(8)</script>">d</a>'
    '<p style="background:url(javascript:alert(9))" onmouseover="alert(10)">XSS-SAFE-2</p></p>'
)


def test_hostile_inputs_do_not_stop_the_round_or_leak(server: LocalServer, tmp_path: Path) -> None:
    token = secrets.token_hex(16)
    canary = tmp_path / "canary.txt"
    canary.write_text(token, encoding="utf-8")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{canary}">]>'
        '<rss version="2.0"><channel><title>t</title><item><title>XXE-BEGIN[&xxe;]XXE-END</title>'
        "<link>https://x.example/1</link><description>&xxe;</description></item></channel></rss>"
    ).encode()
    bomb = gzip.compress(b"<rss>" + b" " * (40 << 20))

    async def bomb_handler(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"}
        )

    async def loop_a(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/loop-b"})

    async def loop_b(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/loop-a"})

    xss = {
        "url": "https://x.example/xss",
        "guid": "xss-1",
        "title": "<b>Judul</b> <script>alert(0)</script>",
        "content_html": XSS_HTML,
        "published": "2024-08-12T10:00:00+07:00",
    }
    urls = {
        "good": server.serve_bytes(
            "/good.rss",
            rss(
                "Baik",
                "https://baik.example.id/",
                [
                    xss
                    | {
                        "url": "https://baik.example.id/1",
                        "guid": "g1",
                        "title": "Berita baik",
                        "content_html": "<p>Isi berita baik.</p>",
                    }
                ],
            ),
        ),
        "xss": server.serve_bytes("/xss.rss", rss("Jahat", "https://x.example/", [xss])),
        "xxe": server.serve_bytes("/xxe.rss", xxe),
        "laughs": server.serve_bytes("/laughs.rss", (FEEDS / "billion-laughs.xml").read_bytes()),
        "malformed": server.serve_bytes("/malformed.rss", (FEEDS / "malformed-rss.xml").read_bytes()),
        "charset": server.serve_bytes(
            "/cp1252.rss",
            (FEEDS / "cp1252-declared-utf8.xml").read_bytes(),
            content_type="application/rss+xml; charset=utf-8",
        ),
        "page": server.serve_bytes(
            "/page",
            b'<!doctype html><html><head><link rel="alternate" '
            b'type="application/rss+xml" href="/real.rss"></head><body>x</body></html>',
            content_type="text/html",
        ),
        "empty": server.serve_bytes("/empty.rss", b""),
        "big": server.serve_bytes("/big.rss", feed_bytes(9, 5000)),
        "bomb": server.route("/bomb.rss", bomb_handler),
        "loop": server.route("/loop-a", loop_a),
    }
    server.route("/loop-b", loop_b)
    server.serve_bytes(
        "/real.rss",
        rss(
            "Asli",
            "https://asli.example.id/",
            [
                {
                    "url": "https://asli.example.id/1",
                    "guid": "a1",
                    "title": "Ditemukan lewat halaman",
                    "content_html": "<p>Feed ditemukan.</p>",
                    "published": "2024-08-12T09:00:00+07:00",
                }
            ],
        ),
    )
    lines = [f"database: sqlite:///{tmp_path / 'agg.db'}", "polling:", "  max_body: 8MB", "feeds:"]
    lines += [f"  - url: {u}\n    name: {n}" for n, u in urls.items()]
    config = tmp_path / "feeds.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    runner = CliRunner()
    result = runner.invoke(app, ["--config", str(config), "poll"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "bomb" in out and "limit" in out
    assert "redirect loop" in out
    assert "empty document" in out
    assert "XML entities" in out or "entit" in out  # refused, named
    exports = {}
    for fmt in ("json", "atom", "rss"):
        path = tmp_path / f"out.{fmt}"
        assert (
            runner.invoke(
                app, ["--config", str(config), "export", "-f", fmt, "--limit", "0", "-o", str(path)]
            ).exit_code
            == 0
        )
        exports[fmt] = path.read_text(encoding="utf-8")
    doc = json.loads(exports["json"])
    urls_out = {m["url"] for i in doc["items"] for m in i["_aggregator"]["members"]}
    assert "https://baik.example.id/1" in urls_out  # the good feed beside the bad ones
    assert "https://asli.example.id/1" in urls_out  # the HTML page's advertised feed
    assert sum(u.startswith("https://sumber9.example.id/") for u in urls_out) == 5000
    assert len([u for u in urls_out if "rusak" in u or "malformed" in u or "example" in u]) > 0
    for fmt, text in exports.items():
        low = text.lower().replace("&lt;", "<")
        for bad in DANGEROUS:
            assert bad not in low, (fmt, bad)
        assert "XSS-SAFE-1" in text and "XSS-SAFE-2" in text
        assert token not in text
        assert "\ufffd" not in text
    assert "Café déjà vu — “quoted” €1" in exports["json"]
    assert token.encode() not in (tmp_path / "agg.db").read_bytes()
    feeds_out = runner.invoke(app, ["--config", str(config), "feeds"]).output
    assert "discovered" in feeds_out
