"""How far a Debezium connector is behind its source, in bytes and seconds (pure functions).

PostgreSQL: bytes = the source's current WAL position (``pg_current_wal_lsn()``, the replay
position on a standby) minus where the connector has certainly got to: the offset's ``lsn``,
or the slot's ``confirmed_flush_lsn`` when that is further (the server sends nothing before
it). That is exact for "WAL after the connector's position", but it is not 0 for a connector
that has read everything: after the last change come its commit record and the server's own
bookkeeping records. So a connector counts as caught up, 0 bytes, when the server proves
nothing was committed after the transaction of the offset (``txId``):

- with ``track_commit_timestamp = on``: the last committed transaction
  (``pg_last_committed_xact()``) is ``txId`` — exact, in commit order;
- otherwise: no transaction id was assigned after it
  (``txid_snapshot_xmax(txid_current_snapshot())`` is ``txId + 1``). This misses one case: a
  transaction older than ``txId`` that commits after it and is not read yet.

Both are server-wide, so commits to other tables or databases make the proof fail and the
bytes after the offset count, the known limit of reading positions from the outside
(Debezium's ``heartbeat.interval.ms`` with ``heartbeat.action.query`` moves the offset past
them).

MySQL/MariaDB: bytes = binlog written after the offset's ``file``/``pos`` (rest of that file
plus every later file), 0 when ``mysql.lag.idle_reader`` finds nothing after the transaction the
offset stands in.

Seconds = now − the offset's source timestamp (the commit time of the last change sent),
written only while changes wait (bytes > 0): an upper bound of how stale the topic is.
"""

from __future__ import annotations

from dataclasses import dataclass

from lagwatch.collectors.connect.debezium import BinlogOffset, PgOffset, next_xid
from lagwatch.collectors.connect.sources import BinlogReading, Link, PgReading
from lagwatch.collectors.mysql.lag import idle_reader


@dataclass(frozen=True)
class SourceLag:
    bytes: int
    seconds: float | None
    note: str


def _seconds(waiting: int, ts: float | None, now: float) -> float | None:
    if waiting <= 0:
        return 0.0
    return None if ts is None else max(0.0, now - ts)


def pg_lag(
    offset: PgOffset, reading: PgReading, slot: str | None, link: Link, now: float
) -> SourceLag:
    where = f"source {link.source} (by {link.how})"
    row = reading.slots.get(slot) if slot else None
    processed, at = offset.lsn, "the offset's lsn"
    if row is not None and row.confirmed is not None and row.confirmed > processed:
        processed, at = row.confirmed, f"slot {slot}'s confirmed_flush_lsn"
    if not offset.snapshot and offset.tx_id is not None:
        if reading.last_commit_xid is not None:
            idle = reading.last_commit_xid == offset.tx_id & 0xFFFFFFFF
            why = "the last commit on the server"
        else:
            idle = reading.next_xid is not None and reading.next_xid & 0xFFFFFFFF == next_xid(
                offset.tx_id
            )
            why = "no transaction id assigned after it"
        if idle:
            return SourceLag(0, 0.0, f"{where}: caught up, txid {offset.tx_id} is {why}")
    waiting = max(0, reading.current_lsn - processed)
    note = f"{where}: {waiting:,} B of WAL after {at}"
    if slot and row is None:
        note += f"; slot {slot} not found on the source"
    return SourceLag(waiting, _seconds(waiting, offset.ts, now), note)


def binlog_lag(
    offset: BinlogOffset, reading: BinlogReading, link: Link, now: float
) -> SourceLag | str:
    where = f"source {link.source} (by {link.how})"
    if offset.file is None or offset.pos is None:
        return f"{where}: the offset has only a GTID set, no file and position to count bytes from"
    state = reading.state
    waiting = state.bytes_after(offset.file, offset.pos)
    if waiting is None:
        # Its file is gone (purged, or another server's): every byte the server has, at least.
        at_least = state.total_bytes
        note = (
            f"{where}: at least {at_least:,} B; binlog file {offset.file} of the offset is not "
            f"on the server (purged, or another server's), the oldest kept is {state.files[0].name}"
        )
        return SourceLag(at_least, _seconds(at_least, offset.ts, now), note)
    idle = (
        None
        if offset.snapshot
        else idle_reader(reading.session, state, offset.file, offset.pos, offset.event)
    )
    if idle is not None:
        return SourceLag(0, 0.0, f"{where}: {idle}")
    note = f"{where}: {waiting:,} B of binlog after {offset.file}:{offset.pos}"
    return SourceLag(waiting, _seconds(waiting, offset.ts, now), note)
