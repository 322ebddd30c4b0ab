"""``aggregator export``: write a combined feed to a file or stdout."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from aggregator.commands.base import EXIT_OUTPUT, app, fail, load_settings, pick_output, user_errors, warn


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
    from aggregator.files import write_atomic
    from aggregator.publish import render
    from aggregator.publish.select import Query, output_meta, select_stories
    from aggregator.store import entries as entry_repo
    from aggregator.wiring import open_database

    with user_errors():
        settings = load_settings()
        chosen = pick_output(settings, output_name)
        n = chosen.limit if limit is None else (None if limit == 0 else limit)
        database = open_database(settings)
        try:
            with database.reading() as tx:
                stories = select_stories(tx, settings, chosen, Query(limit=n))
                empty = not stories and entry_repo.count(tx) == 0
        finally:
            database.close()
        data = render(fmt.value, output_meta(settings, chosen, stories, fmt.value), stories)
    if empty:
        warn("no stories yet: run `aggregator poll` first (an empty feed is written meanwhile)")
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        write_atomic(output, data)
    except OSError as exc:
        fail(EXIT_OUTPUT, f"output error: {exc.strerror or exc}")
    warn(f"wrote {len(stories)} stories to {output}")
