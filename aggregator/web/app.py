"""The aiohttp application: combined feeds, the HTML pages, /healthz and /metrics.

Feed documents come from memory (``cache.Held``): rendered once per change, gzipped once, with
a strong ETag and Last-Modified; a matching conditional request gets 304, and Cache-Control
tells readers when to come back. Pages are cached the same way, per address. A background task
reads the stories' change counter once a second; while the database is down it fails, the
pages and documents held are served as they are, and /healthz says 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from aiohttp import web

from aggregator.config import Settings
from aggregator.metrics import Metrics
from aggregator.publish import CONTENT_TYPES, render
from aggregator.publish.select import Query, output_meta, output_named, select_stories
from aggregator.store import Database
from aggregator.store import feeds as feed_repo
from aggregator.store import stories as story_repo
from aggregator.store.db import counter
from aggregator.store.stories import Order
from aggregator.web import pages
from aggregator.web.cache import PAGES_KEPT, Document, Held

log = logging.getLogger("aggregator.web")
SITE: web.AppKey[Site] = web.AppKey("site")
HTML = "text/html; charset=utf-8"
PAGE_SIZE = 30
REFRESH_SECONDS = 1.0
# Where the daemon's own health comes from: seconds since the last successful feed run, and
# whether its scheduler runs. ``serve`` alone has no scheduler and reports only the database.
Health = Callable[[], dict[str, Any]]


@dataclass
class Site:
    settings: Callable[[], Settings]
    database: Database
    metrics: Metrics
    health: Health
    version: int = -1  # the stories' change counter, as last read
    database_ok: bool = True
    checked: float = 0.0
    documents: Held = field(default_factory=Held)
    pages: Held = field(default_factory=lambda: Held(PAGES_KEPT))

    def refresh(self) -> None:
        """Read the change counter (on a thread: it is a query)."""
        try:
            with self.database.reading() as tx:
                self.version = counter(tx, "changes")
            self.database_ok = True
        except Exception:  # any failure: keep serving what is held
            self.database_ok = False
        self.checked = time.monotonic()

    def key(self, *parts: object) -> tuple[object, ...]:
        return (id(self.settings()), *parts)  # a reloaded configuration renders anew


async def _refresher(app: web.Application) -> AsyncIterator[None]:
    site = app[SITE]
    loop = asyncio.get_running_loop()

    async def loop_forever() -> None:
        while True:
            await loop.run_in_executor(None, site.refresh)
            await asyncio.sleep(REFRESH_SECONDS)

    await loop.run_in_executor(None, site.refresh)
    task = asyncio.create_task(loop_forever())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# --------------------------------------------------------------------------- feeds
def _not_modified(request: web.Request, doc: Document) -> bool:
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or doc.etag in tags
    ims = request.headers.get("If-Modified-Since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        return since is not None and doc.modified.replace(microsecond=0) <= since
    return False


@functools.lru_cache(maxsize=4)
def _cache_seconds(settings: Settings) -> int:
    """How long readers may keep a document: the shortest polling interval, within [30 s, 1 h]
    (worked out once per configuration, not once per request)."""
    intervals = [f.interval for f in settings.feeds if f.interval] + [settings.polling.interval]
    return max(30, min(int(min(intervals).total_seconds()), 3600))


def _render_feed(site: Site, name: str, fmt: str) -> Document:
    settings = site.settings()
    output = output_named(settings, name)
    assert output is not None
    with site.database.reading() as tx:
        stories = select_stories(tx, settings, output, Query(limit=output.limit))
    meta = output_meta(settings, output, stories, fmt)
    return Document.of(render(fmt, meta, stories), meta.updated, CONTENT_TYPES[fmt])


async def feed_handler(request: web.Request) -> web.StreamResponse:
    site: Site = request.app[SITE]
    name, ext = request.match_info["name"], request.match_info["ext"]
    if ext not in CONTENT_TYPES:
        raise web.HTTPNotFound(text="use .atom, .rss or .json")
    if output_named(site.settings(), name) is None:
        names = ", ".join(o.name for o in site.settings().outputs)
        raise web.HTTPNotFound(text=f"no output named {name!r}; outputs: {names}")
    doc = await _held(site, site.documents, site.key(name, ext), lambda: _render_feed(site, name, ext))
    assert isinstance(doc, Document)
    headers = {
        "ETag": doc.etag,
        "Last-Modified": doc.last_modified,
        "Cache-Control": f"public, max-age={_cache_seconds(site.settings())}",
        "Vary": "Accept-Encoding",
    }
    if _not_modified(request, doc):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = doc.content_type
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=doc.gzipped, headers=headers)
    return web.Response(body=doc.body, headers=headers)


async def _held(site: Site, held: Held, key: Any, render: Callable[[], object]) -> object:
    try:
        return await held.get(key, site.version, render)
    except Exception as exc:
        log.warning("cannot render %s: %s", key[1:], exc)
        raise web.HTTPServiceUnavailable(
            text="the database is unavailable and this page is not held in memory; try again shortly",
            headers={"Retry-After": "10"},
        ) from exc


# --------------------------------------------------------------------------- pages
def _outputs(site: Site) -> list[str]:
    return [o.name for o in site.settings().outputs]


def _page_number(request: web.Request) -> int:
    try:
        return max(1, min(int(request.query.get("page", "1")), 10_000))
    except ValueError:
        return 1


async def index_handler(request: web.Request) -> web.Response:
    site: Site = request.app[SITE]
    settings = site.settings()
    name = request.query.get("output", settings.outputs[0].name)
    output = output_named(settings, name)
    if output is None:
        return _not_found(site, f"There is no output named “{name}”.")
    number = _page_number(request)
    order: Order = "covered" if request.query.get("sort") == "covered" else "newest"
    search = (request.query.get("q") or "").strip()[:200] or None

    def build() -> bytes:
        query = Query(
            limit=PAGE_SIZE + 1,
            offset=(number - 1) * PAGE_SIZE,
            order=order,
            search=search,
            since=settings.dedup.window * 2 if order == "covered" else None,
        )
        with site.database.reading() as tx:
            stories = select_stories(tx, settings, output, query)
            health = feed_repo.health(tx)
        view = pages.HomeView(
            output=output.name,
            title=output.title,
            outputs=_outputs(site),
            stories=stories[:PAGE_SIZE],
            page=number,
            has_next=len(stories) > PAGE_SIZE,
            order=order,
            search=search,
            feeds=pages.FeedHealth(*health),
        )
        return pages.home(view)

    body = await _held(site, site.pages, site.key("/", name, number, order, search), build)
    assert isinstance(body, bytes)
    return web.Response(body=body, content_type="text/html", charset="utf-8")


async def story_handler(request: web.Request) -> web.Response:
    site: Site = request.app[SITE]
    try:
        story_id = int(request.match_info["id"])
    except ValueError:
        return _not_found(site, "Story addresses end in a number.")

    def build() -> bytes | None:
        from aggregator.cluster.explain import relations
        from aggregator.wiring import dedup_settings

        with site.database.reading() as tx:
            views = story_repo.story_views(tx, [story_id])
            if not views:
                return None
            members = story_repo.members_of(tx, story_id)
            view = views[0]
            ids = [m.entry_id for m in view.members]
            original = next((m.entry_id for m in view.members if m.is_representative), ids[0])
            related = relations(tx, dedup_settings(site.settings()), original, ids)
        return pages.story(view, {m.entry_id: m for m in members}, related, _outputs(site))

    body = await _held(site, site.pages, site.key("story", story_id), build)
    if body is None:
        return _not_found(site, f"There is no story {story_id}: it may have expired, or the link is wrong.")
    assert isinstance(body, bytes)
    return web.Response(body=body, content_type="text/html", charset="utf-8")


async def feeds_handler(request: web.Request) -> web.Response:
    site: Site = request.app[SITE]

    def build() -> bytes:
        with site.database.reading() as tx:
            rows = feed_repo.feed_summaries(tx)
        return pages.feeds(rows, _outputs(site))

    # Feed health changes with every run (no story need change): held for a few seconds only.
    body = await _held(site, site.pages, site.key("feeds", int(time.monotonic() // 5)), build)
    assert isinstance(body, bytes)
    return web.Response(body=body, content_type="text/html", charset="utf-8")


def _not_found(site: Site, message: str) -> web.Response:
    return web.Response(status=404, body=pages.not_found(message, _outputs(site)), content_type="text/html")


async def health_handler(request: web.Request) -> web.Response:
    site: Site = request.app[SITE]
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    ok = await loop.run_in_executor(None, site.database.ping)
    report = {"database": ok, "database_ms": round((time.monotonic() - started) * 1000, 1)}
    report.update(site.health())
    healthy = ok and report.get("scheduler", True)
    return web.json_response(report, status=200 if healthy else 503)


async def metrics_handler(request: web.Request) -> web.Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    site: Site = request.app[SITE]
    return web.Response(
        body=generate_latest(site.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


@web.middleware
async def not_found_pages(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Unknown addresses get a page that helps, not a bare "404: Not Found" (feed documents
    keep their plain-text answers: feed readers read them, not people)."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if request.path.startswith("/feeds/"):
            raise
        return _not_found(request.app[SITE], f"Nothing lives at {request.path}.")


def build_app(site: Site) -> web.Application:
    app = web.Application(middlewares=[not_found_pages])
    app[SITE] = site
    app.cleanup_ctx.append(_refresher)
    app.router.add_get("/", index_handler)
    app.router.add_get("/feeds", feeds_handler)
    app.router.add_get("/feeds/{name}.{ext}", feed_handler)
    app.router.add_get("/story/{id}", story_handler)
    app.router.add_get("/healthz", health_handler)
    app.router.add_get("/metrics", metrics_handler)
    return app
