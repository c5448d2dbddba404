"""PostgreSQL source: replication slots, WAL and replicas (grows in its own issue)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Literal

import psycopg
from pydantic import SecretStr

from collectors.base import CollectorContext, SourceBase, SourceUnreachable
from store import Sample


class PostgresSource(SourceBase):
    """`sources: - kind: postgres`: a PostgreSQL server read with a pg_monitor role."""

    kind: Literal["postgres"]
    dsn: SecretStr


class PostgresCollector:
    """Reads one PostgreSQL server over one kept connection."""

    def __init__(self, config: PostgresSource) -> None:
        self.config = config
        self.name = f"postgres:{config.name}"
        self.interval = config.interval
        self.timeout = config.timeout
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = psycopg.connect(
                    self.config.dsn.get_secret_value(),
                    connect_timeout=max(1, int(self.timeout)),
                    options=f"-c statement_timeout={int(self.timeout * 1000)}",
                    autocommit=True,
                    application_name="lagwatch",
                )
            except psycopg.Error as exc:
                raise SourceUnreachable(
                    f"source {self.config.name}: cannot connect to PostgreSQL: "
                    f"{str(exc).strip()}; check the dsn and that the server is up"
                ) from None
        return self._conn

    def collect(self) -> Iterable[Sample]:
        conn = self._connection()
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        now = time.time()
        assert row is not None
        yield Sample.of(
            "lagwatch_pg_in_recovery", 1.0 if row[0] else 0.0, now, source=self.config.name
        )

    def check(self) -> None:
        self._connection().execute("SELECT 1")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def build(config: PostgresSource, context: CollectorContext) -> list[PostgresCollector]:
    return [PostgresCollector(config)]
