"""``aggregator demo``: the sample feeds, and the command as a user runs it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import timedelta
from pathlib import Path

from aggregator.clock import utcnow
from aggregator.demo import SampleServer, load_sample
from aggregator.models import ParsedFeed
from aggregator.parse import parse


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_sample_has_three_formats_copies_and_the_seed_case() -> None:
    sample = load_sample()
    assert {s.format for s in sample.sources} == {"rss", "atom", "json"}
    assert "CC BY-SA 4.0" in sample.credit
    by_title = Counter(e.title for e in sample.entries)
    assert len(sample.entries) > len(by_title)  # some titles repeat: copies
    assert any("Sumber cnnindonesia.com" in e.content_html for e in sample.entries if e.source == "infoviral")
    assert sample.waves == 3 and {e.wave for e in sample.entries} == {1, 2, 3}


def test_sample_server_serves_parseable_feeds_wave_by_wave_with_etags() -> None:
    sample = load_sample()
    # Started two waves ago: every wave is out.
    with SampleServer(sample, start=utcnow() - timedelta(seconds=2 * sample.wave_seconds + 1)) as server:
        total = 0
        for source in sample.sources:
            status, headers, body = fetch(server.url(source))
            assert status == 200, source.name
            feed = parse(body, {"content-type": headers["Content-Type"]}, server.url(source))
            assert isinstance(feed, ParsedFeed)
            expected = [e for e in sample.entries if e.source == source.name]
            assert len(feed.entries) == len(expected), source.name
            assert all(e.published is not None and e.published <= utcnow() for e in feed.entries)
            total += len(feed.entries)
            again = fetch(server.url(source), {"If-None-Match": headers["ETag"]})
            assert again[0] == 304 and again[2] == b""
        assert total == len(sample.entries)
        assert fetch(f"http://127.0.0.1:{server.port}/nothing.rss")[0] == 404
    with SampleServer(sample) as fresh:  # just started: only the first wave
        assert fresh.wave() == 1
        first = 0
        for s in sample.sources:
            feed = parse(fetch(fresh.url(s))[2], {}, fresh.url(s))
            assert isinstance(feed, ParsedFeed)
            first += len(feed.entries)
        assert first == sum(1 for e in sample.entries if e.wave == 1)


def test_demo_command_serves_merged_stories_within_a_minute_and_cleans_up(tmp_path: Path) -> None:
    """The real CLI, in another folder, with no configuration: stories of several members in
    /feeds/all.json within 60 s; Ctrl-C stops it and removes its temporary folder."""
    env = {"PATH": "/usr/bin:/bin", "AGGREGATOR_DATABASE_URL": "sqlite:////nonexistent/ignored.db"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "demo", "--port", "0"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "serving on http://127.0.0.1:PORT/"
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        base = f"http://127.0.0.1:{match.group(1)}"
        deadline = time.monotonic() + 60
        merged: list[int] = []
        while time.monotonic() < deadline and len(merged) < 3:
            doc = json.loads(fetch(base + "/feeds/all.json")[2])
            merged = [n for i in doc["items"] if (n := len(i["_aggregator"]["members"])) > 1]
            time.sleep(1)
        assert len(merged) >= 3, merged
        assert fetch(base + "/")[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    folder = re.search(r"database and feeds.yaml in (\S+)", err)
    assert folder, err
    assert not Path(folder.group(1)).exists()
    assert list(tmp_path.iterdir()) == []  # nothing written where it was started
