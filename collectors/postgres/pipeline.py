"""What pipelines and the probe need of a PostgreSQL source: source lag, the probe table, its tap."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from lagwatch.collectors.base import PipelineSupport, ProbeSupport, SourceLag
from lagwatch.collectors.postgres.session import connect
from lagwatch.collectors.probe.table import RING, TableName
from lagwatch.collectors.rate import newest, newest_reading, seconds_behind, when_reached
from lagwatch.collectors.tap.postgres import PostgresTap
from lagwatch.store import Store

HISTORY = 6 * 3600.0
"""How far back the WAL head's stored positions are searched for a reader's position."""


def source_lag(store: Store, source: str, slot: str, now: float) -> SourceLag | None:
    """Return how old the slot's oldest unread change is: when the WAL head passed its position.

    The slot's confirmed position is the head minus its confirmed lag in the same reading; the
    stored head positions say when the head was there. Dividing the bytes behind by today's
    WAL rate instead is far off whenever the rate changed (a burst, then a trickle).
    """
    behind = newest_reading(
        store, "lagwatch_pg_slot_confirmed_lag_bytes", {"source": source, "slot": slot}
    )
    if behind is None:
        return None
    if behind.value <= 0:
        return SourceLag(0.0, behind.ts)
    history = store.query_range(
        "lagwatch_pg_wal_position_bytes", {"source": source}, behind.ts - HISTORY, behind.ts,
        max_points=10_000,
    )  # fmt: skip
    points = history[0].points if history else []
    head = newest_reading(store, "lagwatch_pg_wal_position_bytes", {"source": source})
    if head is not None and points and abs(head.ts - behind.ts) < 0.5:
        # The head of the same cycle as the slot's reading: the reader's confirmed position.
        position = head.value - behind.value
        passed = when_reached(points, position)
        if passed is not None:
            return SourceLag(max(0.0, behind.ts - passed), behind.ts)
        if points[0][1] >= position:
            return SourceLag(
                behind.ts - points[0][0], behind.ts,
                "at least: the reader's position is older than the stored WAL history",
            )  # fmt: skip
    # No head reading of the same cycle: bytes behind ÷ the WAL rate, the rough estimate.
    rate = newest(store, "lagwatch_pg_wal_bytes_per_second", {"source": source})
    seconds = seconds_behind(behind.value, rate)
    return SourceLag(seconds, behind.ts) if seconds is not None else None


PG_TABLE = """CREATE TABLE IF NOT EXISTS {table} (
    pipeline    text             NOT NULL,  -- the pipeline this probe measures
    slot        integer          NOT NULL,  -- ring position, reused every {ring} probes
    probe_id    text             NOT NULL,  -- 'lwprobe-' + the probe's trace id (32 hex)
    sent_at     double precision NOT NULL,  -- sender's clock, seconds since the epoch
    traceparent text             NOT NULL,  -- W3C trace context of the probe's trace
    PRIMARY KEY (pipeline, slot)
)"""

PG_UPSERT = (
    "INSERT INTO {table} (pipeline, slot, probe_id, sent_at, traceparent) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (pipeline, slot) DO UPDATE SET "
    "probe_id = excluded.probe_id, sent_at = excluded.sent_at, traceparent = excluded.traceparent"
)


class PostgresProbeWriter:
    """Upserts one probe row per call over a kept connection."""

    def __init__(self, dsn: str, table: TableName, timeout: float = 5.0) -> None:
        self.dsn = dsn
        self.table = table
        self.timeout = timeout
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(self.dsn, self.timeout, application_name="lagwatch-probe")
        return self._conn

    def write(self, params: tuple[Any, ...]) -> None:
        try:
            self._connection().execute(sql.SQL(PG_UPSERT).format(table=self.table.pg()), params)
        except psycopg.OperationalError:
            self.close()  # reconnect on the next probe
            raise

    def check(self) -> None:
        self._connection().execute(sql.SQL("SELECT 1 FROM {} LIMIT 0").format(self.table.pg()))

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


def init_postgres(dsn: str, table: TableName, publication: str) -> list[str]:
    """Create the probe schema, table and publication as the probe role; return what was done."""
    done: list[str] = []
    with connect(dsn, 10, application_name="lagwatch-probe") as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(table.schema)))
        conn.execute(sql.SQL(PG_TABLE).format(table=table.pg(), ring=sql.SQL(str(RING))))
        done.append(f"table {table} is ready")
        exists = conn.execute(
            "SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,)
        ).fetchone()
        if exists:
            done.append(f"publication {publication} exists; kept as it is")
        else:
            conn.execute(
                sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(
                    sql.Identifier(publication), table.pg()
                )
            )
            done.append(f"publication {publication} created for {table}")
    return done


def grants_postgres(table: TableName, publication: str, role: str) -> str:
    """Return the SQL an administrator runs so ``role`` can probe and tap."""
    return f"""-- as a superuser or the database owner:
ALTER ROLE {role} WITH LOGIN REPLICATION;      -- the tap streams a temporary logical slot
GRANT CONNECT, CREATE ON DATABASE {{database}} TO {role};  -- `probe init` creates schema {table.schema}
-- `probe init` then creates {table} (owned by {role}, so it may publish it) and
-- CREATE PUBLICATION {publication} FOR TABLE {table};
-- To relay outbox rows too, the outbox table's owner adds it:
--   ALTER PUBLICATION {publication} ADD TABLE public.outbox;"""


def _role(dsn: str, default: str) -> str:
    return urlsplit(dsn).username or default


PROBE = ProbeSupport(
    tap_key="slot",
    writer=lambda probe, timeout: PostgresProbeWriter(
        probe.dsn.get_secret_value(), probe.table_name(), timeout
    ),
    init=lambda probe, source: init_postgres(
        probe.dsn.get_secret_value(), probe.table_name(), probe.tap.publication
    ),
    grants=lambda probe, source: grants_postgres(
        probe.table_name(),
        probe.tap.publication,
        _role(probe.dsn.get_secret_value(), "PROBE_ROLE"),
    ),
    tap=lambda probe, source, name, tables: PostgresTap(
        name,
        (probe.tap.dsn or probe.dsn).get_secret_value(),
        probe.tap.publication,
        slot=probe.tap.slot,
        tables=tables,
    ),
)

PIPELINE = PipelineSupport(
    reader_key="slot", reader_what="the CDC reader's slot", source_lag=source_lag
)
