"""aggregator: polls feeds, recognises the same story across them, publishes one combined feed."""

import time

STARTED = time.perf_counter()  # when the process began importing us: start-up cost in `-v` logs
__version__ = "0.1.0"
USER_AGENT = (
    f"aggregator/{__version__} (+https://github.com/aggregator-project/aggregator; feed deduplicator)"
)
