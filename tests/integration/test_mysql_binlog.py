"""The MySQL/MariaDB collector on the devstack's shared MariaDB, run as the monitor login.

These tests only rotate (FLUSH BINARY LOGS) and purge up to files they made
by flushing; they never change a global setting of the shared server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
from pymysql.converters import escape_string

from lagwatch.collectors.mysql import MysqlCollector, MysqlSource, connect_args
from tests.support.connect_stub import ConnectStub
from tests.support.sample_find import one

PURGE_WAIT = 20.0


@contextmanager
def admin(dsn: str) -> Iterator[Any]:
    conn = pymysql.connect(**connect_args(dsn, 10))
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def write_position(cur: Any) -> tuple[str, int]:
    cur.execute("SHOW MASTER STATUS")
    file, pos = cur.fetchone()[:2]
    return str(file), int(pos)


def bytes_after(cur: Any, file: str, pos: int) -> int:
    """Bytes written after (file, pos), summed straight from SHOW BINARY LOGS."""
    cur.execute("SHOW BINARY LOGS")
    sizes = [(str(row[0]), int(row[1])) for row in cur.fetchall()]
    names = [name for name, _ in sizes]
    current, position = write_position(cur)
    total = 0
    for name, size in sizes[names.index(file) :]:
        end = position if name == current else size
        total += end - (pos if name == file else 0)
    return total


def flush(cur: Any) -> str:
    cur.execute("FLUSH BINARY LOGS")
    return write_position(cur)[0]


def static_reader(
    name: str, file: str | None = None, pos: int = 4, gtid: str | None = None
) -> dict[str, str]:
    """A SQL reader whose query returns a fixed position."""
    columns = []
    if file is not None:
        columns += [f"'{escape_string(file)}' AS file", f"{int(pos)} AS pos"]
    if gtid is not None:
        columns.append(f"'{escape_string(gtid)}' AS gtid")
    return {"name": name, "query": "SELECT " + ", ".join(columns)}


def collector(dsn: str, *readers: dict[str, Any]) -> MysqlCollector:
    source = {"name": "shared", "kind": "mysql", "dsn": dsn, "readers": list(readers)}
    return MysqlCollector(MysqlSource.model_validate(source))


@contextmanager
def scratch_table(admin_dsn: str, unique: str) -> Iterator[str]:
    table = f"lagwatch_test.lw_binlog_{unique}"
    with admin(admin_dsn) as cur:
        cur.execute(f"CREATE TABLE {table} (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(200))")
    try:
        yield table
    finally:
        with admin(admin_dsn) as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def insert_rows(cur: Any, table: str, rows: int) -> None:
    for _ in range(rows):
        cur.execute(f"INSERT INTO {table} (note) VALUES (REPEAT('x', 150))")  # noqa: S608 - our table


def test_rotation_and_a_reader_left_behind(
    mysql_admin_dsn: str, mysql_monitor_dsn: str, unique: str
) -> None:
    with scratch_table(mysql_admin_dsn, unique) as table, admin(mysql_admin_dsn) as cur:
        # Given a reader that stopped at the current write position,
        file0, pos0 = write_position(cur)
        c = collector(mysql_monitor_dsn, static_reader("late", file0, pos0))
        low = bytes_after(cur, file0, pos0)
        first = c.collect()
        high = bytes_after(cur, file0, pos0)
        behind0 = one(first, "lagwatch_mysql_binlog_reader_behind_bytes").value
        assert low <= behind0 <= high
        assert one(first, "lagwatch_mysql_binlog_format_ok", binlog_format="ROW").value == 1

        # when 50 rows of 150 bytes are written past it,
        insert_rows(cur, table, 50)
        second = c.collect()
        behind1 = one(second, "lagwatch_mysql_binlog_reader_behind_bytes").value
        assert behind1 >= behind0 + 50 * 150

        # and the binlog rotates,
        t_before = time.time()
        newer = flush(cur)
        third = c.collect()
        t_after = time.time()

        # then the collector sees the new file and counts the reader's whole rest of file0,
        number = one(third, "lagwatch_mysql_binlog_current_file_number")
        assert number.value >= int(newer.rsplit(".", 1)[1]) > int(file0.rsplit(".", 1)[1])
        assert one(third, "lagwatch_mysql_binlog_reader_behind_bytes").value >= behind1
        assert one(third, "lagwatch_mysql_binlog_reader_lost").value == 0
        # and expiry (7 days on the devstack) now runs from file0's rotation, seen this cycle.
        eta = one(third, "lagwatch_mysql_binlog_purge_eta_seconds")
        retention = one(third, "lagwatch_mysql_binlog_retention_seconds").value
        assert retention > 0
        assert retention - (t_after - t_before) - 30 <= eta.value <= retention
        assert eta.note is None


def test_purge_leaves_a_reader_lost(
    mysql_admin_dsn: str, mysql_monitor_dsn: str, unique: str
) -> None:
    with scratch_table(mysql_admin_dsn, unique) as table, admin(mysql_admin_dsn) as cur:
        # Given three files of our own: a reader at the start of the first one,
        first_file = flush(cur)
        cur.execute("SELECT @@gtid_binlog_pos")
        old_gtid = str(cur.fetchone()[0])
        insert_rows(cur, table, 5)
        second_file = flush(cur)
        insert_rows(cur, table, 5)
        flush(cur)
        cur.execute("SELECT @@gtid_binlog_pos")
        new_gtid = str(cur.fetchone()[0])
        c = collector(
            mysql_monitor_dsn,
            static_reader("stalled", first_file, 4),
            static_reader("old-gtid", gtid=old_gtid),
            static_reader("new-gtid", gtid=new_gtid),
        )
        before = c.collect()
        assert one(before, "lagwatch_mysql_binlog_reader_lost", reader="stalled").value == 0
        assert one(before, "lagwatch_mysql_binlog_reader_gtid_ok", reader="old-gtid").value == 1

        # when the binlog is purged up to our second file
        # (the server waits for its binlog checkpoint before it lets a file go),
        deadline = time.monotonic() + PURGE_WAIT
        while True:
            cur.execute(f"PURGE BINARY LOGS TO '{escape_string(second_file)}'")
            cur.execute("SHOW BINARY LOGS")
            oldest = str(cur.fetchall()[0][0])
            if oldest >= second_file or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert oldest >= second_file, f"the server kept {oldest}"
        after = c.collect()

    # then the file reader is lost, its purge ETA is 0 and its lag a lower bound,
    lost = one(after, "lagwatch_mysql_binlog_reader_lost", reader="stalled")
    assert lost.value == 1 and f"{first_file} is purged" in (lost.note or "")
    assert one(after, "lagwatch_mysql_binlog_purge_eta_seconds", reader="stalled").value == 0
    behind = one(after, "lagwatch_mysql_binlog_reader_behind_bytes", reader="stalled")
    assert (behind.note or "").startswith("at least")
    # and a GTID reader from before the purge will fail, while a current one will not.
    old = one(after, "lagwatch_mysql_binlog_reader_gtid_ok", reader="old-gtid")
    assert old.value == 0 and "purged up to" in (old.note or "")
    assert one(after, "lagwatch_mysql_binlog_reader_lost", reader="old-gtid").value == 1
    assert one(after, "lagwatch_mysql_binlog_reader_gtid_ok", reader="new-gtid").value == 1


def test_debezium_reader_through_a_connect_rest_server(
    mysql_admin_dsn: str, mysql_monitor_dsn: str
) -> None:
    with admin(mysql_admin_dsn) as cur, ConnectStub() as connect:
        file, pos = write_position(cur)
        cur.execute("SELECT @@gtid_binlog_pos")
        gtid = str(cur.fetchone()[0])
        connect.offsets("legacy", server="legacy", file=file, pos=pos, gtids=gtid, ts_sec=1)
        c = collector(
            mysql_monitor_dsn,
            {"name": "dbz", "connect_url": connect.url, "connector": "legacy"},
            {"name": "typo", "connect_url": connect.url, "connector": "legcay"},
        )
        low = bytes_after(cur, file, pos)
        samples = c.collect()
        high = bytes_after(cur, file, pos)
    assert one(samples, "lagwatch_mysql_binlog_reader_up", reader="dbz").value == 1
    assert (
        low <= one(samples, "lagwatch_mysql_binlog_reader_behind_bytes", reader="dbz").value <= high
    )
    assert one(samples, "lagwatch_mysql_binlog_reader_gtid_ok", reader="dbz").value == 1
    typo = one(samples, "lagwatch_mysql_binlog_reader_up", reader="typo")
    assert typo.value == 0 and "no connector 'legcay'" in (typo.note or "")
