"""The real CLI end to end: feeds served on 127.0.0.1, poll, export, feeds, explain, rebuild."""

from __future__ import annotations

import gc
import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aggregator.commands import app
from tests.conftest import DATA
from tests.feedfiles import paragraphs, rss
from tests.httpserver import LocalServer

FIXTURE = json.loads((DATA / "dedup" / "indosum_cluster.json").read_text(encoding="utf-8"))
runner = CliRunner()


def cli(config: Path, *args: str) -> Any:
    return runner.invoke(app, ["--config", str(config), *args], catch_exceptions=False)


def serve_fixture(server: LocalServer) -> list[tuple[str, str]]:
    """Serve each fixture source as an RSS feed; returns (url, title) in source order."""
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in FIXTURE["entries"]:
        by_source[e["source"]].append(e)
    feeds = []
    for src in FIXTURE["sources"]:
        name = src["source"]
        url = server.serve_bytes(
            f"/{name}.rss", rss(src["title"], src["site_url"], by_source[name]), etag=f'"{name}"'
        )
        feeds.append((url, src["title"]))
    return feeds


def write_config(tmp: Path, feeds: list[tuple[str, str]], extra: str = "") -> Path:
    lines = [f"database: sqlite:///{tmp / 'agg.db'}", "feeds:"]
    for url, title in feeds:
        lines += [f"  - url: {url}", f"    title: {json.dumps(title)}"]
    path = tmp / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def export_json(config: Path) -> dict[str, Any]:
    out = config.parent / "out.json"
    result = cli(config, "export", "--format", "json", "--limit", "0", "--output", str(out))
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return doc


def partition(doc: dict[str, Any]) -> set[frozenset[str]]:
    return {frozenset(m["url"] for m in i["_aggregator"]["members"]) for i in doc["items"]}


def test_poll_export_and_repoll(server: LocalServer, tmp_path: Path) -> None:
    feeds = serve_fixture(server)
    config = write_config(tmp_path, [*feeds, (server.url("/missing.rss"), "Missing")])
    result = cli(config, "poll")
    assert result.exit_code == 0, result.output
    assert "error: HTTP 404" in result.output  # the broken feed is reported, the others go on
    doc = export_json(config)
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    members = [m for i in doc["items"] for m in i["_aggregator"]["members"]]
    assert len(members) == len(FIXTURE["entries"])  # nothing lost, nothing twice
    for item in doc["items"]:
        agg = item["_aggregator"]
        assert set(agg) == {"story_id", "members", "sources"}
        assert item["url"] == agg["members"][0]["url"]
        for m in agg["members"]:
            assert {"url", "feed_url", "title", "published", "match", "similarity"} <= set(m)
    # the copies of the big story are one item, represented by the original publisher
    cluster = [e for e in FIXTURE["entries"] if e["cluster"] == "id-00153"]
    original = next(e for e in cluster if e["role"] == "original")
    (story,) = [i for i in doc["items"] if i["url"] == original["url"]]
    got = {m["url"] for m in story["_aggregator"]["members"]}
    assert got == {e["url"] for e in cluster}
    # template stories (earthquakes, market reports) stay apart
    templates = [
        e["url"] for e in FIXTURE["entries"] if e["role"] != "original" and e["cluster"] != "id-00153"
    ]
    for url in templates:
        assert {url} in partition(doc) or all(url not in p or len(p) == 1 for p in partition(doc))

    again = cli(config, "poll")
    assert again.exit_code == 0 and ": 0 new entries" in again.output
    assert "not modified" in again.output
    assert any("If-None-Match" in r.headers for r in server.hits(f"/{FIXTURE['sources'][0]['source']}.rss"))
    assert partition(export_json(config)) == partition(doc)

    listing = cli(config, "feeds")
    assert listing.exit_code == 0 and "HTTP 404" in listing.output


def test_feed_order_does_not_change_stories(server: LocalServer, tmp_path: Path) -> None:
    feeds = serve_fixture(server)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    ca, cb = write_config(a, feeds), write_config(b, feeds[::-1])
    assert cli(ca, "poll").exit_code == 0
    assert cli(cb, "poll").exit_code == 0
    assert partition(export_json(ca)) == partition(export_json(cb))


def test_rebuild_is_deterministic_and_explain_works(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = write_config(tmp_path, serve_fixture(server))
    assert cli(config, "poll").exit_code == 0
    before = partition(export_json(config))
    # Rebuild learns each feed's boilerplate again from all its entries: the counts the poll
    # learned entry by entry. The same with every entry's lines counted, cleaned and signed here
    # rather than by worker processes.
    from sqlalchemy import select

    from aggregator.clock import utcnow
    from aggregator.cluster.rebuild import rebuild
    from aggregator.config import load_config
    from aggregator.processes import COLLECT_EVERY
    from aggregator.store.schema import boilerplate, feeds
    from aggregator.wiring import dedup_settings, open_database

    settings = load_config(config, {})
    database = open_database(settings)

    def learned() -> tuple[list[Any], list[Any]]:
        with database.reading("test") as tx:
            counts = tx.execute(select(boilerplate.c.feed_id, boilerplate.c.line_hash, boilerplate.c.count))
            docs = tx.execute(select(feeds.c.id, feeds.c.boilerplate_docs))
            return sorted(map(tuple, counts)), sorted(map(tuple, docs))

    try:
        polled = learned()
        assert polled[0] and all(n for _, n in polled[1])
        result = cli(config, "dedup", "rebuild")
        assert result.exit_code == 0, result.output
        assert partition(export_json(config)) == before
        assert learned() == polled
        # The rebuild runs with the cycle collector's thresholds raised, and restores them.
        thresholds = set()
        default = gc.get_threshold()
        rebuild(
            database, dedup_settings(settings), utcnow(), lambda *_: thresholds.add(gc.get_threshold()), 0
        )
        assert thresholds == {COLLECT_EVERY} and gc.get_threshold() == default != COLLECT_EVERY
        assert learned() == polled
        # Many batches: the workers count and sign two batches ahead of the one placed.
        monkeypatch.setattr("aggregator.cluster.rebuild.BATCH", 4)
        with caplog.at_level(logging.INFO, logger="aggregator.rebuild"):
            rebuild(database, dedup_settings(settings), utcnow(), workers=2)
        n = len(FIXTURE["entries"])
        assert f"{n} of {n} entries cleaned and signed ahead by worker processes" in caplog.text
        assert learned() == polled
        assert partition(export_json(config)) == before
    finally:
        database.close()
    assert partition(export_json(config)) == before
    url = next(e["url"] for e in FIXTURE["entries"] if e["role"] == "spun")
    story = cli(config, "explain", url)
    assert story.exit_code == 0 and "similar:" in story.output and "(* representative)" in story.output
    original = next(e["url"] for e in FIXTURE["entries"] if e["role"] == "original")
    pair = cli(config, "explain", original, url)
    assert pair.exit_code == 0 and "verdict: same story" in pair.output
    assert cli(config, "stories").exit_code == 0


def test_seed_repost_polled_first_is_represented_by_the_original(server: LocalServer, tmp_path: Path) -> None:
    repost = (DATA / "dedup" / "seed_repost.txt").read_text(encoding="utf-8")
    original = (DATA / "dedup" / "seed_original.txt").read_text(encoding="utf-8")
    title = "Kolaborasi BPJS Ketenagakerjaan Lindungi Pekerja di Bangka Belitung"
    farm = {
        "source": "x",
        "url": "https://kabarviral.example/bpjs-bangka-belitung",
        "guid": "kv-1",
        "title": title,
        "content_html": paragraphs(repost),
        "published": "2024-08-12T10:00:00+07:00",
    }
    cnn = {
        "source": "c",
        "url": "https://www.cnnindonesia.com/ekonomi/20240812-bpjs-babel",
        "guid": "cnn-1",
        "title": title,
        "content_html": paragraphs(original),
        "published": "2024-08-12T11:00:00+07:00",
    }
    repost_url = server.serve_bytes("/farm.rss", rss("Kabar Viral", "https://kabarviral.example/", [farm]))
    cnn_url = server.serve_bytes("/cnn.rss", rss("CNN Indonesia", "https://www.cnnindonesia.com/", [cnn]))
    config = write_config(tmp_path, [(repost_url, "Kabar Viral"), (cnn_url, "CNN Indonesia")])
    assert cli(config, "poll").exit_code == 0
    (item,) = export_json(config)["items"]
    assert item["url"] == cnn["url"]  # named as the source, although published later
    assert [m["url"] for m in item["_aggregator"]["members"]] == [cnn["url"], farm["url"]]


def test_config_error_exit_code_and_location(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n  - url: https://example.com/rss\n    intervall: 5m\n", encoding="utf-8")
    result = runner.invoke(app, ["--config", str(config), "poll"])
    assert result.exit_code == 3
    assert (
        f"{config}:3:5: feeds[0].intervall: unknown key 'intervall'; did you mean 'interval'?"
        in result.output
    )


def test_db_upgrade_command(tmp_path: Path) -> None:
    config = write_config(tmp_path, [("https://example.com/rss", "Example")])
    first = cli(config, "db", "upgrade")
    assert first.exit_code == 0 and "migrated from empty" in first.output
    assert "already at" in cli(config, "db", "upgrade").output


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_xml_exports_are_wellformed(server: LocalServer, tmp_path: Path, fmt: str) -> None:
    from lxml import etree

    config = write_config(tmp_path, serve_fixture(server))
    assert cli(config, "poll").exit_code == 0
    out = tmp_path / f"out.{fmt}"
    assert cli(config, "export", "--format", fmt, "--output", str(out)).exit_code == 0
    root = etree.parse(str(out)).getroot()
    assert root.tag.endswith("feed" if fmt == "atom" else "rss")


def test_version_alone_prints_the_version() -> None:
    from aggregator import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"aggregator {__version__}"


PROBE = """
import atexit, json, sys
HEAVY = ("numpy", "datasketch", "feedparser", "aggregator.dedup.text", "aggregator.parse.xmlfeed")
if __name__ == "__main__":  # (parser processes import this module too)
    atexit.register(lambda: print(json.dumps(sorted(m for m in HEAVY if m in sys.modules))))
    sys.argv = ["aggregator", "--config", sys.argv[1], "poll"]
    from aggregator.cli import main
    main()
"""


def test_an_unchanged_round_loads_no_parser_nor_dedup_engine(server: LocalServer, tmp_path: Path) -> None:
    """A round where every feed answers 304 needs no parser, no NumPy, no dedup index: start-up
    and memory of the commonest round stay small (a story's re-election must not pull them in)."""
    import os
    import subprocess
    import sys

    body = (DATA / "feeds" / "rss20.xml").read_bytes()
    url = server.serve_bytes("/cnn.rss", body, etag='"v1"')
    config = write_config(tmp_path, [(url, "CNN Indonesia")])
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def loaded() -> list[str]:
        run = subprocess.run(
            [sys.executable, str(probe), str(config)], capture_output=True, text=True, timeout=120, env=env
        )
        assert run.returncode == 0, run.stderr[-2000:]
        return list(json.loads(run.stdout.strip().splitlines()[-1]))

    assert "numpy" in loaded()  # the first round stores and clusters entries
    assert loaded() == []
    second = server.hits("/cnn.rss")[-1]
    assert second.headers.get("If-None-Match") == '"v1"'  # answered 304: an unchanged round
