"""Two checkouts of the project side by side on the yardstick's feeds: a new round, then a rebuild.

    python bench/ab_compare.py OLD NEW [--pairs 3] [--feeds /tmp/aggbench/feeds] [--n 200]
                               [--rounds new rebuild] [--tools ../shared/tools]

OLD and NEW are checkouts (``git worktree add /tmp/old <commit>`` makes one); each runs as
``python -m aggregator`` with the checkout first on ``PYTHONPATH``, with this interpreter (its
environment must hold the project's dependencies). The machine is noisy, so runs alternate
(old, new, old, new, ...) and the medians of ``--pairs`` pairs are compared.

- ``new``: ``aggregator poll`` of N loopback feeds on a fresh SQLite database, every entry new
  (the feed set ``vs_reader.py`` generates: 50 items a feed).
- ``rebuild``: ``aggregator dedup rebuild`` on a copy of the database the first new round of
  OLD made, so both rebuild the same entries; its stories and memberships are compared too.

For each: wall time; CPU of the whole machine while it ran (``/proc/stat``: the command, its
parser or worker processes, the feed server; keep the machine otherwise idle); CPU of the
command's own process (its worker processes not counted).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine_cpu() -> float:
    with open("/proc/stat") as fh:
        user, nice, system = (int(x) for x in fh.readline().split()[1:4])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(checkout: Path, work: Path, *args: str) -> tuple[float, float, float, str]:
    """(wall s, machine CPU s, own CPU s, last output line) of one command in ``work``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # each checkout keeps its compiled modules
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, wall = machine_cpu(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", "feeds.yaml", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    wall, cpu = time.perf_counter() - wall, machine_cpu() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode != 0:
        command = " ".join(args)
        sys.exit(f"{checkout}: aggregator {command} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, cpu, own, (done.stdout.strip().splitlines() or [""])[-1]


def stories(database: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as db:
        return sorted(
            db.execute(
                "select m.entry_id, s.key, m.match, s.representative_id from story_members m"
                " join stories s on s.id = m.story_id"
            )
        )


def show(pair: int, side: str, what: str, run: tuple[float, float, float], last: str) -> None:
    wall, cpu, own = run
    figures = f"{wall:.2f} s wall, {cpu:.2f} CPU s, {own:.2f} own"
    print(f"pair {pair} {side} {what}: {figures} ({last})", flush=True)


def report(name: str, runs: dict[str, list[tuple[float, float, float]]]) -> None:
    print(f"\n{name}: medians of {len(runs['old'])} alternating pairs")
    print("| checkout | wall s | machine CPU s | own process CPU s |")
    print("|---|---|---|---|")
    for side in ("old", "new"):
        wall, cpu, own = (statistics.median(r[k] for r in runs[side]) for k in range(3))
        print(f"| {side} | {wall:.2f} | {cpu:.2f} | {own:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--n", type=int, default=200, help="feeds in the new round")
    bench_dir = Path(os.environ.get("AGGBENCH_DIR", "/tmp/aggbench"))
    tools = Path(os.environ.get("AGGREGATOR_TOOLS", ROOT.parent / "shared/tools"))
    ap.add_argument("--feeds", type=Path, default=bench_dir / "feeds")
    ap.add_argument("--rounds", nargs="+", choices=["new", "rebuild"], default=["new", "rebuild"])
    ap.add_argument("--tools", type=Path, default=tools)
    args = ap.parse_args()
    if not (args.feeds / f"{args.n - 1}.xml").is_file():
        sys.exit(f"{args.feeds} lacks the feed set: run bench/vs_reader.py once (it generates it)")
    checkouts = {"old": args.old.resolve(), "new": args.new.resolve()}
    port = free_port()
    serve = [sys.executable, str(args.tools / "perf" / "feed_server.py"), "--dir", str(args.feeds)]
    server = subprocess.Popen(
        [*serve, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    scratch = Path(tempfile.mkdtemp(prefix="ab-compare-"))
    try:
        time.sleep(1.0)
        lines = ["database: sqlite:///agg.db", "polling:", "  concurrency: 16", "  per_host: 16", "feeds:"]
        for i in range(args.n):
            lines += [f"  - url: http://127.0.0.1:{port}/f/{i}.xml", f"    name: f{i}"]
        config = "\n".join(lines) + "\n"
        base = scratch / "base.db"
        new_runs: dict[str, list[tuple[float, float, float]]] = {"old": [], "new": []}
        rebuild_runs: dict[str, list[tuple[float, float, float]]] = {"old": [], "new": []}
        rebuilt: dict[str, list[tuple[object, ...]]] = {}
        for pair in range(args.pairs):
            for side, checkout in checkouts.items():
                work = scratch / f"{side}-{pair}"
                work.mkdir()
                (work / "feeds.yaml").write_text(config)
                if "new" in args.rounds or not base.exists():
                    wall, cpu, own, last = timed(checkout, work, "poll")
                    if "new" in args.rounds:
                        new_runs[side].append((wall, cpu, own))
                        show(pair, side, "new round", (wall, cpu, own), last)
                    if not base.exists():
                        shutil.copy(work / "agg.db", base)
                if "rebuild" in args.rounds:
                    shutil.copy(base, work / "agg.db")
                    wall, cpu, own, last = timed(checkout, work, "dedup", "rebuild")
                    rebuild_runs[side].append((wall, cpu, own))
                    rebuilt[side] = stories(work / "agg.db")
                    show(pair, side, "rebuild", (wall, cpu, own), last)
                shutil.rmtree(work)
        if "new" in args.rounds:
            report(f"new round, {args.n} feeds", new_runs)
        if "rebuild" in args.rounds:
            report("dedup rebuild", rebuild_runs)
            same = rebuilt["old"] == rebuilt["new"]
            print(f"rebuilt stories, memberships and representatives identical: {same}")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
