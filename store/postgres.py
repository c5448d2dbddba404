"""PostgreSQL backend: a team store several daemons may write to at once."""

from __future__ import annotations

import zlib
from typing import Any

import psycopg

from lagwatch.store.config import Retention
from lagwatch.store.sql import SqlStore


class PostgresStore(SqlStore):
    """Same tables and contract as SQLite; creates its own schema on first use."""

    placeholder = "%s"
    id_type = "BIGSERIAL PRIMARY KEY"
    errors = (psycopg.OperationalError, psycopg.InterfaceError)

    def __init__(
        self, dsn: str, retention: Retention | None = None, read_only: bool = False
    ) -> None:
        super().__init__(retention, read_only)
        self._dsn = dsn
        self._lock_conn: Any = None

    def __repr__(self) -> str:
        return "PostgresStore(dsn=***)"

    def _connect(self) -> Any:
        conn = psycopg.connect(
            self._dsn, connect_timeout=5, options="-c statement_timeout=30000", autocommit=False
        )
        if self.read_only:
            conn.read_only = True
        else:
            # Several writers may create the schema at the same moment.
            conn.execute("SELECT pg_advisory_xact_lock(4242001)")
        return conn

    def _after_schema(self, cur: Any) -> None:
        cur.execute("ALTER TABLE latest ADD COLUMN IF NOT EXISTS seq BIGINT")  # stores before seq
        cur.execute("CREATE INDEX IF NOT EXISTS latest_seq ON latest (seq)")

    # Several daemons write at once, and commit out of the order they started in: a
    # sequence would let a reader skip a write that commits late. A row instead carries
    # the id of the transaction that wrote it, and a reader's cursor is the oldest
    # transaction still running when it read (its snapshot's xmin): any write it could
    # not see has an id at or above that.
    def _write_seq(self, cur: Any) -> int:
        cur.execute("SELECT pg_current_xact_id()::text::bigint")
        return int(cur.fetchone()[0])

    def _change_floor(self, cur: Any) -> int:
        cur.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        return int(cur.fetchone()[0])

    def try_lock(self, name: str) -> bool:
        if self._lock_conn is not None and not self._lock_conn.closed:
            return True
        conn = psycopg.connect(self._dsn, connect_timeout=5, autocommit=True)
        key = zlib.crc32(name.encode()) & 0x7FFFFFFF
        got = conn.execute("SELECT pg_try_advisory_lock(4242, %s)", (key,)).fetchone()
        if got and got[0]:
            self._lock_conn = conn
            return True
        conn.close()
        return False

    def close(self) -> None:
        super().close()
        if self._lock_conn is not None:
            self._lock_conn.close()
            self._lock_conn = None
