"""HTTP fetching: conditional GET, redirects, deadlines, size caps. Nothing else.

Parsing is not done here (see ``aggregator.parse``); neither is scheduling.
"""

from aggregator.fetch.client import Fetcher, FetchSettings
from aggregator.fetch.headers import cache_lifetime, parse_http_date, parse_retry_after

__all__ = ["FetchSettings", "Fetcher", "cache_lifetime", "parse_http_date", "parse_retry_after"]
