"""The service (``aggregator run`` / ``serve``): orchestration only — the policies it applies
live in ``pipeline`` (runs, schedule) and ``cluster`` (stories)."""

from aggregator.daemon.service import Roles, run_service

__all__ = ["Roles", "run_service"]
