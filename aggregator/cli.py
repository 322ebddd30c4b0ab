"""Command line entry point: the composition root.

Each command lives in ``aggregator.commands``; this module only loads them and runs the app.
Exit codes: 0 success (a poll whose feeds partly failed is still a success), 1 unexpected
failure, 2 usage error, 3 configuration error, 4 database error, 5 output could not be written.
"""

from __future__ import annotations

from aggregator.commands import app


def main() -> None:
    """Entry point of the ``aggregator`` command and of ``python -m aggregator``."""
    app()
