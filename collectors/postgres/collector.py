"""PostgreSQL source: replication slots, WAL rate, physical replicas, and its outbox tables.

One statement per cycle reads everything (see ``collectors/pg_query.py``);
the collector keeps only what a single reading cannot give: the WAL rate
(successive WAL positions) and, before PostgreSQL 17, since when a slot has
been inactive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

import psycopg
from pydantic import Field, SecretStr

from lagwatch.collectors.base import Collector, CollectorContext, SourceBase, SourceUnreachable
from lagwatch.collectors.outbox import POSTGRES, OutboxTable
from lagwatch.collectors.outbox import build as build_outbox
from lagwatch.collectors.pg_query import FEATURES_QUERY, ServerFeatures, build_cycle_query
from lagwatch.collectors.pg_samples import (
    Inactivity,
    Snapshot,
    replica_samples,
    slot_samples,
    source_samples,
)
from lagwatch.collectors.rate import RateWindow
from lagwatch.store import Sample, Store, StoreUnavailable
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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def connect(dsn: SecretStr, timeout: float, source: str) -> psycopg.Connection[Any]:
    """Return an autocommit, read-only connection whose statements stop after ``timeout``."""
    try:
        return psycopg.connect(
            dsn.get_secret_value(),
            connect_timeout=max(1, int(timeout)),
            options=(
                f"-c statement_timeout={max(1, int(timeout * 1000))} "
                "-c default_transaction_read_only=on"
            ),
            autocommit=True,
            application_name="lagwatch",
        )
    except psycopg.Error as exc:
        raise SourceUnreachable(
            f"source {source}: cannot connect to PostgreSQL: {_one_line(exc)}; "
            "check the dsn and that the server is up"
        ) from None


class InactiveClock:
    """Since when each slot has been inactive.

    PostgreSQL 17 reports ``inactive_since``; before that lagwatch starts the
    clock when it first sees the slot inactive. So that a restart does not
    reset it, the first sighting is taken from the store's newest
    ``lagwatch_pg_slot_inactive_seconds`` when that one still counted up
    (it assumes the slot stayed inactive while lagwatch was away).
    """

    METRIC = "lagwatch_pg_slot_inactive_seconds"

    def __init__(self, source: str, store: Store | None) -> None:
        self.source = source
        self.store = store
        self._since: dict[str, float] = {}
        self._history: dict[str, float] | None = None

    def _remembered(self) -> dict[str, float]:
        if self._history is None:
            self._history = {}
            if self.store is not None:
                try:
                    latest = self.store.latest(self.METRIC, {"source": self.source})
                except StoreUnavailable:
                    # don't raise: the server's own figures are still worth collecting
                    latest = []
                for value in latest:
                    slot = value.label_dict.get("slot")
                    if slot and value.value > 0:
                        self._history[slot] = value.ts - value.value
        return self._history

    def inactivity(self, slot: dict[str, Any], now: float) -> Inactivity:
        name = slot["slot"]
        if slot.get("active"):
            self._since.pop(name, None)
            return Inactivity(0.0)
        server = slot.get("inactive_seconds")
        if server is not None:
            return Inactivity(max(0.0, float(server)), "inactive_since from the server")
        if name not in self._since:
            self._since[name] = min(now, self._remembered().pop(name, now))
        since = self._since[name]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
        return Inactivity(now - since, f"at least: first seen inactive by lagwatch at {stamp}")

    def keep_only(self, names: Iterable[str]) -> None:
        wanted = set(names)
        for name in list(self._since):
            if name not in wanted:
                del self._since[name]


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
            conn = connect(self.config.dsn, self.timeout, self.config.name)
            try:
                row = conn.execute(FEATURES_QUERY).fetchone()
            except psycopg.Error as exc:
                conn.close()
                raise SourceUnreachable(
                    f"source {self.config.name}: cannot read the server version and catalog: "
                    f"{_one_line(exc)}"
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
                f"source {self.config.name}: slot query failed: {_one_line(exc)}"
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
        *build_outbox(config, POSTGRES, lambda: connect(config.dsn, config.timeout, config.name)),
    ]
