"""The HTTP side: combined feeds with caching headers, an HTML overview, health and metrics."""

from aggregator.web.app import WebState, build_app

__all__ = ["WebState", "build_app"]
