"""Bounded HTTP load against `aggregator serve`: requests/s, latency percentiles, status codes, bytes/s.

    aggregator serve --port 8099
    python bench/serve_load.py http://127.0.0.1:8099/feeds/all.atom --conditional [--gzip]
    python bench/serve_load.py URL [URL ...] [--concurrency 50] [--duration 10] [--requests N] [--warmup 1]

--concurrency client tasks share one keep-alive connection pool of that size and cycle through the
URLs until --duration seconds pass (or --requests requests are done, which replaces the time limit);
a --warmup phase runs first, uncounted. Each URL is probed once before that. --conditional sends
the probe's ETag / Last-Modified back, so a correct server answers 304. --gzip asks for gzip;
without it the client asks for identity (aiohttp would otherwise ask for gzip). Bytes are response
bodies as received on the wire (compressed if gzipped, headers excluded). The timed loop does not
decompress them, which would make the client the bottleneck; the probe checks one per URL.
Latency is per response, from sending the request to reading the body; every request times out
after 30 s. One Python process: if client_cpu_s is close to duration_s, the client is the
bottleneck; run several copies. A table goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from itertools import cycle
from typing import Any

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=30)
Target = tuple[str, dict[str, str]]  # a URL and the headers to send it


@dataclass
class Stats:
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    body_bytes: int = 0


@dataclass
class Budget:
    """When a phase stops: at a perf_counter deadline, or after a number of requests."""

    deadline: float | None
    left: int | None

    def take(self) -> bool:
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            return False
        if self.left is not None:
            if self.left <= 0:
                return False
            self.left -= 1
        return True


async def fetch(session: aiohttp.ClientSession, url: str, headers: dict[str, str], stats: Stats) -> None:
    start = time.perf_counter()
    try:
        async with session.get(url, headers=headers, timeout=TIMEOUT) as resp:
            body = await resp.read()
    except Exception as exc:
        stats.errors[type(exc).__name__] += 1
        return
    stats.latencies.append(time.perf_counter() - start)
    stats.statuses[resp.status] += 1
    stats.body_bytes += len(body)


async def worker(
    session: aiohttp.ClientSession, urls: list[Target], offset: int, budget: Budget, stats: Stats
) -> None:
    targets = cycle(urls[offset % len(urls) :] + urls[: offset % len(urls)])
    while budget.take():
        url, headers = next(targets)
        await fetch(session, url, headers, stats)


async def phase(
    session: aiohttp.ClientSession, urls: list[Target], concurrency: int, budget: Budget
) -> tuple[Stats, float]:
    stats = Stats()
    start = time.perf_counter()
    await asyncio.gather(*(worker(session, urls, i, budget, stats) for i in range(concurrency)))
    return stats, time.perf_counter() - start


async def probe(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> dict[str, str]:
    """One ordinary request per URL: checks a gzip body decompresses, returns the conditional headers."""
    async with session.get(url, headers=headers, timeout=TIMEOUT) as resp:
        body = await resp.read()
        found = {
            "If-None-Match": resp.headers.get("ETag"),
            "If-Modified-Since": resp.headers.get("Last-Modified"),
        }
    encoding = resp.headers.get("Content-Encoding", "identity")
    size = len(zlib.decompress(body, wbits=16 + zlib.MAX_WBITS)) if encoding == "gzip" else len(body)
    print(f"probe: {url} -> {resp.status}, {len(body)} bytes {encoding}, {size} decoded", file=sys.stderr)
    if not any(found.values()):
        print(f"warning: {url} answered {resp.status} with no ETag or Last-Modified", file=sys.stderr)
    return {name: value for name, value in found.items() if value}


async def run(args: argparse.Namespace) -> tuple[Stats, float, float]:
    base = {"Accept-Encoding": "gzip" if args.gzip else "identity"}
    connector = aiohttp.TCPConnector(limit=args.concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT, auto_decompress=False) as session:
        urls = [(url, dict(base)) for url in args.urls]
        for url, headers in urls:
            conditional = await probe(session, url, base)
            headers.update(conditional if args.conditional else {})
        if args.warmup > 0:
            await phase(session, urls, args.concurrency, Budget(time.perf_counter() + args.warmup, None))
        cpu = time.process_time()
        deadline = None if args.requests else time.perf_counter() + args.duration
        stats, elapsed = await phase(session, urls, args.concurrency, Budget(deadline, args.requests))
        return stats, elapsed, time.process_time() - cpu


def percentiles(seconds: list[float]) -> dict[str, float | None]:
    if not seconds:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ms = sorted(s * 1000 for s in seconds)
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {"p50": cuts[49], "p90": cuts[89], "p99": cuts[98], "max": ms[-1]}


def report(args: argparse.Namespace, stats: Stats, elapsed: float, cpu: float) -> dict[str, Any]:
    requests = stats.statuses.total() + stats.errors.total()
    latency = {k: None if v is None else round(v, 3) for k, v in percentiles(stats.latencies).items()}
    return {
        "urls": args.urls,
        "concurrency": args.concurrency,
        "duration_s": round(elapsed, 3),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 1) if elapsed else 0.0,
        "status_counts": {str(k): v for k, v in sorted(stats.statuses.items())},
        "errors": dict(stats.errors),
        "latency_ms": latency,
        "bytes_per_s": round(stats.body_bytes / elapsed) if elapsed else 0,
        "bytes_counted": "response bodies on the wire (gzip-compressed if gzipped), headers excluded",
        "client_cpu_s": round(cpu, 3),
        "flags": {
            "conditional": args.conditional,
            "gzip": args.gzip,
            "duration": None if args.requests else args.duration,
            "requests": args.requests,
            "warmup": args.warmup,
        },
    }


def table(result: dict[str, Any]) -> str:
    rows: list[tuple[str, Any]] = [(k, result[k]) for k in ("duration_s", "requests", "requests_per_s")]
    rows.append(("bytes_per_s", result["bytes_per_s"]))
    rows += [(f"latency {k} ms", v) for k, v in result["latency_ms"].items()]
    rows += [(f"status {k}", v) for k, v in result["status_counts"].items()]
    rows += [(f"error {k}", v) for k, v in result["errors"].items()]
    rows.append(("client_cpu_s", result["client_cpu_s"]))
    return "\n".join(f"  {name:<20} {value}" for name, value in rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Example: aggregator serve --port 8099, then "
        "python bench/serve_load.py http://127.0.0.1:8099/feeds/all.atom --conditional",
    )
    parser.add_argument("urls", nargs="+", metavar="URL", help="http(s) URLs, requested round-robin")
    parser.add_argument("--concurrency", type=int, default=50, help="client tasks and pooled connections")
    parser.add_argument("--duration", type=float, default=10.0, help="timed seconds (default 10)")
    parser.add_argument("--requests", type=int, help="stop after N timed requests instead of --duration")
    parser.add_argument("--conditional", action="store_true", help="send If-None-Match / If-Modified-Since")
    parser.add_argument("--gzip", action="store_true", help="send Accept-Encoding: gzip (else identity)")
    parser.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds first (default 1)")
    args = parser.parse_args(argv)
    bad_requests = args.requests is not None and args.requests < 1
    if bad_requests or args.concurrency < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--concurrency and --requests must be >= 1, --duration > 0, --warmup >= 0")
    if not all(url.startswith(("http://", "https://")) for url in args.urls):
        parser.error("every URL must start with http:// or https://")
    return args


def main() -> int:
    args = parse_args()
    try:
        stats, elapsed, cpu = asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130
    except (aiohttp.ClientError, TimeoutError, zlib.error) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    result = report(args, stats, elapsed, cpu)
    print(table(result), file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
