"""The performance yardstick, rerunnable: `aggregator poll` beside lemon24/reader, then where our
time goes.

1. Runs the shared side-by-side tool (``perf/vs_reader.sh``: both tools installed as users
   install them, the same loopback feeds, whole processes, start-up included) and prints its
   medians as a table against the targets (new round 4x reader's feeds/s, unchanged 5x).
2. With ``--stages``, polls the same feed sets once more with the aggregator the tool installed
   and ``-v``, and prints the stage times the poll logs (start-up, database, feeds.yaml sync,
   the round, loading the dedup index): a new round over the N big feeds, then a round of M
   304s after an untimed first round.

    python bench/vs_reader.py [--n 200] [--m 1000] [--runs 3] [--stages] [--tools DIR]

The tool lives outside the repository (``../shared/tools`` by default, or ``--tools`` /
``$AGGREGATOR_TOOLS``); its work folder is ``${AGGBENCH_DIR:-/tmp/aggbench}``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"new": 4.0, "unchanged": 5.0}  # the aggregator's feeds/s over reader's, by wall clock
STAGE = re.compile(r"INFO aggregator\.(?:poll|cluster): (.+)$")


def run_tool(tools: Path, n: int, m: int, runs: int) -> dict[str, float]:
    cmd = ["bash", str(tools / "perf" / "vs_reader.sh"), str(ROOT), "--n", str(n), "--m", str(m)]
    cmd += ["--runs", str(runs)]
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        if "is ignored: it is neither a file nor a directory" in line:
            continue  # pip's notes about absent local indexes
        print(line, end="", flush=True)
        if line.strip():
            last = line
    if proc.wait() != 0:
        sys.exit(f"the tool failed (exit {proc.returncode})")
    figures: dict[str, float] = json.loads(last)
    return figures


def table(f: dict[str, float]) -> str:
    rows = [
        "| round | reader feeds/s | aggregator feeds/s | ratio (wall) | target | CPU ms/feed reader / ours |",
        "|---|---|---|---|---|---|",
    ]
    for key in ("new", "unchanged"):
        ratio = f[f"ratio_{key}_wall"]
        met = "met" if ratio >= TARGETS[key] else "not met"
        rows.append(
            f"| {key} | {f[f'reader_{key}_feeds_per_s']:.1f} | {f[f'aggregator_{key}_feeds_per_s']:.1f} "
            f"| {ratio:.2f}x | {TARGETS[key]:.0f}x ({met}) "
            f"| {f[f'reader_{key}_cpu_ms_per_feed']:.1f} / {f[f'aggregator_{key}_cpu_ms_per_feed']:.1f} |"
        )
    return "\n".join(rows)


def stages(tools: Path, n: int, m: int) -> None:
    """Stage times of our poll on the tool's feed sets (its installed aggregator, its server)."""
    work = Path(os.environ.get("AGGBENCH_DIR", "/tmp/aggbench"))
    exe = work / "aggregator-venv" / "bin" / "aggregator"
    sys.path.insert(0, str(tools / "perf"))
    import common  # the tool's loopback feed server

    for label, feed_dir, count, timed_round in (
        (f"new round, {n} feeds x 50 items", work / "feeds", n, 1),
        (f"unchanged round, {m} feeds answering 304", work / "feeds-1item", m, 2),
    ):
        folder = Path(tempfile.mkdtemp(prefix="aggstages-"))
        try:
            with common.FeedServer(feed_dir=feed_dir, max_seconds=3600) as srv:
                srv.warm(count)
                lines = ["database: sqlite:///agg.db", "polling:", "  concurrency: 16", "  per_host: 16"]
                lines += ["feeds:"] + [f"  - url: {srv.base}/f/{i}.xml" for i in range(count)]
                (folder / "feeds.yaml").write_text("\n".join(lines) + "\n")
                for _ in range(timed_round):
                    out = subprocess.run(
                        [str(exe), "-v", "--config", str(folder / "feeds.yaml"), "poll"],
                        capture_output=True,
                        text=True,
                        cwd=folder,
                        check=True,
                    )
            print(f"\n{label}:")
            for line in out.stderr.splitlines():
                if m_ := STAGE.search(line):
                    print("  " + m_.group(1))
            print("  " + out.stdout.strip().splitlines()[-1])
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="feeds of 50 items in the new round")
    ap.add_argument("--m", type=int, default=1000, help="feeds of 1 item in the unchanged round")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--stages", action="store_true", help="then print our poll's stage times")
    ap.add_argument(
        "--tools",
        type=Path,
        default=Path(os.environ.get("AGGREGATOR_TOOLS", ROOT.parent / "shared" / "tools")),
        help="the shared tools folder (holding perf/vs_reader.sh)",
    )
    a = ap.parse_args()
    if not (a.tools / "perf" / "vs_reader.sh").is_file():
        sys.exit(f"{a.tools}/perf/vs_reader.sh not found: pass --tools DIR (or set AGGREGATOR_TOOLS)")
    figures = run_tool(a.tools, a.n, a.m, a.runs)
    print("\n" + table(figures))
    if figures.get("problems"):
        print("problems:", figures["problems"])
    if a.stages:
        stages(a.tools, a.n, a.m)


if __name__ == "__main__":
    main()
