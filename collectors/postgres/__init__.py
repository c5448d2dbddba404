"""PostgreSQL source: replication slots, WAL rate, physical replicas, and its outbox tables."""

from lagwatch.collectors.base import SourceKind
from lagwatch.collectors.postgres.clock import InactiveClock
from lagwatch.collectors.postgres.collector import PostgresCollector, build
from lagwatch.collectors.postgres.config import PostgresSource
from lagwatch.collectors.postgres.pipeline import PIPELINE, PROBE
from lagwatch.collectors.postgres.session import connect, connect_source, error_text

KIND = SourceKind("postgres", PostgresSource, build, "pg", pipeline=PIPELINE, probe=PROBE)

__all__ = [
    "KIND",
    "InactiveClock",
    "PostgresCollector",
    "PostgresSource",
    "build",
    "connect",
    "connect_source",
    "error_text",
]
