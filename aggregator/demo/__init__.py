"""``aggregator demo``: sample feeds served on loopback by the process itself.

The sample (``sample.json``, built by ``bench/build_demo.py`` from the development corpus's
Indonesian entries, CC BY-SA 4.0) holds a handful of news feeds in RSS 2.0, Atom and JSON Feed
whose stories are copied across them: syndicated, edited, excerpted, synonym-swapped. Entries
appear in three waves a minute apart, so a running demo shows copies joining their stories.
Dates are ages: they are made current when the demo starts, so nothing is too old to keep.

The feeds are real HTTP on 127.0.0.1 (a standard-library server in a thread) with ETags and
``304 Not Modified``, so the demo runs the same fetch path as any other feed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from aggregator.clock import utcnow

_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml", "json": "application/feed+json"}


@dataclass(frozen=True, slots=True)
class SampleSource:
    name: str
    title: str
    site_url: str
    format: str  # rss | atom | json


@dataclass(frozen=True, slots=True)
class SampleEntry:
    source: str
    guid: str
    url: str
    title: str
    content_html: str
    summary_html: str
    wave: int
    age_minutes: int


@dataclass(frozen=True, slots=True)
class Sample:
    credit: str
    wave_seconds: int
    sources: tuple[SampleSource, ...]
    entries: tuple[SampleEntry, ...]

    @property
    def waves(self) -> int:
        return max((e.wave for e in self.entries), default=1)


def load_sample() -> Sample:
    raw = json.loads(resources.files(__package__).joinpath("sample.json").read_text(encoding="utf-8"))
    return Sample(
        credit=raw["credit"],
        wave_seconds=int(raw["wave_seconds"]),
        sources=tuple(
            SampleSource(name=s["name"], title=s["title"], site_url=s["site_url"], format=s["format"])
            for s in raw["sources"]
        ),
        entries=tuple(
            SampleEntry(**{k: e[k] for k in SampleEntry.__dataclass_fields__}) for e in raw["entries"]
        ),
    )


def render(source: SampleSource, entries: Sequence[SampleEntry], released: Mapping[int, datetime]) -> bytes:
    """One source's feed document holding ``entries``, newest first; ``released``: when each
    wave came out (an entry's date is its wave's release minus its age)."""
    dated = sorted(
        ((released[e.wave] - timedelta(minutes=e.age_minutes), e) for e in entries),
        key=lambda pair: (pair[0], pair[1].url),
        reverse=True,
    )
    if source.format == "json":
        return _json_feed(source, dated)
    return _xml_feed(source, dated)


def _json_feed(source: SampleSource, dated: Sequence[tuple[datetime, SampleEntry]]) -> bytes:
    items = []
    for when, e in dated:
        item: dict[str, Any] = {"id": e.guid, "url": e.url, "title": e.title}
        item["date_published"] = when.isoformat()
        if e.content_html:
            item["content_html"] = e.content_html
        if e.summary_html:
            item["summary"] = e.summary_html
        if not e.content_html:  # an excerpt-only feed: the summary is all there is
            item["content_text"] = e.summary_html
        items.append(item)
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": source.title,
        "home_page_url": source.site_url,
        "language": "id",
        "items": items,
    }
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


def _xml_feed(source: SampleSource, dated: Sequence[tuple[datetime, SampleEntry]]) -> bytes:
    from feedgen.feed import FeedGenerator

    fg = FeedGenerator()
    fg.id(source.site_url)
    fg.title(source.title)
    fg.link(href=source.site_url, rel="alternate")
    fg.description(f"{source.title} (aggregator demo sample)")
    fg.language("id")
    if dated:
        fg.updated(dated[0][0])
        fg.lastBuildDate(dated[0][0])
    for when, e in dated:
        fe = fg.add_entry(order="append")
        fe.id(e.guid)
        fe.guid(e.guid, permalink=e.guid == e.url)
        fe.title(e.title)
        fe.link(href=e.url)
        fe.published(when)
        fe.updated(when)
        if e.content_html:
            fe.content(e.content_html, type="CDATA" if source.format == "rss" else "html")
        if e.summary_html and source.format == "rss":
            fe.description(e.summary_html)
        elif e.summary_html:
            fe.summary(e.summary_html)
    return bytes(fg.rss_str(pretty=True) if source.format == "rss" else fg.atom_str(pretty=True))


class SampleServer:
    """The sample feeds over HTTP on 127.0.0.1, wave by wave as time passes."""

    def __init__(self, sample: Sample, start: datetime | None = None) -> None:
        self.sample = sample
        self.start = start or utcnow()
        self._documents: dict[tuple[str, int], tuple[bytes, str]] = {}
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="demo-feeds", daemon=True)

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    def url(self, source: SampleSource) -> str:
        return f"http://127.0.0.1:{self.port}/{source.name}.{source.format}"

    def wave(self, now: datetime | None = None) -> int:
        elapsed = ((now or utcnow()) - self.start).total_seconds()
        return min(self.sample.waves, 1 + int(elapsed // self.sample.wave_seconds))

    def released(self) -> dict[int, datetime]:
        step = timedelta(seconds=self.sample.wave_seconds)
        return {w: self.start + (w - 1) * step for w in range(1, self.sample.waves + 1)}

    def document(self, name: str, wave: int) -> tuple[bytes, str] | None:
        """The feed named ``name`` as of ``wave`` and its ETag (None: no such feed)."""
        source = next((s for s in self.sample.sources if s.name == name), None)
        if source is None:
            return None
        with self._lock:
            if (name, wave) not in self._documents:
                entries = [e for e in self.sample.entries if e.source == name and e.wave <= wave]
                body = render(source, entries, self.released())
                etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
                self._documents[(name, wave)] = (body, etag)
            return self._documents[(name, wave)]

    def __enter__(self) -> SampleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()


def _handler(server: SampleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name, _, ext = self.path.lstrip("/").partition(".")
            source = next((s for s in server.sample.sources if s.name == name and s.format == ext), None)
            found = server.document(name, server.wave()) if source is not None else None
            if source is None or found is None:
                self.send_error(404, "no such sample feed")
                return
            body, etag = found
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", f"{_TYPES[source.format]}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", format_datetime(server.start, usegmt=True))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the poller reports each feed's result itself."""

    return Handler


def write_config(folder: Path, server: SampleServer, host: str, port: int) -> Path:
    """A feeds.yaml in ``folder`` for the sample feeds, its database beside it."""
    lines = [
        "# Written by `aggregator demo`; removed when the demo stops.",
        f"database: sqlite:///{folder / 'demo.db'}",
        "polling:",
        "  interval: 30s  # the sample feeds change every minute while the demo runs",
        "  min_interval: 15s",
        "  max_interval: 1m",
        "server:",
        f"  host: {json.dumps(host)}",
        f"  port: {port}",
        "feeds:",
    ]
    for source in server.sample.sources:
        lines += [f"  - url: {server.url(source)}", f"    name: {source.name}"]
        lines += [f"    title: {json.dumps(source.title)}"]
    lines += [
        "outputs:",
        "  - name: all",
        "    title: Demo — all stories, deduplicated",
        "    limit: 100",
    ]
    path = folder / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
