"""The CLI commands; importing this package registers them all on ``app``."""

from aggregator.commands import db, demo, export, feeds, init, poll, run, stories
from aggregator.commands.base import app

__all__ = ["app", "db", "demo", "export", "feeds", "init", "poll", "run", "stories"]
