"""PostgreSQL source: replication slots, WAL rate, physical replicas, and its outbox tables.

One statement per cycle reads everything (see ``read.py``);
the collector keeps only what a single reading cannot give: the WAL rate
(successive WAL positions) and, before PostgreSQL 17, since when a slot has
been inactive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import psycopg

from lagwatch.collectors.base import Collector, CollectorContext, SourceUnreachable
from lagwatch.collectors.outbox import POSTGRES
from lagwatch.collectors.outbox import build as build_outbox
from lagwatch.collectors.postgres.clock import InactiveClock
from lagwatch.collectors.postgres.config import PostgresSource
from lagwatch.collectors.postgres.read import FEATURES_QUERY, ServerFeatures, build_cycle_query
from lagwatch.collectors.postgres.samples import (
    Snapshot,
    replica_samples,
    slot_samples,
    source_samples,
)
from lagwatch.collectors.postgres.session import connect_source, error_text
from lagwatch.collectors.rate import RateWindow
from lagwatch.store import Sample, StoreUnavailable
from lagwatch.store.contracts import origin


class PostgresCollector:
    """Reads one PostgreSQL server over one kept connection, one statement per cycle."""

    def __init__(
        self,
        config: PostgresSource,
        context: CollectorContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.name = f"postgres:{config.name}"
        self.origins: tuple[str, ...] = (origin("source", config.name),)
        self.interval = config.interval
        self.timeout = config.timeout
        self.clock = clock
        self.features: ServerFeatures | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._query: psycopg.sql.Composed | None = None
        self._wal = RateWindow(config.wal_rate_window)
        self._store = context.store if context else None
        self._inactive = InactiveClock(config.name, self._store)

    def _connection(self) -> tuple[psycopg.Connection[Any], psycopg.sql.Composed]:
        if self._conn is None or self._conn.closed or self._conn.broken or self._query is None:
            self.close()
            conn = connect_source(self.config.dsn, self.timeout, self.config.name)
            try:
                row = conn.execute(FEATURES_QUERY).fetchone()
            except psycopg.Error as exc:
                conn.close()
                raise SourceUnreachable(
                    f"source {self.config.name}: cannot read the server version and catalog: "
                    f"{error_text(exc)}"
                ) from None
            assert row is not None
            features = ServerFeatures.of(*row)
            problem = features.unsupported()
            if problem:
                conn.close()
                raise SourceUnreachable(f"source {self.config.name}: {problem}")
            self._conn, self.features, self._query = conn, features, build_cycle_query(features)
        return self._conn, self._query

    def snapshot(self) -> Snapshot:
        """Return one reading of the server (one statement)."""
        conn, query = self._connection()
        try:
            row = conn.execute(query).fetchone()
        except psycopg.Error as exc:
            if conn.broken or conn.closed:
                self.close()
            raise SourceUnreachable(
                f"source {self.config.name}: slot query failed: {error_text(exc)}"
            ) from None
        assert row is not None
        return Snapshot.from_row(row)

    def collect(self) -> Iterable[Sample]:
        snap = self.snapshot()
        now = self.clock()
        source = self.config.name
        if self._wal.empty:
            self._seed_wal_rate(now)
        self._wal.add(now, snap.wal_position)
        rate = self._wal.rate()
        samples = source_samples(source, snap, now, rate)
        for slot in snap.slots:
            samples.extend(
                slot_samples(source, slot, now, self._inactive.inactivity(dict(slot), now), rate)
            )
        self._inactive.keep_only(slot["slot"] for slot in snap.slots)
        samples.extend(replica_samples(source, snap.replicas, now))
        return samples

    def _seed_wal_rate(self, now: float) -> None:
        """Start the WAL rate from the last position in the store, so a restart has a rate at once."""
        if self._store is None:
            return
        try:
            latest = self._store.latest(
                "lagwatch_pg_wal_position_bytes", {"source": self.config.name}
            )
        except StoreUnavailable:
            return  # don't raise: the rate simply starts one cycle later
        for value in latest:
            if 0 < now - value.ts <= self._wal.window:
                self._wal.add(value.ts, value.value)

    def check(self) -> None:
        conn, _ = self._connection()
        row = conn.execute(
            "SELECT current_user, pg_has_role(current_user, 'pg_monitor', 'USAGE')"
        ).fetchone()
        assert row is not None
        if not row[1]:
            raise SourceUnreachable(
                f"source {self.config.name}: role {row[0]} is not a member of pg_monitor, so "
                f"replica lag stays hidden; run GRANT pg_monitor TO {row[0]}"
            )
        self.snapshot()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._query = None


def build(config: PostgresSource, context: CollectorContext) -> list[Collector]:
    """Return the slot collector, plus an outbox collector when tables are configured."""
    return [
        PostgresCollector(config, context),
        *build_outbox(
            config, POSTGRES, lambda: connect_source(config.dsn, config.timeout, config.name)
        ),
    ]
