"""Kill the poller with SIGKILL at random moments, many times; check the database after each.

    python bench/kill_loop.py [--kills 100] [--feeds 6] [--items 250]

Serves synthetic feeds on 127.0.0.1, starts `aggregator poll` again and again and kills it after
a random delay. After every kill: SQLite integrity check, every entry in exactly one story, no
entry stored twice, no committed entry missing. Finally one round runs to completion. Prints the
figures as JSON (integrity failures must be 0).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.httpserver import LocalServer  # noqa: E402
from tests.synthetic import feed_bytes  # noqa: E402
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
        # every few kills the feeds gain entries, so rounds keep having work to do
        lines.append(f"  - url: {server.serve_bytes(f'/f{n}.rss', feed_bytes(n, args.items))}")
    config = tmp / "feeds.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    kills = completed = failures = lost = 0
    committed = 0
    for i in range(args.kills):
        if i % 10 == 0:
            for n in range(args.feeds):
                server.serve_bytes(f"/f{n}.rss", feed_bytes(n, args.items, seed=i // 10))
        proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "--config", str(config), "poll"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        time.sleep(rng.uniform(0.3, 4.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        else:
            completed += 1
        proc.wait()
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
