"""feeds.yaml: reading it into validated settings, editing it in place, OPML in and out."""

from aggregator.config.settings import (
    DatabaseConfig,
    DedupConfig,
    FeedConfig,
    OutputConfig,
    PollingConfig,
    RetentionConfig,
    ServerConfig,
    Settings,
    load_config,
    resolve_config_path,
)

__all__ = [
    "DatabaseConfig",
    "DedupConfig",
    "FeedConfig",
    "OutputConfig",
    "PollingConfig",
    "RetentionConfig",
    "ServerConfig",
    "Settings",
    "load_config",
    "resolve_config_path",
]
