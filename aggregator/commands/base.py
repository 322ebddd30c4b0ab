"""Shared pieces of the command line: the Typer apps, global options, output, error mapping.

Exit codes: 0 success (a poll whose feeds partly failed is still a success), 1 unexpected
failure, 2 usage error, 3 configuration error, 4 database error, 5 the output could not be
written. Only Typer is imported at start-up: every command imports what it needs when it runs,
so ``aggregator --help`` answers at once.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from aggregator import __version__

if TYPE_CHECKING:
    from aggregator.config import OutputConfig, Settings

EXIT_ERROR, EXIT_USAGE, EXIT_CONFIG, EXIT_DATABASE, EXIT_OUTPUT = 1, 2, 3, 4, 5

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


class State:
    config: str | None = None
    verbose: int = 0


state = State()


def say(message: str = "") -> None:
    """A line of the command's output (stdout)."""
    typer.echo(message)


def warn(message: str) -> None:
    """A line for the person running the command (stderr): progress, hints, problems."""
    typer.echo(message, err=True)


def fail(code: int, message: str) -> NoReturn:
    warn(message)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the project's errors into one clear message and an exit code; never a traceback."""
    from aggregator.errors import AggregatorError, ConfigError, PublishError, StoreError

    try:
        yield
    except ConfigError as exc:
        fail(EXIT_CONFIG, f"configuration error: {exc}")
    except StoreError as exc:
        fail(EXIT_DATABASE, f"database error: {exc}")
    except PublishError as exc:
        fail(EXIT_OUTPUT, f"output error: {exc}")
    except AggregatorError as exc:
        fail(EXIT_ERROR, f"error: {exc}")


def config_path() -> Path:
    from aggregator.config import resolve_config_path

    return resolve_config_path(state.config, os.environ)


def load_settings() -> Settings:
    from aggregator.config import load_config, resolve_config_path

    return load_config(resolve_config_path(state.config, os.environ), os.environ)


def pick_output(settings: Settings, name: str) -> OutputConfig:
    """The output named ``name``, or a usage error listing the outputs there are."""
    from aggregator.publish.select import output_named

    chosen = output_named(settings, name)
    if chosen is None:
        names = ", ".join(o.name for o in settings.outputs)
        fail(EXIT_USAGE, f"no output named {name!r} in {settings.config_path}; outputs: {names}")
    return chosen


def _print_version(value: bool) -> None:
    # Eager: answered before Typer looks for a command (``aggregator --version`` alone works).
    if value:
        say(f"aggregator {__version__}")
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

      aggregator demo                         # sample feeds, offline: see what it does

      aggregator init && aggregator poll      # a starter feeds.yaml, then one round

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
