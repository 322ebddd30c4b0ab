"""Kill the poller with SIGKILL mid-round, many times; check the database after each.

    python bench/kill_loop.py [--kills 100] [--feeds 6] [--items 250]

Serves synthetic feeds on 127.0.0.1 that gain 50 new entries before every round (older ones
scroll out), starts `aggregator poll` again and again and kills it once a random number of
feeds (at least one, never all) have committed, so every kill lands mid-round, with other feeds
being fetched, parsed or written. After every kill: SQLite integrity check, every entry in
exactly one story, no entry stored twice, no committed entry missing. Finally one round runs to
completion. Prints the figures as JSON (integrity failures must be 0).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.httpserver import LocalServer  # noqa: E402
from tests.synthetic import feed_bytes, poll_killed_after  # noqa: E402
from tests.test_faults import check  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--feeds", type=int, default=6)
    ap.add_argument("--items", type=int, default=250)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    server = LocalServer().start()
    tmp = Path(tempfile.mkdtemp(prefix="kill-loop."))
    lines = [f"database: sqlite:///{tmp / 'agg.db'}", "feeds:"]
    for n in range(args.feeds):
        lines.append(f"  - url: {server.serve_bytes(f'/f{n}.rss', feed_bytes(n, args.items))}")
    config = tmp / "feeds.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    kills = completed = failures = lost = 0
    committed = 0
    for i in range(args.kills):
        for n in range(args.feeds):  # the feeds move on: 50 new entries, the oldest scroll out
            server.serve_bytes(f"/f{n}.rss", feed_bytes(n, args.items, start=50 * i))
        killed, _ = poll_killed_after(config, rng.randint(1, max(1, args.feeds - 2)), cwd=ROOT)
        kills += killed
        completed += not killed
        if not (tmp / "agg.db").exists():
            continue
        n, found = check(tmp / "agg.db")
        failures += bool(found)
        lost += n < committed
        committed = max(committed, n)
        if found:
            print(f"kill {i}: {found}", file=sys.stderr)
    final = subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(config), "poll"], capture_output=True, cwd=ROOT
    )
    n, found = check(tmp / "agg.db")
    server.stop()
    print(
        json.dumps(
            {
                "attempts": args.kills,
                "killed_mid_round": kills,
                "rounds_completed": completed,
                "integrity_failures": failures,
                "checks_with_lost_entries": lost,
                "final_round_rc": final.returncode,
                "final_problems": found,
                "entries": n,
                "db": str(tmp),
            }
        )
    )


if __name__ == "__main__":
    main()
