"""The real daemon as a subprocess against feeds on 127.0.0.1: schedule, politeness, serving,
reload and a clean stop."""

from __future__ import annotations

import gzip
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.feedfiles import rss
from tests.httpserver import LocalServer

ENTRY = {
    "url": "https://berita.example.id/2024/08/12/banjir",
    "guid": "b-1",
    "title": "Banjir rendam ratusan rumah di Bekasi",
    "content_html": "<p>"
    + "Banjir merendam ratusan rumah warga di Bekasi setelah hujan deras. " * 5
    + "</p>",
    "published": "2024-08-12T10:00:00+07:00",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class Daemon:
    def __init__(self, config: Path, port: int) -> None:
        self.port = port
        self.log = config.parent / "daemon.log"
        self._log_file = open(self.log, "w")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "--config", str(config), "run", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert wait_for(self.healthy), self.log.read_text()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def healthy(self) -> bool:
        try:
            return get(self.url("/healthz"))[0] == 200
        except OSError:
            return False

    def stop(self) -> float:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=15)
        return time.monotonic() - started

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log_file.close()


@pytest.fixture
def daemon_setup(
    server: LocalServer, tmp_path: Path
) -> Iterator[tuple[LocalServer, Path, Callable[[], Daemon]]]:
    started: list[Daemon] = []

    def start() -> Daemon:
        d = Daemon(tmp_path / "feeds.yaml", free_port())
        started.append(d)
        return d

    yield server, tmp_path, start
    for d in started:
        d.close()


def status(code: int, headers: dict[str, str] | None = None) -> Callable[[web.Request], object]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=code, headers=headers or {})

    return handler


def write_config(path: Path, feeds: dict[str, str], extra: str = "") -> None:
    lines = [f"database: sqlite:///{path.parent / 'agg.db'}", "polling:", "  interval: 1s", "feeds:"]
    for name, url in feeds.items():
        lines += [f"  - url: {url}", f"    name: {name}"]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")


def test_daemon_polls_politely_serves_reloads_and_stops(
    daemon_setup: tuple[LocalServer, Path, Callable[[], Daemon]],
) -> None:
    server, tmp, start = daemon_setup
    good = server.serve_bytes("/good.rss", rss("Berita", "https://berita.example.id/", [ENTRY]), etag='"g1"')
    failing = server.route("/fail.rss", status(500))  # type: ignore[arg-type]
    limited = server.route("/limited.rss", status(429, {"Retry-After": "3600"}))  # type: ignore[arg-type]
    gone = server.route("/gone.rss", status(410))  # type: ignore[arg-type]
    config = tmp / "feeds.yaml"
    write_config(config, {"good": good, "fail": failing, "limited": limited, "gone": gone})
    d = start()

    # it polls on schedule, conditionally
    assert wait_for(lambda: len(server.hits("/good.rss")) >= 4, 20), d.log.read_text()
    assert any(r.headers.get("If-None-Match") == '"g1"' for r in server.hits("/good.rss")[1:])
    # errors back off; Retry-After and 410 are honoured
    assert 1 <= len(server.hits("/fail.rss")) < len(server.hits("/good.rss"))
    assert len(server.hits("/limited.rss")) == 1
    assert len(server.hits("/gone.rss")) == 1

    # it serves the combined feed with validators, 304 and gzip
    code, headers, body = get(d.url("/feeds/all.json"))
    assert code == 200 and ENTRY["url"].encode() in body
    assert get(d.url("/feeds/all.json"), {"If-None-Match": headers["ETag"]})[0] == 304
    code, headers, body = get(d.url("/feeds/all.atom"), {"Accept-Encoding": "gzip"})
    assert headers.get("Content-Encoding") == "gzip" and b"<feed" in gzip.decompress(body)
    assert get(d.url("/feeds/nope.atom"))[0] == 404
    assert b"aggregator_polls_total" in get(d.url("/metrics"))[2]
    assert b"Banjir" in get(d.url("/"))[2]

    # an invalid edit is rejected and the running configuration stays
    config.write_text(config.read_text() + "  - url: not a url\n", encoding="utf-8")
    assert wait_for(lambda: "not reloaded" in d.log.read_text(), 10)
    assert d.healthy()
    # a valid edit adds a feed without a restart
    extra = server.serve_bytes("/extra.rss", rss("Lain", "https://lain.example.id/", []))
    write_config(config, {"good": good, "extra": extra})
    assert wait_for(lambda: len(server.hits("/extra.rss")) >= 1, 15), d.log.read_text()

    # SIGTERM: a clean exit well within 10 s
    assert d.stop() < 10 and d.proc.returncode == 0
    assert "stopped" in d.log.read_text()


def test_serve_alone_does_not_poll(daemon_setup: tuple[LocalServer, Path, Callable[[], Daemon]]) -> None:
    server, tmp, _ = daemon_setup
    good = server.serve_bytes("/good.rss", rss("Berita", "https://berita.example.id/", [ENTRY]))
    config = tmp / "feeds.yaml"
    write_config(config, {"good": good})
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: _ok(f"http://127.0.0.1:{port}/healthz"))
        time.sleep(1.5)
        assert server.hits("/good.rss") == []
        assert get(f"http://127.0.0.1:{port}/feeds/all.rss")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    assert proc.returncode == 0


def _ok(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False
