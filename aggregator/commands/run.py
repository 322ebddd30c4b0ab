"""``aggregator run`` (poll on schedule and serve) and ``aggregator serve`` (serve only)."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from aggregator.commands.base import app, state, user_errors

Host = Annotated[str | None, typer.Option("--host", help="Address to listen on (default: server.host).")]
Port = Annotated[int | None, typer.Option("--port", help="Port to listen on (default: server.port, 8080).")]
LogFormat = Annotated[
    str, typer.Option("--log-format", help="text (default) or json: one JSON object per line.")
]


def _start(poll: bool, serve: bool, host: str | None, port: int | None, log_format: str) -> None:
    from aggregator.config import resolve_config_path
    from aggregator.daemon import Roles, run_service
    from aggregator.logs import setup as setup_logging

    if log_format not in ("text", "json"):
        raise typer.BadParameter("use text or json", param_hint="--log-format")
    setup_logging(log_format, logging.DEBUG if state.verbose > 1 else logging.INFO)
    with user_errors():
        code = run_service(
            resolve_config_path(state.config, os.environ), os.environ, Roles(poll, serve, host, port)
        )
    raise typer.Exit(code)


@app.command()
def run(
    host: Host = None,
    port: Port = None,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Poll only (a worker); do not start the web server.")
    ] = False,
    log_format: LogFormat = "text",
) -> None:
    """Run the service: poll feeds on their schedule and serve the combined feeds.

    Readers subscribe to http://HOST:PORT/feeds/all.atom (or .rss, .json; one per output).
    feeds.yaml is re-read on SIGHUP and when the file changes; SIGTERM or Ctrl-C stops cleanly.
    Several `run` processes may share one PostgreSQL database: each feed is fetched by one of
    them at a time, and they form one set of stories.

    Examples:

      aggregator run

      aggregator run --host 0.0.0.0 --port 8080 --log-format json

      aggregator run --no-serve
    """
    _start(True, not no_serve, host, port, log_format)


@app.command()
def serve(host: Host = None, port: Port = None, log_format: LogFormat = "text") -> None:
    """Serve the combined feeds and the web pages from the database, without polling.

    Example:

      aggregator serve --port 8081
    """
    _start(False, True, host, port, log_format)
