"""The configuration a running service uses, re-read on SIGHUP and when feeds.yaml changes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from aggregator.config import Settings, load_config
from aggregator.errors import ConfigError

log = logging.getLogger("aggregator.daemon")


class LiveSettings:
    """``current`` is always a valid configuration: an invalid edit is logged and ignored."""

    def __init__(self, path: Path, env: Mapping[str, str]) -> None:
        self.path, self.env = path, env
        self.current: Settings = load_config(path, env)
        self._mtime = self._stat()

    def __call__(self) -> Settings:
        return self.current

    def _stat(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def changed_on_disk(self) -> bool:
        mtime = self._stat()
        if mtime == self._mtime:
            return False
        self._mtime = mtime
        return True

    def reload(self, why: str) -> Settings | None:
        """Read the file again; the new settings, or None (logged) when the edit is invalid."""
        try:
            settings = load_config(self.path, self.env)
        except ConfigError as exc:
            log.error("feeds.yaml not reloaded (%s): %s — keeping the running configuration", why, exc)
            return None
        self.current = settings
        log.info(
            "configuration reloaded (%s): %d feeds, %d outputs",
            why,
            len(settings.feeds),
            len(settings.outputs),
        )
        return settings
