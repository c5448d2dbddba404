"""Outbox backlog, age and rates on the devstack's MariaDB, read by its monitor role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from lagwatch.collectors.mysql import connect_args
from lagwatch.collectors.outbox import MYSQL
from lagwatch.collectors.outbox.read import quote_mysql
from tests.integration.outbox_helpers import (
    PUBLISHED,
    by_table,
    outbox_collector,
    published_at_scenario,
)


@pytest.fixture
def maria(mysql_admin_dsn) -> Iterator[Any]:
    conn = pymysql.connect(**connect_args(mysql_admin_dsn, 10))
    try:
        yield conn
    finally:
        conn.close()


def maria_monitor(mysql_monitor_dsn: str):
    return lambda: pymysql.connect(**connect_args(mysql_monitor_dsn, 5))


def run(conn: Any, statement: str, *names: str, args: Any = None, many: bool = False) -> None:
    """Execute ``statement`` with each {} replaced by a backtick-quoted name from ``names``."""
    text = statement.format(*(quote_mysql(n) for n in names))
    with conn.cursor() as cur:
        if many:
            cur.executemany(text, args)
        else:
            cur.execute(text, args)


def test_mariadb_published_at_outbox(maria, mysql_monitor_dsn, unique):
    """Given 10 pending rows on MariaDB, the oldest 600 s old, when 4 are published
    and 3 written in a 10 s cycle, then backlog 10 -> 9, 0.3 created/s, 0.4 published/s."""
    table = f"lw_outbox_{unique}"
    run(maria, "CREATE TABLE {} (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
               "created_at DATETIME(6), published_at DATETIME(6) NULL)", table)  # fmt: skip
    try:
        for i in range(1, 11):
            run(
                maria,
                "INSERT INTO {} (created_at) VALUES (NOW(6) - INTERVAL %s SECOND)",
                table,
                args=(60 * i,),
            )
        box = outbox_collector(
            MYSQL, maria_monitor(mysql_monitor_dsn), {"table": table, **PUBLISHED}
        )

        def publish_four_write_three() -> None:
            run(maria, "UPDATE {} SET published_at = NOW(6) ORDER BY created_at LIMIT 4", table)
            run(maria, "INSERT INTO {} (created_at) VALUES (NOW(6)), (NOW(6)), (NOW(6))", table)

        published_at_scenario(box, table, publish_four_write_three)
    finally:
        run(maria, "DROP TABLE {}", table)


def test_mariadb_status_outbox_with_stuck_rows_and_cap(maria, mysql_monitor_dsn, unique):
    table = f"lw_status_{unique}"
    run(maria, "CREATE TABLE {} (created DATETIME DEFAULT NOW(), "
               "state ENUM('new','retry','sent'), attempts INT)", table)  # fmt: skip
    rows = [("new", 0)] * 3 + [("retry", 5)] * 2 + [("retry", 1)] + [("sent", 1)] * 4
    try:
        run(maria, "INSERT INTO {} (state, attempts) VALUES (%s, %s)", table, args=rows, many=True)
        spec = {"table": table, "created_at": "created", "status": "state",
                "pending_values": ["new", "retry"], "attempts": "attempts", "max_attempts": 3}  # fmt: skip
        box = outbox_collector(
            MYSQL,
            maria_monitor(mysql_monitor_dsn),
            spec,
            {**spec, "table": f"lagwatch_test.{table}", "count_cap": 4},
        )
        found = by_table(box.collect())
        box.close()
        assert found[table]["lagwatch_outbox_backlog_rows"].value == 6
        assert found[table]["lagwatch_outbox_stuck_rows"].value == 2
        capped = found[f"lagwatch_test.{table}"]
        assert capped["lagwatch_outbox_backlog_rows"].value == 4
        assert capped["lagwatch_outbox_backlog_capped"].value == 1
    finally:
        run(maria, "DROP TABLE {}", table)


def test_mariadb_hostile_names_are_quoted_not_executed(maria, mysql_monitor_dsn, unique):
    """Given a table and columns named with backticks, quotes, %-placeholders and
    braces, the collector reads the right rows and the sentinel table survives."""
    table = f"out`box%(limit)s{{}}; DROP `{unique}"
    created, published = "created`at%s", "pub'); DROP TABLE x; --"
    sentinel = f"lw_sentinel_{unique}"
    run(maria, "CREATE TABLE {} (x INT)", sentinel)
    run(
        maria,
        "CREATE TABLE {} ({} DATETIME DEFAULT NOW(), {} DATETIME NULL)",
        table,
        created,
        published,
    )
    try:
        run(maria, "INSERT INTO {} ({}) VALUES (NULL), (NULL), (NOW())", table, published)
        box = outbox_collector(
            MYSQL,
            maria_monitor(mysql_monitor_dsn),
            {
                "schema": "lagwatch_test",
                "table": table,
                "created_at": created,
                "published_at": published,
            },
        )
        found = by_table(box.collect())[f"lagwatch_test.{table}"]
        box.close()
        assert found["lagwatch_outbox_up"].value == 1, found["lagwatch_outbox_up"].note
        assert found["lagwatch_outbox_backlog_rows"].value == 2
        with maria.cursor() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = %s", (sentinel,)
            )
            assert cur.fetchone() == (1,)
    finally:
        run(maria, "DROP TABLE {}", table)
        run(maria, "DROP TABLE {}", sentinel)


def test_mariadb_missing_table_is_reported_per_table(mysql_monitor_dsn, unique):
    box = outbox_collector(
        MYSQL,
        maria_monitor(mysql_monitor_dsn),
        {"table": f"lw_missing_{unique}", "created_at": "c", "delete_on_publish": True},
    )
    found = by_table(box.collect())[f"lw_missing_{unique}"]
    box.close()
    assert found["lagwatch_outbox_up"].value == 0
    assert "doesn't exist" in (found["lagwatch_outbox_up"].note or "")
