"""The PostgreSQL tap: streaming logical replication with pgoutput over psycopg's copy-both.

psycopg 3 has no high-level replication API, but its libpq wrapper does:
`START_REPLICATION` puts the connection in COPY_BOTH mode, then
`pgconn.get_copy_data()` returns XLogData ('w') and keepalive ('k') frames
and `pgconn.put_copy_data()` sends Standby Status Updates ('r').
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import select
import threading
import time
from typing import Any

import psycopg
from psycopg import pq, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from lagwatch.collectors.tap.change import Backoff, ChangeHandler, TapPosition
from lagwatch.collectors.tap.pgoutput import (
    PgOutputDecoder,
    lsn_text,
    parse_keepalive,
    parse_xlogdata,
    standby_status,
)

log = logging.getLogger("lagwatch.tap.postgres")

FEEDBACK_EVERY = 10.0
"""Seconds between standby status updates; the server's wal_sender_timeout is 60 s by default."""


def replication_dsn(dsn: str) -> str:
    """Return ``dsn`` with replication=database, which logical streaming needs."""
    if conninfo_to_dict(dsn).get("replication") == "database":
        return dsn
    return make_conninfo(dsn, replication="database")


class PostgresTap:
    """Streams one publication through a logical slot and hands on each change.

    With ``slot=None`` the slot is TEMPORARY: PostgreSQL drops it when the
    tap's session ends, even if the tap is killed, so a dead tap retains no
    WAL. Changes committed while the tap reconnects are then not seen; a
    named (permanent) slot resumes where it confirmed instead.

    Failure policy: any connection or protocol error is kept in ``error`` and
    the tap reconnects with backoff (0.5 s doubling to 30 s); it never raises.
    """

    def __init__(
        self,
        name: str,
        dsn: str,
        publication: str,
        slot: str | None = None,
        tables: set[str] | None = None,
        feedback_every: float = FEEDBACK_EVERY,
    ) -> None:
        self.name = name
        self.dsn = replication_dsn(dsn)
        self.publication = publication
        self.permanent_slot = slot
        self.slot_name: str | None = slot
        self.tables = tables
        self.feedback_every = feedback_every
        self.ready = threading.Event()
        self.error: str | None = None
        self.position = TapPosition()
        self.changes = 0
        self._conn: psycopg.Connection[Any] | None = None

    def run(self, on_change: ChangeHandler, stop: threading.Event) -> None:
        """Stream until ``stop`` is set, reconnecting after failures."""
        backoff = Backoff()
        while not stop.is_set():
            try:
                self._stream(on_change, stop, backoff)
            except (psycopg.Error, OSError, ValueError, KeyError) as exc:
                self.ready.clear()
                self.error = f"tap {self.name}: {str(exc).strip() or type(exc).__name__}"
                log.warning("%s; reconnecting", self.error)
                stop.wait(backoff.next())
            finally:
                self._close()
        self.ready.clear()

    def _stream(self, on_change: ChangeHandler, stop: threading.Event, backoff: Backoff) -> None:
        conn = psycopg.connect(
            self.dsn,
            autocommit=True,
            connect_timeout=10,
            application_name=f"lagwatch-tap:{self.name}",
        )
        self._conn = conn
        slot = self._create_slot(conn)
        start = sql.SQL(
            "START_REPLICATION SLOT {} LOGICAL 0/0 "
            "(proto_version '1', publication_names {}, messages 'true')"
        ).format(sql.Identifier(slot), sql.Literal(self.publication))
        pgconn = conn.pgconn
        pgconn.send_query(start.as_bytes(conn))
        result = pgconn.get_result()
        if result is None or result.status != pq.ExecStatus.COPY_BOTH:
            message: Any = result.get_error_message() if result is not None else "no result"
            text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
            raise ValueError(f"START_REPLICATION failed: {text.strip()}")
        pgconn.nonblocking = 1
        self.error = None
        self.ready.set()
        backoff.reset()
        decoder = PgOutputDecoder()
        in_transaction = False
        confirmed = 0
        last_feedback = time.monotonic()
        while not stop.is_set():
            size, data = pgconn.get_copy_data(1)
            if size == 0:
                if time.monotonic() - last_feedback >= self.feedback_every:
                    self._send(pgconn, standby_status(confirmed))
                    last_feedback = time.monotonic()
                select.select([pgconn.socket], [], [], 0.5)
                pgconn.consume_input()
                continue
            if size < 0:
                raise ValueError("the server ended the replication stream")
            frame = bytes(data)
            if frame[0] == 0x77:  # 'w' XLogData
                lsn, _wal_end, message = parse_xlogdata(frame)
                kind = message[0]
                change = decoder.decode(message, lsn)
                if kind == 0x42:  # 'B'
                    in_transaction = True
                elif kind == 0x43:  # 'C': confirm the whole transaction
                    in_transaction = False
                    confirmed = max(confirmed, decoder.end_lsn)
                if change is not None and (
                    self.tables is None or change.table in self.tables or change.op == "message"
                ):
                    self.changes += 1
                    on_change(change)
                self.position.lsn = lsn_text(max(lsn, confirmed))
                self.position.ts = time.time()
            elif frame[0] == 0x6B:  # 'k' keepalive
                wal_end, reply = parse_keepalive(frame)
                # Between transactions nothing before wal_end is still to come: confirm it,
                # so an idle publication does not make the slot retain everyone else's WAL.
                if not in_transaction:
                    confirmed = max(confirmed, wal_end)
                self.position.ts = time.time()
                if reply:
                    self._send(pgconn, standby_status(confirmed))
                    last_feedback = time.monotonic()

    def _create_slot(self, conn: psycopg.Connection[Any]) -> str:
        if self.permanent_slot is None:
            self.slot_name = f"lagwatch_tap_{secrets.token_hex(4)}"
            conn.execute(
                sql.SQL(
                    "CREATE_REPLICATION_SLOT {} TEMPORARY LOGICAL pgoutput NOEXPORT_SNAPSHOT"
                ).format(sql.Identifier(self.slot_name))
            )
            return self.slot_name
        # An existing slot is resumed from its confirmed position.
        with contextlib.suppress(psycopg.errors.DuplicateObject):
            conn.execute(
                sql.SQL("CREATE_REPLICATION_SLOT {} LOGICAL pgoutput NOEXPORT_SNAPSHOT").format(
                    sql.Identifier(self.permanent_slot)
                )
            )
        return self.permanent_slot

    @staticmethod
    def _send(pgconn: pq.abc.PGconn, frame: bytes) -> None:
        pgconn.put_copy_data(frame)
        while pgconn.flush() == 1:
            select.select([], [pgconn.socket], [], 1.0)

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
