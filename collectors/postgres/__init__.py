"""PostgreSQL source: replication slots, WAL rate, physical replicas, and its outbox tables."""

from lagwatch.collectors.postgres.clock import InactiveClock
from lagwatch.collectors.postgres.collector import PostgresCollector, build
from lagwatch.collectors.postgres.config import PostgresSource
from lagwatch.collectors.postgres.session import connect, connect_source, error_text

__all__ = [
    "InactiveClock",
    "PostgresCollector",
    "PostgresSource",
    "build",
    "connect",
    "connect_source",
    "error_text",
]
