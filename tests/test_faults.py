"""Faults: the poller killed with SIGKILL mid-round, and a database that is locked for a while."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from aggregator.commands import app
from aggregator.store import Database
from aggregator.store.integrity import problems
from tests.httpserver import LocalServer
from tests.synthetic import feed_bytes, poll_killed_after

FEEDS, ITEMS = 6, 250


def setup_feeds(server: LocalServer, tmp: Path) -> Path:
    lines = [f"database: sqlite:///{tmp / 'agg.db'}", "feeds:"]
    for n in range(FEEDS):
        lines.append(f"  - url: {server.serve_bytes(f'/f{n}.rss', feed_bytes(n, ITEMS))}")
    config = tmp / "feeds.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def has_schema(db_path: Path) -> bool:
    if not db_path.exists():
        return False
    con = sqlite3.connect(db_path)
    try:
        return con.execute("SELECT 1 FROM sqlite_master WHERE name = 'entries'").fetchone() is not None
    finally:
        con.close()


def check(db_path: Path) -> tuple[int, list[str]]:
    database = Database(f"sqlite:///{db_path}")
    try:
        with database.reading() as tx:
            found = problems(tx)
            n = tx.exec_driver_sql("SELECT count(*) FROM entries").scalar_one()
    finally:
        database.close()
    return int(n), found


def test_sigkill_during_rounds_leaves_a_consistent_database(server: LocalServer, tmp_path: Path) -> None:
    """Polls killed after a few feeds committed, while the feeds keep gaining entries: every
    check finds a consistent database that lost nothing it had committed."""
    config = setup_feeds(server, tmp_path)
    rng = random.Random(42)
    committed = kills = 0
    for round_no in range(4):
        for n in range(FEEDS):  # each round, the feeds have moved on by 50 entries
            server.serve_bytes(f"/f{n}.rss", feed_bytes(n, ITEMS, start=50 * round_no))
        killed, _ = poll_killed_after(config, rng.randint(1, FEEDS - 2))
        kills += killed
        if not has_schema(tmp_path / "agg.db"):  # killed before its first migration committed
            continue
        n, found = check(tmp_path / "agg.db")
        assert found == [], found
        assert n >= committed  # nothing that was committed went missing
        committed = n
    result = CliRunner().invoke(app, ["--config", str(config), "poll"])
    assert result.exit_code == 0, result.output
    n, found = check(tmp_path / "agg.db")
    assert found == [] and n >= FEEDS * ITEMS
    assert kills >= 3


def test_locked_database_is_waited_out_without_loss(server: LocalServer, tmp_path: Path) -> None:
    config = setup_feeds(server, tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["--config", str(config), "db", "upgrade"]).exit_code == 0
    locker = sqlite3.connect(tmp_path / "agg.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(config), "poll"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(2.0)
    assert proc.poll() is None  # waiting for the lock, not failing
    locker.execute("ROLLBACK")
    locker.close()
    _, errs = proc.communicate(timeout=120)
    assert proc.returncode == 0, errs.decode()
    n, found = check(tmp_path / "agg.db")
    assert found == [] and n == FEEDS * ITEMS


def test_db_check_reports_inconsistencies(server: LocalServer, tmp_path: Path) -> None:
    config = setup_feeds(server, tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["--config", str(config), "poll"]).exit_code == 0
    assert runner.invoke(app, ["--config", str(config), "db", "check"]).exit_code == 0
    con = sqlite3.connect(tmp_path / "agg.db")
    con.execute("DELETE FROM story_members WHERE entry_id IN (SELECT entry_id FROM story_members LIMIT 2)")
    con.commit()
    con.close()
    result = runner.invoke(app, ["--config", str(config), "db", "check"])
    assert result.exit_code == 4
    assert "2 entries belong to no story" in result.output
