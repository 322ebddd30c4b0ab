"""Shared pieces of the command line: the Typer apps, global options, error mapping.

Exit codes: 0 success (a poll whose feeds partly failed is still a success), 1 unexpected
failure, 2 usage error, 3 configuration error, 4 database error, 5 output could not be written.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from aggregator import __version__
from aggregator.config import Settings, load_config, resolve_config_path
from aggregator.errors import AggregatorError, ConfigError, PublishError, StoreError

EXIT_ERROR, EXIT_CONFIG, EXIT_DATABASE, EXIT_OUTPUT = 1, 3, 4, 5

app = typer.Typer(
    name="aggregator",
    help="Poll feeds, recognise the same story across them, publish one deduplicated feed.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
dedup_app = typer.Typer(help="Same-story detection maintenance.", no_args_is_help=True)
app.add_typer(dedup_app, name="dedup")

err = Console(stderr=True, highlight=False, soft_wrap=True)
# Piped output (cron mails, logs) gets wide lines instead of an 80-column wrap.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


class State:
    config: str | None = None
    verbose: int = 0


state = State()


def _fail(code: int, message: str) -> NoReturn:
    err.print(message, markup=False)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the project's errors into one clear message and an exit code; never a traceback."""
    try:
        yield
    except ConfigError as exc:
        _fail(EXIT_CONFIG, f"configuration error: {exc}")
    except StoreError as exc:
        _fail(EXIT_DATABASE, f"database error: {exc}")
    except PublishError as exc:
        _fail(EXIT_OUTPUT, f"output error: {exc}")
    except AggregatorError as exc:
        _fail(EXIT_ERROR, f"error: {exc}")


def load_settings() -> Settings:
    return load_config(resolve_config_path(state.config, os.environ), os.environ)


def _print_version(value: bool) -> None:
    # Eager: answered before Typer looks for a command (``aggregator --version`` alone works).
    if value:
        out.print(f"aggregator {__version__}", markup=False)
        raise typer.Exit(0)


@app.callback()
def main_options(
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            help="feeds.yaml to use (default ./feeds.yaml; env AGGREGATOR_CONFIG).",
            metavar="FILE",
        ),
    ] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output.")] = 0,
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_print_version),
    ] = False,
) -> None:
    """Feed aggregator and deduplicator.

    Examples:

      aggregator poll                         # one round over feeds.yaml, then exit

      aggregator export --format atom -o all.atom

      aggregator --config /etc/aggregator/feeds.yaml feeds
    """
    state.config = config
    state.verbose = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
