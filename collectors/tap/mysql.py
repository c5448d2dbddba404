"""The MySQL/MariaDB tap: row events from the binlog, read as a replica would.

Built on python-mysql-replication (PyPI `mysql-replication`). The server's
`binlog_row_metadata` is often MINIMAL/NO_LOG, so column names come from
INFORMATION_SCHEMA (`use_column_name_cache`), which needs SELECT on the
tables the tap follows. Heartbeats every half second let the reader notice a
stop request and prove it is alive while the database is idle.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from typing import Any

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import HeartbeatLogEvent, MariadbGtidEvent, RotateEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from lagwatch.collectors.tap.change import Backoff, Change, ChangeHandler, TapPosition

log = logging.getLogger("lagwatch.tap.mysql")
# The library warns on every start that binlog_row_metadata is not FULL; we read
# column names from INFORMATION_SCHEMA instead, so the warning is noise.
logging.getLogger("pymysqlreplication").setLevel(logging.ERROR)

HEARTBEAT = 0.5


def server_id_for(name: str) -> int:
    """Return a stable replica server id for a tap name, away from small hand-picked ids."""
    return 1_000_000 + zlib.crc32(name.encode()) % 1_000_000_000


class MysqlTap:
    """Streams row events of ``tables`` (``schema.table``) from the current binlog position.

    The tap registers as a replica with its own ``server_id`` (derived from
    its name unless given). It starts at the server's current position and,
    after a reconnect, resumes at the last position it read.

    Failure policy: connection and protocol errors are kept in ``error`` and
    the tap reconnects with backoff; it never raises.
    """

    def __init__(
        self,
        name: str,
        connect: dict[str, Any],
        tables: set[str],
        server_id: int | None = None,
    ) -> None:
        self.name = name
        self.connect: dict[str, Any] = {
            key: connect[key] for key in ("host", "port", "user", "password") if key in connect
        }
        self.tables = tables
        self.server_id = server_id or server_id_for(name)
        self.ready = threading.Event()
        self.error: str | None = None
        self.position = TapPosition()
        self.changes = 0
        self._stream: BinLogStreamReader | None = None

    def _current_position(self) -> tuple[str, int]:
        conn = pymysql.connect(**self.connect, connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW MASTER STATUS")
                row = cur.fetchone()
        finally:
            conn.close()
        if not row:
            raise ValueError("the server has no binary log: enable log_bin")
        return str(row[0]), int(row[1])

    def run(self, on_change: ChangeHandler, stop: threading.Event) -> None:
        """Stream until ``stop`` is set, reconnecting after failures."""
        backoff = Backoff()
        while not stop.is_set():
            try:
                self._read(on_change, stop, backoff)
            except (pymysql.Error, OSError, ValueError, KeyError, IndexError) as exc:
                self.ready.clear()
                self.error = f"tap {self.name}: {exc.args[-1] if exc.args else type(exc).__name__}"
                log.warning("%s; reconnecting", self.error)
                stop.wait(backoff.next())
            finally:
                if self._stream is not None:
                    self._stream.close()
                    self._stream = None
        self.ready.clear()

    def _read(self, on_change: ChangeHandler, stop: threading.Event, backoff: Backoff) -> None:
        if self.position.file is None or self.position.pos is None:
            self.position.file, self.position.pos = self._current_position()
        schemas = sorted({table.split(".", 1)[0] for table in self.tables})
        names = sorted({table.split(".", 1)[1] for table in self.tables})
        stream = BinLogStreamReader(
            connection_settings=dict(self.connect, passwd=self.connect.get("password", "")),
            server_id=self.server_id,
            blocking=True,
            resume_stream=True,
            log_file=self.position.file,
            log_pos=self.position.pos,
            only_events=[
                WriteRowsEvent,
                UpdateRowsEvent,
                DeleteRowsEvent,
                RotateEvent,
                MariadbGtidEvent,
                HeartbeatLogEvent,
            ],
            only_schemas=schemas,
            only_tables=names,
            slave_heartbeat=HEARTBEAT,
            is_mariadb=True,
            use_column_name_cache=True,
            enable_logging=False,
        )
        self._stream = stream
        for event in stream:
            if not self.ready.is_set():
                self.error = None
                self.ready.set()
                backoff.reset()
            now = time.time()
            self.position.ts = now
            if stream.log_file:
                self.position.file, self.position.pos = stream.log_file, stream.log_pos
            if isinstance(event, MariadbGtidEvent):
                self.position.gtid = event.gtid
            elif isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
                self.position.event_ts = float(event.timestamp)
                self._hand_on(event, on_change, now)
            if stop.is_set():
                return

    def _hand_on(self, event: Any, on_change: ChangeHandler, now: float) -> None:
        table = f"{event.schema}.{event.table}"
        if table not in self.tables:
            return
        where = f"{self.position.file}:{self.position.pos}"
        for row in event.rows:
            if isinstance(event, WriteRowsEvent):
                change = Change(table, "insert", row["values"], event.timestamp, where, now)
            elif isinstance(event, UpdateRowsEvent):
                change = Change(
                    table, "update", row["after_values"], event.timestamp, where, now,
                    row["before_values"],
                )  # fmt: skip
            else:
                change = Change(table, "delete", row["values"], event.timestamp, where, now)
            self.changes += 1
            on_change(change)
