"""``aggregator demo``: the whole job, offline, in one command."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from aggregator.commands.base import app, state, user_errors, warn


@app.command()
def demo(
    host: Annotated[str, typer.Option("--host", help="Address to serve the pages on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to serve the pages on (0: any free port).")] = (
        8080
    ),
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the demo's database and feeds.yaml when it stops.")
    ] = False,
) -> None:
    """Run an offline demo: sample news feeds with copies among them, polled, deduplicated and
    served at http://127.0.0.1:8080/ until Ctrl-C.

    Nine sample feeds (RSS, Atom, JSON Feed; Indonesian news from IndoSum, CC BY-SA 4.0) are
    served by this process on 127.0.0.1; copies of their stories (syndicated, edited, excerpted,
    reworded) keep arriving for two minutes. The database is a throwaway one in a temporary
    folder, removed when the demo stops (unless --keep); your feeds.yaml and database are not
    touched, and AGGREGATOR_* variables are ignored.

    Examples:

      aggregator demo

      aggregator demo --port 9000
    """
    from aggregator.daemon import Roles, run_service
    from aggregator.demo import SampleServer, load_sample, write_config
    from aggregator.logs import setup as setup_logging

    setup_logging("text", logging.DEBUG if state.verbose > 1 else logging.INFO)
    folder = Path(tempfile.mkdtemp(prefix="aggregator-demo-"))
    sample = load_sample()
    code = 0
    try:
        with SampleServer(sample) as feeds:
            config = write_config(folder, feeds, host, port)
            shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
            where = f"http://{shown}:{port}/" if port else "the address printed below"
            minutes = (sample.waves - 1) * sample.wave_seconds // 60
            warn(
                f"demo: {len(sample.sources)} sample feeds on http://127.0.0.1:{feeds.port}/ "
                f"(new copies arrive over the next {minutes} minutes)\n"
                f"demo: database and feeds.yaml in {folder}"
                f"{'' if keep else ' (removed when the demo stops)'}\n"
                f"demo: open {where} (combined feeds at /feeds/all.atom, .rss, .json); Ctrl-C stops"
            )
            env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
            with user_errors():
                code = run_service(config, env, Roles(poll=True, serve=True, host=host, port=port))
    finally:
        if keep:
            warn(f"demo: kept {folder}; e.g. `aggregator --config {folder / 'feeds.yaml'} stories`")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    raise typer.Exit(code)
