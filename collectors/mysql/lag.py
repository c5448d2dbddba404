"""How far behind a Debezium binlog reader is, exactly, when it has caught up.

A Debezium MySQL/MariaDB offset is a restart point: ``file``/``pos`` is the start of the last
transaction that produced a record, ``event`` says how many of that transaction's events were
already sent. So "bytes after the offset" of an idle, caught-up reader is the size of its last
transaction, not 0. This module tells the two apart from the binlog itself
(``SHOW BINLOG EVENTS``, which the monitor login may run with BINLOG MONITOR on MariaDB
10.5+ or REPLICATION SLAVE on MySQL): the reader has caught up when the transaction at its
offset is the last one in the binlog and the offset has passed its last row event. Anything
else — a later transaction, even on a table the reader does not capture — counts as behind.
"""

from __future__ import annotations

from collections.abc import Sequence

import pymysql

from lagwatch.collectors.mysql.read import BinlogState
from lagwatch.collectors.mysql.session import Rows, Session

EVENTS_SQL = "SHOW BINLOG EVENTS IN %s FROM %s LIMIT %s"
SCAN_EVENTS = 500
# Past this many bytes after the offset the reader is behind whatever the events say:
# don't read them.
SCAN_BYTES = 256 * 1024
# Events Debezium does not count in an offset's `event` (MariaDB, verified on 10.11 with the
# Debezium MariaDB connector 3.5): the transaction's GTID and the statement annotations.
UNCOUNTED = frozenset({"Gtid", "Anonymous_Gtid", "Annotate_rows", "Rows_query"})
ROW_EVENT_PREFIXES = ("Write_rows", "Update_rows", "Delete_rows")
# Events that may follow a transaction without being data for a reader.
NOT_DATA = frozenset(
    {"Binlog_checkpoint", "Gtid_list", "Previous_gtids", "Heartbeat", "Rotate", "Stop"}
)


def _commit(row: dict[str, object]) -> bool:
    kind = str(row.get("Event_type", ""))
    return kind == "Xid" or (
        kind == "Query" and str(row.get("Info", "")).strip().upper() in ("COMMIT", "XA COMMIT")
    )


def _begin(row: dict[str, object]) -> bool:
    return (
        str(row.get("Event_type")) == "Query"
        and str(row.get("Info", "")).strip().upper() == "BEGIN"
    )


def caught_up_in(events: Sequence[dict[str, object]], events_done: int, end: int) -> bool:
    """True when ``events`` (read from the offset on) are one transaction, its row events all
    sent (``events_done`` counted as Debezium counts), and nothing but bookkeeping after it
    up to the binlog's end position ``end``."""
    if not events or str(events[0].get("Event_type")) not in ("Gtid", "Anonymous_Gtid", "Query"):
        return False
    counted = 0
    last_rows = 0
    commit_at = None
    for i, row in enumerate(events):
        kind = str(row.get("Event_type", ""))
        if i > 0 and kind in ("Gtid", "Anonymous_Gtid"):
            return False  # a second transaction before this one's commit: not one transaction
        if _commit(row):
            commit_at = i
            break
        if kind in UNCOUNTED or _begin(row):
            continue
        counted += 1
        if kind.startswith(ROW_EVENT_PREFIXES):
            last_rows = counted
    if commit_at is None or events_done < last_rows:
        return False
    position = int(str(events[commit_at]["End_log_pos"]))
    for row in events[commit_at + 1 :]:
        if str(row.get("Event_type")) not in NOT_DATA:
            return False
        position = int(str(row["End_log_pos"]))
    return position >= end


def idle_reader(
    session: Session, state: BinlogState, file: str, pos: int, events_done: int | None
) -> str | None:
    """Return why a Debezium reader at (file, pos, events_done) has nothing left to read, or
    None when it may have (or lagwatch cannot tell: the events cannot be read)."""
    if events_done is None or file != state.current_file:
        return None
    waiting = state.position - pos
    if waiting <= 0 or waiting > SCAN_BYTES:
        return None
    try:
        events: Rows = session.query(EVENTS_SQL, (file, pos, SCAN_EVENTS))
    except pymysql.MySQLError:  # a missing privilege or an odd server: only the offset counts
        return None
    if caught_up_in(events, events_done, state.position):
        return (
            f"caught up: the transaction at {file}:{pos} is the last in the binlog and "
            "every row of it was sent"
        )
    return None
