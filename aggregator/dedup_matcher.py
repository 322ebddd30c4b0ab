"""Bridge between the store and the near-duplicate engine (filled in when the engine lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aggregator.app import Database
    from aggregator.clustering import NearDuplicateMatcher
    from aggregator.config import Settings


def build_matcher(settings: Settings, database: Database) -> NearDuplicateMatcher | None:
    return None
