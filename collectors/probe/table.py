"""The probe table: its DDL, `lagwatch probe init`, the grants it needs, and the probe writer.

This table is the only thing lagwatch ever writes to a user's database, and
only when a probe is configured. Each pipeline owns ``RING`` rows that it
overwrites in turn (one upsert per probe), so the table never grows and the
CDC reader sees an insert, then updates, of small rows.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import psycopg
import pymysql
from psycopg import sql

from lagwatch.collectors.mysql import connect_args

RING = 600
"""Rows per pipeline: ten minutes of probes at one per second."""

PG_TABLE = """CREATE TABLE IF NOT EXISTS {table} (
    pipeline    text             NOT NULL,  -- the pipeline this probe measures
    slot        integer          NOT NULL,  -- ring position, reused every {ring} probes
    probe_id    text             NOT NULL,  -- 'lwprobe-' + the probe's trace id (32 hex)
    sent_at     double precision NOT NULL,  -- sender's clock, seconds since the epoch
    traceparent text             NOT NULL,  -- W3C trace context of the probe's trace
    PRIMARY KEY (pipeline, slot)
)"""

MYSQL_TABLE = """CREATE TABLE IF NOT EXISTS {table} (
    pipeline    VARCHAR(200) NOT NULL,
    slot        INT          NOT NULL,
    probe_id    VARCHAR(64)  NOT NULL,
    sent_at     DOUBLE       NOT NULL,
    traceparent VARCHAR(64)  NOT NULL,
    PRIMARY KEY (pipeline, slot)
) ENGINE=InnoDB"""

PG_UPSERT = (
    "INSERT INTO {table} (pipeline, slot, probe_id, sent_at, traceparent) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (pipeline, slot) DO UPDATE SET "
    "probe_id = excluded.probe_id, sent_at = excluded.sent_at, traceparent = excluded.traceparent"
)
MYSQL_UPSERT = (
    "INSERT INTO {table} (pipeline, slot, probe_id, sent_at, traceparent) "
    "VALUES (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE "
    "probe_id = VALUES(probe_id), sent_at = VALUES(sent_at), traceparent = VALUES(traceparent)"
)


@dataclass(frozen=True)
class TableName:
    """A schema-qualified table name, quoted only at the point of use."""

    schema: str
    name: str

    @classmethod
    def parse(cls, text: str) -> TableName:
        schema, dot, name = text.partition(".")
        if not dot or not schema or not name or "." in name:
            raise ValueError(f"table {text!r} must be written as SCHEMA.TABLE")
        return cls(schema, name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"

    def pg(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.name))

    def mysql(self) -> str:
        return f"{backtick(self.schema)}.{backtick(self.name)}"


def backtick(name: str) -> str:
    """Return a MySQL identifier quoted with backticks, inner backticks doubled."""
    return "`" + name.replace("`", "``") + "`"


# -- init ---------------------------------------------------------------------


def init_postgres(dsn: str, table: TableName, publication: str) -> list[str]:
    """Create the probe schema, table and publication as the probe role; return what was done."""
    done: list[str] = []
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
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


def grants_postgres(table: TableName, publication: str, role: str) -> str:
    """Return the SQL an administrator runs so ``role`` can probe and tap."""
    return f"""-- as a superuser or the database owner:
ALTER ROLE {role} WITH LOGIN REPLICATION;      -- the tap streams a temporary logical slot
GRANT CONNECT, CREATE ON DATABASE {{database}} TO {role};  -- `probe init` creates schema {table.schema}
-- `probe init` then creates {table} (owned by {role}, so it may publish it) and
-- CREATE PUBLICATION {publication} FOR TABLE {table};
-- To relay outbox rows too, the outbox table's owner adds it:
--   ALTER PUBLICATION {publication} ADD TABLE public.outbox;"""


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


# -- writing probes -----------------------------------------------------------


class ProbeWriter:
    """Upserts one probe row per call over a kept connection (PostgreSQL or MySQL)."""

    def __init__(self, kind: str, dsn: str, table: TableName, timeout: float = 5.0) -> None:
        self.kind = kind
        self.dsn = dsn
        self.table = table
        self.timeout = timeout
        self._conn: Any = None

    def _connection(self) -> Any:
        if self.kind == "postgres":
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = psycopg.connect(
                    self.dsn,
                    autocommit=True,
                    connect_timeout=max(1, int(self.timeout)),
                    application_name="lagwatch-probe",
                    options=f"-c statement_timeout={int(self.timeout * 1000)}",
                )
        elif self._conn is None or not self._conn.open:
            self._conn = pymysql.connect(**connect_args(self.dsn, self.timeout))
        return self._conn

    def statement(self) -> Any:
        if self.kind == "postgres":
            return sql.SQL(PG_UPSERT).format(table=self.table.pg())
        return MYSQL_UPSERT.format(table=self.table.mysql())

    def write(
        self, pipeline: str, seq: int, probe_id: str, sent_at: float, traceparent: str
    ) -> None:
        """Write probe ``seq`` into its ring slot; autocommit makes it one transaction."""
        params = (pipeline, seq % RING, probe_id, sent_at, traceparent)
        conn = self._connection()
        try:
            if self.kind == "postgres":
                conn.execute(self.statement(), params)
            else:
                with conn.cursor() as cur:
                    cur.execute(self.statement(), params)
        except (psycopg.OperationalError, pymysql.OperationalError):
            self.close()  # reconnect on the next probe
            raise

    def check(self) -> None:
        """Raise unless the table exists and is readable by the probe role."""
        conn = self._connection()
        if self.kind == "postgres":
            conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 0").format(self.table.pg()))
        else:
            with conn.cursor() as cur:
                cur.execute(f"SELECT 1 FROM {self.table.mysql()} LIMIT 0")  # noqa: S608 - quoted name

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error, pymysql.Error):
                self._conn.close()
            self._conn = None
