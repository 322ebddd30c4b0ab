"""The HTML pages in a real headless browser (Debian's chromium driven by Playwright).

Skipped where chromium or Playwright is missing; `.ci/run` installs both.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA
from tests.feedfiles import rss
from tests.httpserver import LocalServer
from tests.test_daemon import free_port, get, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

HOSTILE = {
    "url": "https://jahat.example/1",
    "guid": "evil-1",
    "title": '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">Judul XSS-SAFE-1',
    "content_html": '<p>XSS-SAFE-2 <a href="javascript:window.__pwned=3">klik</a>'
    '<img src="x" onerror="window.__pwned=4"><script>window.__pwned=5</script></p>',
    "published": "2024-08-12T12:00:00+07:00",
}


def test_pages_render_sources_and_stay_safe(server: LocalServer, tmp_path: Path) -> None:
    fixture = json.loads((DATA / "dedup" / "indosum_cluster.json").read_text(encoding="utf-8"))
    by_source: dict[str, list[dict[str, str]]] = {}
    for e in fixture["entries"]:
        by_source.setdefault(e["source"], []).append(e)
    lines = [f"database: sqlite:///{tmp_path / 'agg.db'}", "feeds:"]
    for src in fixture["sources"]:
        url = server.serve_bytes(
            f"/{src['source']}.rss", rss(src["title"], src["site_url"], by_source[src["source"]])
        )
        lines += [f"  - url: {url}", f"    title: {json.dumps(src['title'])}"]
    evil = server.serve_bytes(
        "/evil.rss", rss('Jahat <b onmouseover="x()">', "https://jahat.example/", [HOSTILE])
    )
    lines += [f"  - url: {evil}", "    name: jahat"]
    config = tmp_path / "feeds.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    port = free_port()
    # Served from the start: the pages must show the empty state, then the stories once a poll
    # (another process) has stored them.
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        assert wait_for(lambda: _up(base))
        with playwright_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                ],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            dialogs: list[str] = []

            def on_dialog(d: Any) -> None:
                dialogs.append(d.message)
                d.dismiss()

            page.on("dialog", on_dialog)
            # empty state: how to get stories, and where feed health is
            page.goto(base + "/")
            empty = page.inner_text("main")
            assert "aggregator poll" in empty and page.locator("main a[href='/feeds']").count() >= 1
            page.screenshot(path=str(shots / "empty-desktop.png"), full_page=True)

            poll = [sys.executable, "-m", "aggregator", "--config", str(config), "poll"]
            assert subprocess.run(poll, capture_output=True, timeout=120).returncode == 0
            assert wait_for(lambda: b"also in" in get(base + "/")[2])
            page.goto(base + "/")
            original = next(e for e in fixture["entries"] if e["role"] == "original")
            story = page.locator("article", has=page.locator(f'a.title[href="{original["url"]}"]'))
            assert story.count() == 1
            assert "also in 10 sources" in story.inner_text()
            assert "XSS-SAFE-1" in page.content()
            assert page.evaluate("window.__pwned") is None and dialogs == []
            assert page.locator("article script").count() == 0
            page.screenshot(path=str(shots / "home-desktop.png"), full_page=True)
            # the story page says what each copy is, compared with the original
            story.locator(".meta a").click()
            page.wait_for_url(f"{base}/story/*")
            story_url = page.url
            copies = page.locator(".member")
            assert copies.count() == sum(1 for e in fixture["entries"] if e["cluster"] == "id-00153")
            text = page.inner_text("main")
            assert "★ original" in text and "the original" in text
            assert "verbatim copy" in text and "excerpt of the original" in text and "reworded" in text
            page.screenshot(path=str(shots / "story-desktop.png"), full_page=True)
            # the feeds page shows health, and fits a 1280 px window
            page.goto(base + "/feeds")
            assert "jahat" in page.inner_text("table")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            page.screenshot(path=str(shots / "feeds-desktop.png"), full_page=True)
            response = page.goto(base + "/story/999999")
            assert response is not None and response.status == 404
            assert "Go to the newest stories" in page.inner_text("main")
            page.screenshot(path=str(shots / "404-desktop.png"), full_page=True)
            assert page.evaluate("window.__pwned") is None
            # a phone: nothing wider than the screen
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            for name, path in (("home", "/"), ("story", story_url[len(base) :]), ("feeds", "/feeds")):
                phone.goto(base + path)
                assert phone.evaluate("document.documentElement.scrollWidth") <= 390, name
                phone.screenshot(path=str(shots / f"{name}-phone.png"), full_page=True)
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def _up(base: str) -> bool:
    try:
        return get(base + "/healthz")[0] == 200
    except OSError:
        return False
