"""Debezium source offsets, understood per connector class, and what a connector reads from.

Offsets as Debezium 3.x commits them (recorded from real connectors, see
``sample_data/connect/``):

- PostgreSQL (``io.debezium.connector.postgresql.PostgresConnector``), partition
  ``{"server": <topic.prefix>}``: ``lsn`` (the LSN of the last change sent, a decimal integer;
  older releases may write ``"0/16B3748"``), ``lsn_proc`` (last completely processed),
  ``lsn_commit`` (commit LSN of the last transaction completed before it, once streaming
  resumed), ``txId`` (its transaction id), ``ts_usec`` (its commit time). During the
  initial snapshot: ``"snapshot": "INITIAL"`` (``true`` in older releases),
  ``"snapshot_completed": false`` and ``last_snapshot_record``.
- MySQL / MariaDB (``io.debezium.connector.mysql.MySqlConnector``,
  ``io.debezium.connector.mariadb.MariaDbConnector``): ``file`` / ``pos`` — the start of the
  last transaction that produced a record, the restart point — ``gtids`` (the set completed
  *before* that transaction), ``event`` / ``row`` (events and rows of it already sent, skipped
  on restart), ``ts_sec``, ``server_id``. During the snapshot ``"snapshot": "INITIAL"``
  (``true`` in older releases); the key is gone once streaming.

A connector class lagwatch does not know is read by the shape of its offset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

POSTGRES_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
BINLOG_CLASSES = frozenset(
    {
        "io.debezium.connector.mysql.MySqlConnector",
        "io.debezium.connector.mariadb.MariaDbConnector",
        "io.debezium.connector.binlog.BinlogConnector",
    }
)
DEBEZIUM_PREFIX = "io.debezium."
# Families of connector classes, by what they read.
WAL = "wal"  # PostgreSQL
BINLOG = "binlog"  # MySQL / MariaDB
DEFAULT_SLOT = "debezium"  # Debezium's default slot.name
DEFAULT_PUBLICATION = "dbz_publication"  # Debezium's default publication.name


class OffsetError(ValueError):
    """A Debezium offset lagwatch cannot read; the message says what it has."""


@dataclass(frozen=True)
class PgOffset:
    """Where a Debezium PostgreSQL connector stands."""

    lsn: int
    lsn_proc: int | None
    lsn_commit: int | None
    tx_id: int | None
    ts: float | None
    snapshot: bool


@dataclass(frozen=True)
class BinlogOffset:
    """Where a Debezium MySQL/MariaDB connector stands (its restart point)."""

    file: str | None
    pos: int | None
    gtids: str | None
    event: int
    row: int
    ts: float | None
    snapshot: bool


SourceOffset = PgOffset | BinlogOffset


def is_debezium(connector_class: str) -> bool:
    return connector_class.startswith(DEBEZIUM_PREFIX)


def family(connector_class: str) -> str | None:
    """Return WAL, BINLOG or None (a connector class lagwatch cannot link to a source)."""
    if connector_class == POSTGRES_CLASS:
        return WAL
    if connector_class in BINLOG_CLASSES:
        return BINLOG
    return None


def parse_lsn(value: Any) -> int:
    """Return an LSN given as a decimal integer or as PostgreSQL's ``X/Y`` text."""
    if isinstance(value, bool):
        raise OffsetError(f"lsn {value!r} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if "/" in text:
            high, _, low = text.partition("/")
            try:
                return (int(high, 16) << 32) + int(low, 16)
            except ValueError:
                pass
        elif text.isdigit():
            return int(text)
    raise OffsetError(f"lsn {value!r} is neither a number nor X/Y")


def snapshot_running(offset: Mapping[str, Any]) -> bool:
    """True while the offset says an initial snapshot is under way."""
    flag = offset.get("snapshot")
    if flag is None or flag is False:
        return False
    if isinstance(flag, str) and flag.strip().lower() in ("", "false", "off"):
        return False
    return offset.get("snapshot_completed") is not True


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def pg_offset(offset: Mapping[str, Any]) -> PgOffset:
    if "lsn" not in offset:
        raise OffsetError(f"a PostgreSQL offset without lsn (keys: {', '.join(sorted(offset))})")
    ts_usec = _int(offset.get("ts_usec"))
    return PgOffset(
        lsn=parse_lsn(offset["lsn"]),
        lsn_proc=parse_lsn(offset["lsn_proc"]) if offset.get("lsn_proc") is not None else None,
        lsn_commit=(
            parse_lsn(offset["lsn_commit"]) if offset.get("lsn_commit") is not None else None
        ),
        tx_id=_int(offset.get("txId")),
        ts=ts_usec / 1e6 if ts_usec is not None else None,
        snapshot=snapshot_running(offset),
    )


def binlog_offset(offset: Mapping[str, Any]) -> BinlogOffset:
    file = offset.get("file") or None
    gtids = str(offset["gtids"]).strip() if offset.get("gtids") else None
    pos = _int(offset.get("pos"))
    if file is None and gtids is None:
        raise OffsetError("a binlog offset with neither file nor gtids")
    if file is not None and pos is None:
        raise OffsetError(f"a binlog offset with file {file} but no numeric pos")
    ts_sec = _int(offset.get("ts_sec"))
    return BinlogOffset(
        file=str(file) if file is not None else None,
        pos=pos,
        gtids=gtids,
        event=_int(offset.get("event")) or 0,
        row=_int(offset.get("row")) or 0,
        ts=float(ts_sec) if ts_sec is not None else None,
        snapshot=snapshot_running(offset),
    )


def source_offset(
    connector_class: str, entries: Sequence[Mapping[str, Any]], server: str | None = None
) -> SourceOffset | None:
    """Return the connector's source offset, None when it has committed none yet.

    ``entries`` is the ``offsets`` list of ``GET /connectors/{c}/offsets`` (or the same read
    from the offsets topic). With several partitions, the one of ``server`` (its
    ``topic.prefix``) wins.
    """
    offsets = [e for e in entries if isinstance(e.get("offset"), Mapping)]
    if server is not None and len(offsets) > 1:
        mine = [e for e in offsets if (e.get("partition") or {}).get("server") == server]
        offsets = mine or offsets
    if not offsets:
        return None
    offset = offsets[0]["offset"]
    kind = family(connector_class)
    if kind is None:
        kind = (
            WAL if "lsn" in offset else BINLOG if ("file" in offset or "gtids" in offset) else None
        )
    if kind == WAL:
        return pg_offset(offset)
    if kind == BINLOG:
        return binlog_offset(offset)
    raise OffsetError(
        f"an offset lagwatch cannot read (keys: {', '.join(sorted(offset))}); "
        "set offsets: none for this cluster if it holds no Debezium connectors"
    )


@dataclass(frozen=True)
class Target:
    """What a Debezium connector reads, from its config: used to link it to a source."""

    family: str | None
    host: str | None
    port: int | None
    dbname: str | None
    slot: str | None
    server: str | None
    publication: str | None = None
    """PostgreSQL: the publication it reads (``publication.name``)."""

    def address(self) -> str:
        where = f"{self.host}:{self.port}"
        return f"{where}/{self.dbname}" if self.dbname else where


def target_of(connector_class: str, config: Mapping[str, str]) -> Target:
    kind = family(connector_class)
    default_port = 5432 if kind == WAL else 3306
    port = _int(config.get("database.port"))
    return Target(
        family=kind,
        host=config.get("database.hostname") or None,
        port=port if port is not None else default_port,
        dbname=config.get("database.dbname") or None if kind == WAL else None,
        slot=(config.get("slot.name") or DEFAULT_SLOT) if kind == WAL else None,
        server=config.get("topic.prefix") or config.get("database.server.name") or None,
        publication=(config.get("publication.name") or DEFAULT_PUBLICATION)
        if kind == WAL
        else None,
    )


def next_xid(tx_id: int) -> int:
    """Return the 32-bit transaction id PostgreSQL assigns after ``tx_id`` (skipping 0–2)."""
    following = (tx_id + 1) & 0xFFFFFFFF
    return following if following >= 3 else 3
