"""``aggregator export``: write a combined feed to a file or stdout."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from aggregator.app import open_database, output_stories
from aggregator.commands.base import EXIT_CONFIG, app, err, load_settings, user_errors
from aggregator.publish import render
from aggregator.publish.files import write_atomic


class Format(StrEnum):
    json = "json"
    atom = "atom"
    rss = "rss"


@app.command()
def export(
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="json (JSON Feed 1.1), atom or rss.")
    ] = Format.json,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (atomically); default stdout.")
    ] = None,
    output_name: Annotated[
        str, typer.Option("--output-name", "-n", help="Which output of feeds.yaml.")
    ] = "all",
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", help="Stories to include; 0 = every story. Default: the output's limit.", min=0
        ),
    ] = None,
) -> None:
    """Write the combined, deduplicated feed of one output.

    Examples:

      aggregator export --format atom --output all.atom

      aggregator export --format json --limit 0 > everything.json

      aggregator export --format rss --output-name indonesia
    """
    with user_errors():
        settings = load_settings()
        chosen = {o.name: o for o in settings.outputs}.get(output_name)
        if chosen is None:
            names = ", ".join(o.name for o in settings.outputs)
            err.print(
                f"no output named {output_name!r} in {settings.config_path}; outputs: {names}", markup=False
            )
            raise typer.Exit(EXIT_CONFIG)
        n = chosen.limit if limit is None else (None if limit == 0 else limit)
        with open_database(settings) as database:
            meta, stories = output_stories(settings, database, chosen, n)
        data = render(fmt.value, meta, stories)
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            write_atomic(output, data)
            err.print(f"wrote {len(stories)} stories to {output}", markup=False)
