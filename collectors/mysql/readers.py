"""CDC readers of a binlog and where each one stands: Debezium, a SQL query, lagwatch's tap.

Reader kinds (``readers:`` items of a ``kind: mysql`` source):

- ``debezium``: a Debezium MySQL/MariaDB connector, read through the Kafka
  Connect REST API ``GET …/connectors/{connector}/offsets`` (Kafka ≥ 3.5) of the
  ``connect:`` cluster the reader names (``connect: NAME``), or of its own
  ``connect_url``. Its source offset carries ``file``, ``pos``, ``event`` and, with
  GTIDs on, ``gtids``. With ``connect: NAME`` and a REST API that does not answer,
  the offset comes from the cluster's offsets topic (``collectors/connect/offsets.py``).
- ``sql``: a query you give, run on the source with the monitor login, that
  returns one row with columns ``file`` and ``pos``, or ``gtid``, or all three.
- ``tap``: lagwatch's own tap. It stores its position as a store record in
  namespace ``tap.position`` (``TAP_POSITION_NAMESPACE``), key = the reader's
  name, body ``{"file": str, "pos": int, "gtid": str, "ts": unix seconds}``
  (``gtid`` may be empty when the tap reads by file and position).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from lagwatch.collectors.connect.debezium import OffsetError, binlog_offset
from lagwatch.collectors.connect.offsets import Endpoint
from lagwatch.collectors.mysql.config import BinlogReader
from lagwatch.collectors.mysql.session import Session, error_text
from lagwatch.store import Store, StoreUnavailable
from lagwatch.store.contracts import Namespace
from lagwatch.store.types import format_duration

TAP_POSITION_NAMESPACE = Namespace.TAP_POSITION


class ReaderError(Exception):
    """A reader's position could not be read; the message says why and what to fix."""


@dataclass(frozen=True)
class ReaderPosition:
    """Where a reader stands: binlog file and position, GTID set, or both."""

    file: str | None = None
    pos: int | None = None
    gtid: str | None = None
    note: str | None = None
    event: int | None = None
    """Debezium only: events of the transaction at ``pos`` already sent."""
    snapshot: bool = False

    @classmethod
    def of(cls, fields: dict[str, Any], where: str, note: str | None = None) -> ReaderPosition:
        """Return the position in ``fields`` (keys file, pos, gtid), or raise ReaderError."""
        file = fields.get("file") or None
        gtid = str(fields["gtid"]).strip() if fields.get("gtid") else None
        raw_pos = fields.get("pos")
        if file is None and gtid is None:
            raise ReaderError(f"{where} has neither a binlog file nor a GTID set")
        if file is not None and raw_pos is None:
            raise ReaderError(f"{where} has binlog file {file} but no position")
        try:
            pos = int(raw_pos) if raw_pos is not None else None
        except (TypeError, ValueError):
            raise ReaderError(f"{where} has position {raw_pos!r}, which is not a number") from None
        return cls(str(file) if file is not None else None, pos, gtid, note)


def debezium_position(reader: BinlogReader, timeout: float) -> ReaderPosition:
    """Return the connector's committed source offset from Kafka Connect."""
    url_base = str(reader.connect_url).rstrip("/")
    url = f"{url_base}/connectors/{quote(str(reader.connector), safe='')}/offsets"
    # Notes are shown in the UI: never the credentials a URL may carry.
    parts = urlsplit(url_base)
    base = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    auth = None
    if reader.username is not None:
        secret = reader.password.get_secret_value() if reader.password else ""
        auth = httpx.BasicAuth(reader.username, secret)
    try:
        response = httpx.get(url, timeout=timeout, auth=auth)
    except httpx.HTTPError as exc:
        raise ReaderError(
            f"cannot reach Kafka Connect at {base}: {exc}; check connect_url and that Connect is up"
        ) from None
    if response.status_code == 404:
        raise ReaderError(
            f"Kafka Connect at {base} has no connector {reader.connector!r} (HTTP 404); "
            "check the connector name (the offsets endpoint needs Kafka Connect 3.5 or later)"
        )
    if response.status_code != 200:
        raise ReaderError(
            f"Kafka Connect at {base} answered HTTP {response.status_code} for the offsets "
            f"of {reader.connector!r}: {response.text[:200]}"
        )
    try:
        entries = response.json()["offsets"]
        offsets = [e["offset"] for e in entries if isinstance(e.get("offset"), dict)]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ReaderError(
            f"Kafka Connect at {base} sent offsets for {reader.connector!r} in an unknown shape; "
            'expected {"offsets": [{"partition": {...}, "offset": {...}}]}'
        ) from None
    binlog = [o for o in offsets if "file" in o or "gtids" in o]
    if not binlog:
        raise ReaderError(
            f"connector {reader.connector!r} has no committed binlog offset yet "
            "(still snapshotting, never started, or not a MySQL/MariaDB connector)"
        )
    try:
        offset = binlog_offset(binlog[0])
    except OffsetError as exc:
        raise ReaderError(f"the offset of connector {reader.connector!r}: {exc}") from None
    return ReaderPosition(
        offset.file, offset.pos, offset.gtids, None, offset.event, offset.snapshot
    )


def connect_position(
    reader: BinlogReader, endpoints: Mapping[str, Endpoint] | None
) -> ReaderPosition:
    """Return the committed offset of the connector on the connect: cluster the reader names."""
    endpoint = (endpoints or {}).get(str(reader.connect))
    if endpoint is None:
        raise ReaderError(
            f"no connect cluster named {reader.connect!r} in this run; add it under connect:"
        )
    read = endpoint.offsets(str(reader.connector))
    if read.entries is None:
        raise ReaderError(read.error or "offsets not read")
    binlog = [
        e["offset"]
        for e in read.entries
        if isinstance(e.get("offset"), dict) and ("file" in e["offset"] or "gtids" in e["offset"])
    ]
    if not binlog:
        raise ReaderError(
            f"connector {reader.connector!r} has no committed binlog offset yet "
            "(still snapshotting, never started, or not a MySQL/MariaDB connector)"
        )
    try:
        offset = binlog_offset(binlog[0])
    except OffsetError as exc:
        raise ReaderError(f"the offset of connector {reader.connector!r}: {exc}") from None
    return ReaderPosition(
        offset.file, offset.pos, offset.gtids, read.note, offset.event, offset.snapshot
    )


def sql_position(reader: BinlogReader, session: Session) -> ReaderPosition:
    """Return the position the reader's query returns."""
    try:
        (rows,) = session.run([str(reader.query)])
    except Exception as exc:
        raise ReaderError(f"its query failed: {error_text(exc)}; fix the query") from None
    if len(rows) != 1:
        raise ReaderError(f"its query returned {len(rows)} rows; it must return exactly one")
    row = {str(k).lower(): v for k, v in rows[0].items()}
    if not {"file", "pos", "gtid"} & set(row):
        raise ReaderError(
            f"its query returned columns {sorted(row)}; name them file and pos, or gtid"
        )
    return ReaderPosition.of(row, "the row of its query")


def tap_position(reader: BinlogReader, store: Store | None, now: float) -> ReaderPosition:
    """Return the position the tap last stored for this reader."""
    if store is None:
        raise ReaderError("a tap reader needs the lagwatch store, which this run does not have")
    try:
        record = store.get_record(TAP_POSITION_NAMESPACE, reader.name)
    except StoreUnavailable as exc:
        raise ReaderError(f"cannot read the tap's position from the store: {exc}") from None
    if record is None:
        raise ReaderError(
            f"the tap has stored no position under {reader.name!r} yet; "
            "check the tap runs and uses this reader name"
        )
    stamp = record.body.get("ts", record.ts)
    age = format_duration(now - float(stamp)) if isinstance(stamp, int | float) else "unknown"
    return ReaderPosition.of(record.body, "the tap's stored position", f"tap reported {age} ago")


def read_position(
    reader: BinlogReader,
    session: Session,
    store: Store | None,
    timeout: float,
    now: float,
    endpoints: Mapping[str, Endpoint] | None = None,
) -> ReaderPosition:
    """Return where ``reader`` stands, or raise ReaderError."""
    if reader.kind == "debezium" and reader.connect is not None:
        return connect_position(reader, endpoints)
    if reader.kind == "debezium":
        return debezium_position(reader, timeout)
    if reader.kind == "sql":
        return sql_position(reader, session)
    return tap_position(reader, store, now)
