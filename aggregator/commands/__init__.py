"""The CLI commands; importing this package registers them all on ``app``."""

from aggregator.commands import db, export, feeds, init, poll, run, stories
from aggregator.commands.base import app

__all__ = ["app", "db", "export", "feeds", "init", "poll", "run", "stories"]
