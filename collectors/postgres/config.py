"""`sources: - kind: postgres`: the config of one PostgreSQL server."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from lagwatch.collectors.base import SourceBase
from lagwatch.collectors.outbox import OutboxTable
from lagwatch.store.types import Duration


class PostgresSource(SourceBase):
    """`sources: - kind: postgres`: a PostgreSQL server read with a pg_monitor role."""

    kind: Literal["postgres"]
    dsn: SecretStr
    wal_rate_window: Duration = Field(
        60.0, description="span over which the WAL rate (and so time to loss) is averaged"
    )
    outbox: list[OutboxTable] = Field(
        default_factory=list, description="outbox tables to watch on this server"
    )
