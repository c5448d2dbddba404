"""Decode PostgreSQL's pgoutput logical replication messages (protocol version 1).

The wire format is documented in the PostgreSQL manual, "Logical Replication
Message Formats". Only what a tap needs is decoded: Begin/Commit (for the
commit time), Relation (column names), Insert/Update/Delete tuples as text,
and logical decoding Messages. Origin, Type and Truncate are skipped.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Any

from lagwatch.collectors.tap.change import Change

# PostgreSQL timestamps count microseconds from 2000-01-01 UTC.
PG_EPOCH = 946_684_800.0

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_I64 = struct.Struct("!q")
_U64 = struct.Struct("!Q")
_BEGIN = struct.Struct("!QqI")
_COMMIT = struct.Struct("!bQQq")
_XLOG = struct.Struct("!QQq")
_KEEPALIVE = struct.Struct("!Qq?")
_STATUS = struct.Struct("!cQQQq?")


def lsn_text(lsn: int) -> str:
    """Return an LSN in PostgreSQL's X/X form."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """Return the integer form of an X/X LSN."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def pg_time(micros: int) -> float:
    """Return seconds since the Unix epoch for a PostgreSQL microsecond timestamp."""
    return PG_EPOCH + micros / 1_000_000


def now_micros() -> int:
    """Return the current time as a PostgreSQL microsecond timestamp."""
    return int((time.time() - PG_EPOCH) * 1_000_000)


def standby_status(lsn: int, reply: bool = False) -> bytes:
    """Return a Standby Status Update ('r') confirming ``lsn`` written, flushed and applied."""
    return _STATUS.pack(b"r", lsn, lsn, lsn, now_micros(), reply)


def parse_xlogdata(data: bytes) -> tuple[int, int, bytes]:
    """Return (start LSN, server WAL end, pgoutput message) of an XLogData ('w') frame."""
    start, wal_end, _sent = _XLOG.unpack_from(data, 1)
    return start, wal_end, data[25:]


def parse_keepalive(data: bytes) -> tuple[int, bool]:
    """Return (server WAL end, reply requested) of a Primary Keepalive ('k') frame."""
    wal_end, _sent, reply = _KEEPALIVE.unpack_from(data, 1)
    return wal_end, reply


@dataclass(slots=True)
class Relation:
    """A table as pgoutput describes it before its first change."""

    schema: str
    name: str
    columns: list[str]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


class PgOutputDecoder:
    """Turns pgoutput messages into `Change`s, remembering relations and the commit time.

    Failure policy: an unknown message type raises ValueError, because a
    decoder that guesses would hand on wrong rows; the tap reconnects.
    """

    def __init__(self) -> None:
        self.relations: dict[int, Relation] = {}
        self.commit_ts: float | None = None
        self.commit_lsn = 0
        self.end_lsn = 0
        self.transactions = 0

    def decode(self, msg: bytes, lsn: int) -> Change | None:
        """Return the change one message carries, or None for bookkeeping messages."""
        kind = msg[0]
        if kind == 0x49:  # 'I' insert
            relation = self.relations[_U32.unpack_from(msg, 1)[0]]
            row, _ = self._tuple(msg, 6, relation)
            return Change(
                relation.qualified, "insert", row, self.commit_ts, lsn_text(lsn), time.time()
            )
        if kind == 0x55:  # 'U' update: optional old key/tuple, then the new tuple
            relation = self.relations[_U32.unpack_from(msg, 1)[0]]
            offset, old = 5, None
            if msg[offset] in (0x4B, 0x4F):  # 'K' key, 'O' old tuple
                old, offset = self._tuple(msg, offset + 1, relation)
            row, _ = self._tuple(msg, offset + 1, relation)
            return Change(
                relation.qualified, "update", row, self.commit_ts, lsn_text(lsn), time.time(), old
            )
        if kind == 0x44:  # 'D' delete: the old key or tuple
            relation = self.relations[_U32.unpack_from(msg, 1)[0]]
            row, _ = self._tuple(msg, 6, relation)
            return Change(
                relation.qualified, "delete", row, self.commit_ts, lsn_text(lsn), time.time()
            )
        if kind == 0x42:  # 'B' begin
            self.commit_lsn, micros, _xid = _BEGIN.unpack_from(msg, 1)
            self.commit_ts = pg_time(micros)
            return None
        if kind == 0x43:  # 'C' commit
            _flags, self.commit_lsn, self.end_lsn, micros = _COMMIT.unpack_from(msg, 1)
            self.commit_ts = pg_time(micros)
            self.transactions += 1
            return None
        if kind == 0x52:  # 'R' relation
            self._relation(msg)
            return None
        if kind == 0x4D:  # 'M' logical decoding message
            return self._message(msg, lsn)
        if kind in (0x4F, 0x59, 0x54):  # 'O' origin, 'Y' type, 'T' truncate
            return None
        raise ValueError(f"unexpected pgoutput message type {chr(kind)!r}")

    def _relation(self, msg: bytes) -> None:
        oid = _U32.unpack_from(msg, 1)[0]
        offset = 5
        schema, offset = _cstring(msg, offset)
        name, offset = _cstring(msg, offset)
        offset += 1  # replica identity setting
        (count,) = _I16.unpack_from(msg, offset)
        offset += 2
        columns = []
        for _ in range(count):
            offset += 1  # flags: part of the key
            column, offset = _cstring(msg, offset)
            offset += 8  # type oid, type modifier
            columns.append(column)
        self.relations[oid] = Relation(schema, name, columns)

    def _tuple(self, msg: bytes, offset: int, relation: Relation) -> tuple[dict[str, Any], int]:
        (count,) = _I16.unpack_from(msg, offset)
        offset += 2
        row: dict[str, Any] = {}
        columns = relation.columns
        for i in range(count):
            kind = msg[offset]
            offset += 1
            if kind == 0x74:  # 't' text value
                (length,) = _I32.unpack_from(msg, offset)
                offset += 4
                row[columns[i]] = msg[offset : offset + length].decode()
                offset += length
            elif kind == 0x6E:  # 'n' null
                row[columns[i]] = None
            # 'u': an unchanged TOASTed value is not sent; leave the column out.
        return row, offset

    def _message(self, msg: bytes, lsn: int) -> Change:
        flags = msg[1]
        (message_lsn,) = _U64.unpack_from(msg, 2)
        prefix, offset = _cstring(msg, 10)
        (length,) = _I32.unpack_from(msg, offset)
        content = msg[offset + 4 : offset + 4 + length]
        return Change(
            prefix,
            "message",
            {"content": content.decode(errors="replace"), "transactional": bool(flags & 1)},
            self.commit_ts if flags & 1 else None,
            lsn_text(message_lsn or lsn),
            time.time(),
        )


def _cstring(msg: bytes, offset: int) -> tuple[str, int]:
    end = msg.index(0, offset)
    return msg[offset:end].decode(), end + 1
