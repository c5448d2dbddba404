"""What pipelines and the probe need of a MySQL/MariaDB source: source lag, the probe table, its tap."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlsplit

import pymysql

from lagwatch.collectors.base import PipelineSupport, ProbeSupport, SourceLag
from lagwatch.collectors.mysql.session import connect_args
from lagwatch.collectors.probe.table import TableName, backtick
from lagwatch.collectors.rate import newest_reading, seconds_behind
from lagwatch.collectors.tap.mysql import MysqlTap
from lagwatch.store import Store


def source_lag(store: Store, source: str, reader: str, now: float) -> SourceLag | None:
    """Return the reader's bytes behind ÷ the binlog bytes written per second (last 10 min).

    The binlog's total size shrinks when files are purged, so it cannot say when a position
    was written, as the WAL head's history does for PostgreSQL: this stays an estimate.
    """
    behind = newest_reading(
        store, "lagwatch_mysql_binlog_reader_behind_bytes", {"source": source, "reader": reader}
    )
    if behind is None:
        return None
    if behind.value <= 0:
        return SourceLag(0.0, behind.ts)
    seconds = seconds_behind(behind.value, _binlog_rate(store, source, now))
    return SourceLag(seconds, behind.ts) if seconds is not None else None


def _binlog_rate(store: Store, source: str, now: float) -> float | None:
    series = store.query_range("lagwatch_mysql_binlog_bytes", {"source": source}, now - 600, now)
    points = series[0].points if series else []
    if len(points) < 2 or points[-1][0] <= points[0][0]:
        return None
    return max(0.0, (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0]))


MYSQL_TABLE = """CREATE TABLE IF NOT EXISTS {table} (
    pipeline    VARCHAR(200) NOT NULL,
    slot        INT          NOT NULL,
    probe_id    VARCHAR(64)  NOT NULL,
    sent_at     DOUBLE       NOT NULL,
    traceparent VARCHAR(64)  NOT NULL,
    PRIMARY KEY (pipeline, slot)
) ENGINE=InnoDB"""

MYSQL_UPSERT = (
    "INSERT INTO {table} (pipeline, slot, probe_id, sent_at, traceparent) "
    "VALUES (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE "
    "probe_id = VALUES(probe_id), sent_at = VALUES(sent_at), traceparent = VALUES(traceparent)"
)


class MysqlProbeWriter:
    """Upserts one probe row per call over a kept connection."""

    def __init__(self, dsn: str, table: TableName, timeout: float = 5.0) -> None:
        self.dsn = dsn
        self.table = table
        self.timeout = timeout
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None or not self._conn.open:
            self._conn = pymysql.connect(**connect_args(self.dsn, self.timeout))
        return self._conn

    def write(self, params: tuple[Any, ...]) -> None:
        try:
            with self._connection().cursor() as cur:
                cur.execute(MYSQL_UPSERT.format(table=self.table.mysql()), params)
        except pymysql.OperationalError:
            self.close()  # reconnect on the next probe
            raise

    def check(self) -> None:
        with self._connection().cursor() as cur:
            cur.execute(f"SELECT 1 FROM {self.table.mysql()} LIMIT 0")  # noqa: S608 - quoted name

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(pymysql.Error):
                self._conn.close()
            self._conn = None


def init_mysql(dsn: str, table: TableName) -> list[str]:
    """Create the probe database (if missing) and table; return what was done."""
    conn = pymysql.connect(**connect_args(dsn, 10))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (table.schema,)
            )
            if cur.fetchone() is None:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {backtick(table.schema)}")
            cur.execute(MYSQL_TABLE.format(table=table.mysql()))
    finally:
        conn.close()
    return [f"table {table} is ready"]


def grants_mysql(table: TableName, writer: str, tap: str) -> str:
    """Return the SQL an administrator runs so the probe writer and the tap can work."""
    name = table.mysql()
    return "\n".join(
        [
            "-- as an administrator:",
            f"GRANT CREATE, INSERT, UPDATE, SELECT ON {backtick(table.schema)}.* TO {writer};"
            "  -- the probe writer (or ON the table alone, once it exists)",
            f"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO {tap};  -- the tap reads the binlog",
            f"GRANT SELECT ON {name} TO {tap};  -- column names from INFORMATION_SCHEMA",  # noqa: S608 - text to print
        ]
    )


def _user(dsn: str, default: str) -> str:
    return urlsplit(dsn).username or default


PROBE = ProbeSupport(
    tap_key="server_id",
    writer=lambda probe, timeout: MysqlProbeWriter(
        probe.dsn.get_secret_value(), probe.table_name(), timeout
    ),
    init=lambda probe, source: init_mysql(probe.dsn.get_secret_value(), probe.table_name()),
    grants=lambda probe, source: grants_mysql(
        probe.table_name(),
        _user(probe.dsn.get_secret_value(), "PROBE_ROLE"),
        _user((probe.tap.dsn or source.dsn).get_secret_value(), "TAP_USER"),
    ),
    tap=lambda probe, source, name, tables: MysqlTap(
        name,
        connect_args((probe.tap.dsn or source.dsn).get_secret_value(), 10),
        tables,
        server_id=probe.tap.server_id,
    ),
)

PIPELINE = PipelineSupport(
    reader_key="reader", reader_what="the binlog reader", source_lag=source_lag
)
