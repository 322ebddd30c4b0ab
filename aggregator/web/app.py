"""The aiohttp application: combined feeds, the HTML overview, /healthz and /metrics.

Feeds are rendered from the database on demand and cached until a story changes; each answer
carries a strong ETag and Last-Modified, a matching conditional request gets 304, gzip is used
when the client asks for it, and Cache-Control tells readers when to come back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text as sql_text

from aggregator.app import Database, output_stories
from aggregator.config import Settings
from aggregator.metrics import Metrics
from aggregator.publish import CONTENT_TYPES, render
from aggregator.store import feeds as feed_repo
from aggregator.store import stories as story_repo
from aggregator.web import pages

FORMATS = {"atom": "atom", "rss": "rss", "json": "json"}
HTML = "text/html; charset=utf-8"
# Where the daemon's own health comes from: seconds since the last successful feed run, and
# whether its scheduler runs. ``serve`` alone has no scheduler and reports only the database.
Health = Callable[[], dict[str, Any]]


@dataclass
class Rendered:
    key: tuple[Any, ...]
    body: bytes
    etag: str
    modified: datetime


@dataclass
class WebState:
    settings: Callable[[], Settings]
    database: Database
    metrics: Metrics
    health: Health
    cache: dict[tuple[str, str], Rendered] = field(default_factory=dict)


def _not_modified(request: web.Request, etag: str, modified: datetime) -> bool:
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag in tags
    ims = request.headers.get("If-Modified-Since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        return since is not None and modified.replace(microsecond=0) <= since
    return False


def _cache_seconds(settings: Settings) -> int:
    intervals = [f.interval for f in settings.feeds if f.interval] + [settings.polling.interval]
    return max(30, min(int(min(intervals).total_seconds()), 3600))


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _render_feed(state: WebState, name: str, fmt: str) -> Rendered | None:
    settings = state.settings()
    output = next((o for o in settings.outputs if o.name == name), None)
    if output is None:
        return None
    with state.database.readers() as session:
        key = (story_repo.version(session), output)
    cached = state.cache.get((name, fmt))
    if cached is not None and cached.key == key:
        return cached
    meta, stories = output_stories(settings, state.database, output, output.limit)
    base = settings.server.base_url
    if base:
        meta = dataclasses.replace(meta, self_url=f"{base.rstrip('/')}/feeds/{name}.{fmt}")
    body = render(fmt, meta, stories)
    rendered = Rendered(key, body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', meta.updated)
    state.cache[(name, fmt)] = rendered
    return rendered


async def feed_handler(request: web.Request) -> web.StreamResponse:
    state: WebState = request.app["state"]
    name, ext = request.match_info["name"], request.match_info["ext"]
    if ext not in FORMATS:
        raise web.HTTPNotFound(text="use .atom, .rss or .json")
    rendered = await _in_thread(_render_feed, state, name, ext)
    if rendered is None:
        names = ", ".join(o.name for o in state.settings().outputs)
        raise web.HTTPNotFound(text=f"no output named {name!r}; outputs: {names}")
    headers = {
        "ETag": rendered.etag,
        "Last-Modified": format_datetime(rendered.modified.astimezone(UTC), usegmt=True),
        "Cache-Control": f"public, max-age={_cache_seconds(state.settings())}",
        "Vary": "Accept-Encoding",
    }
    if _not_modified(request, rendered.etag, rendered.modified):
        return web.Response(status=304, headers=headers)
    resp = web.Response(body=rendered.body, headers={**headers, "Content-Type": CONTENT_TYPES[ext]})
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        resp.enable_compression()
    return resp


def _outputs(state: WebState) -> list[str]:
    return [o.name for o in state.settings().outputs]


async def index_handler(request: web.Request) -> web.Response:
    state: WebState = request.app["state"]
    settings = state.settings()
    name = request.query.get("output", settings.outputs[0].name)
    output = next((o for o in settings.outputs if o.name == name), None)
    if output is None:
        raise web.HTTPNotFound(text=f"no output named {name!r}")
    _, stories = await _in_thread(output_stories, settings, state.database, output, output.limit)
    body = pages.stories_page(output.title, stories, _outputs(state))
    return web.Response(body=body, content_type="text/html", charset="utf-8")


async def story_handler(request: web.Request) -> web.Response:
    state: WebState = request.app["state"]
    try:
        story_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None

    def load() -> tuple[Any, dict[int, str]]:
        with state.database.readers() as session:
            views = story_repo.story_views(session, [story_id])
            details = {
                m.entry_id: ", ".join(f"{k} {v:.2f}" for k, v in sorted(json.loads(m.detail).items()))
                for m in story_repo.members_of(session, story_id)
                if m.detail
            }
        return (views[0] if views else None), details

    view, details = await _in_thread(load)
    if view is None:
        raise web.HTTPNotFound(text="no such story")
    return web.Response(body=pages.story_page(view, details, _outputs(state)), content_type="text/html")


async def feeds_handler(request: web.Request) -> web.Response:
    state: WebState = request.app["state"]

    def load() -> Any:
        with state.database.readers() as session:
            return feed_repo.feed_summaries(session)

    rows = await _in_thread(load)
    return web.Response(body=pages.feeds_page(rows, _outputs(state)), content_type="text/html")


async def health_handler(request: web.Request) -> web.Response:
    state: WebState = request.app["state"]

    def ping() -> bool:
        try:
            with state.database.engine.connect() as conn:
                conn.execute(sql_text("SELECT 1"))
            return True
        except Exception:  # any database failure means "not healthy"
            return False

    started = time.monotonic()
    db_ok = await _in_thread(ping)
    report = {"database": db_ok, "database_ms": round((time.monotonic() - started) * 1000, 1)}
    report.update(state.health())
    healthy = db_ok and report.get("scheduler", True)
    return web.json_response(report, status=200 if healthy else 503)


async def metrics_handler(request: web.Request) -> web.Response:
    state: WebState = request.app["state"]
    body = generate_latest(state.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(state: WebState) -> web.Application:
    app = web.Application()
    app["state"] = state
    app.router.add_get("/", index_handler)
    app.router.add_get("/feeds", feeds_handler)
    app.router.add_get("/feeds/{name}.{ext}", feed_handler)
    app.router.add_get("/story/{id}", story_handler)
    app.router.add_get("/healthz", health_handler)
    app.router.add_get("/metrics", metrics_handler)
    return app
