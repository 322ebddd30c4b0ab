"""``aggregator init``: a commented starter feeds.yaml."""

from __future__ import annotations

from typing import Annotated

import typer

from aggregator.commands.base import app, config_path, user_errors, warn


@app.command()
def init(
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write a commented starter feeds.yaml (real Indonesian and English news feeds, three
    outputs) where --config points, ./feeds.yaml by default.

    Examples:

      aggregator init && aggregator poll

      aggregator --config ~/news/feeds.yaml init
    """
    from aggregator.config.edit import write_starter

    with user_errors():
        path = config_path()
        write_starter(path, force=force)
    warn(f"wrote {path}; next: `aggregator poll`, then `aggregator export --format atom -o all.atom`")
