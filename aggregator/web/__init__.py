"""The HTTP side: combined feeds with caching headers, the HTML pages, health and metrics."""

from aggregator.web.app import Site, build_app

__all__ = ["Site", "build_app"]
