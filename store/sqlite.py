"""SQLite backend: one file in WAL mode, one writer, readers in other processes."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path
from typing import IO, Any

from lagwatch.store.config import Retention
from lagwatch.store.sql import SqlStore

SEQ = "latest_seq"


class SqliteStore(SqlStore):
    """The embedded default store.

    The daemon opens it read-write; the dashboard and CLI readers open it
    read-only and see each committed batch while the writer goes on.
    """

    errors = (sqlite3.OperationalError, sqlite3.DatabaseError)
    without_rowid = " WITHOUT ROWID"

    def __init__(
        self,
        path: str | os.PathLike[str],
        retention: Retention | None = None,
        read_only: bool = False,
    ) -> None:
        super().__init__(retention, read_only)
        self.path = Path(path)
        self._locks: dict[str, IO[str]] = {}

    def _connect(self) -> Any:
        if self.read_only:
            if not self.path.exists():
                raise sqlite3.OperationalError(
                    f"no store at {self.path}: start `lagwatch run` or `lagwatch collect --once` first"
                )
            conn = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, check_same_thread=False, timeout=10
            )
            conn.execute("PRAGMA query_only = ON")
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA cache_size = -65536")
        return conn

    def _after_schema(self, cur: Any) -> None:
        cur.execute("PRAGMA table_info(latest)")
        if "seq" not in {row[1] for row in cur.fetchall()}:
            cur.execute("ALTER TABLE latest ADD COLUMN seq BIGINT")  # a store from before seq
        cur.execute("CREATE INDEX IF NOT EXISTS latest_seq ON latest (seq)")
        cur.execute("INSERT INTO meta (key, value) VALUES (?, 0) ON CONFLICT DO NOTHING", (SEQ,))

    # One writer at a time (SQLite's write lock): a counter orders the writes exactly.
    def _write_seq(self, cur: Any) -> int:
        # The UPDATE takes the write lock first, so two writing processes never share a mark.
        cur.execute("UPDATE meta SET value = value + 1 WHERE key = ?", (SEQ,))
        cur.execute("SELECT value FROM meta WHERE key = ?", (SEQ,))
        row = cur.fetchone()
        return int(row[0]) if row else 0

    def _change_floor(self, cur: Any) -> int:
        cur.execute("SELECT value FROM meta WHERE key = ?", (SEQ,))
        row = cur.fetchone()
        return (int(row[0]) if row else 0) + 1

    def maintain(self, now: float) -> None:
        super().maintain(now)
        # Long-lived readers can hold the WAL back; checkpoint on our own schedule.
        with self._cursor() as cur:
            cur.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def try_lock(self, name: str) -> bool:
        if name in self._locks:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(f"{self.path}.{name}.lock", "w")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._locks[name] = handle
        return True

    def close(self) -> None:
        super().close()
        for handle in self._locks.values():
            handle.close()
        self._locks.clear()
