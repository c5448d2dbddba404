"""Outbox backlog, age and rates on the devstack's PostgreSQL and MariaDB, read by monitor roles."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg import sql

from collectors.mysql import connect_args
from collectors.outbox import MYSQL, POSTGRES, OutboxCollector, OutboxTable
from collectors.outbox_sql import quote_mysql
from collectors.postgres import connect as pg_connect
from store import Sample
from tests.integration.pg_helpers import wait_for

MONITOR_ROLE = "lagwatch_monitor"


def outbox_collector(dialect, connect, *tables: dict[str, Any]) -> OutboxCollector:
    ticks = itertools.count(start=1_000_000, step=10)  # ten seconds per cycle
    return OutboxCollector(
        "db",
        [OutboxTable.model_validate(t) for t in tables],
        dialect,
        connect,
        interval=10,
        timeout=5,
        clock=lambda: float(next(ticks)),
    )


def by_table(samples: list[Sample]) -> dict[str, dict[str, Sample]]:
    out: dict[str, dict[str, Sample]] = {}
    for s in samples:
        out.setdefault(s.label_dict["table"], {})[s.name] = s
    return out


PUBLISHED = {"created_at": "created_at", "published_at": "published_at", "id_column": "id"}


def published_at_scenario(box: OutboxCollector, table: str, publish: Callable[[], None]) -> None:
    """Given 10 pending rows, the oldest 600 s old, when ``publish`` marks the 4
    oldest published and writes 3 new rows within one 10 s cycle, then the
    backlog goes 10 -> 9, the oldest age moves to the 5th row, 0.3 rows/s were
    created and 0.4 rows/s published."""
    first = by_table(box.collect())[table]
    assert first["lagwatch_outbox_up"].value == 1, first["lagwatch_outbox_up"].note
    assert first["lagwatch_outbox_backlog_rows"].value == 10
    assert first["lagwatch_outbox_backlog_capped"].value == 0
    assert 600 <= first["lagwatch_outbox_oldest_age_seconds"].value < 630
    assert "lagwatch_outbox_published_per_second" not in first
    publish()
    second = by_table(box.collect())[table]
    box.close()
    assert second["lagwatch_outbox_backlog_rows"].value == 9
    assert 360 <= second["lagwatch_outbox_oldest_age_seconds"].value < 390
    assert second["lagwatch_outbox_created_per_second"].value == pytest.approx(0.3)
    assert second["lagwatch_outbox_published_per_second"].value == pytest.approx(0.4)


# -- PostgreSQL ---------------------------------------------------------------


@pytest.fixture
def pg(pg_admin_dsn) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        yield conn


def pg_monitor(pg_monitor_dsn: str):
    from pydantic import SecretStr

    return lambda: pg_connect(SecretStr(pg_monitor_dsn), 5, "db")


def pg_table(pg: psycopg.Connection, name: str, columns: str) -> None:
    pg.execute(sql.SQL("CREATE TABLE {} (" + columns + ")").format(sql.Identifier(name)))
    pg.execute(
        sql.SQL("GRANT SELECT ON {} TO {}").format(
            sql.Identifier(name), sql.Identifier(MONITOR_ROLE)
        )
    )


def test_pg_published_at_outbox(pg, pg_monitor_dsn, unique):
    """Given 10 unpublished rows, the oldest 600 s old, when the relay publishes
    the 4 oldest and 3 new rows arrive within one 10 s cycle, then the backlog
    goes 10 -> 9, the oldest age moves to the 5th row, 0.3 rows/s were created
    and 0.4 rows/s published."""
    table = f"lw_outbox_{unique}"
    pg_table(
        pg, table, "id bigserial PRIMARY KEY, created_at timestamptz, published_at timestamptz"
    )
    insert = sql.SQL(
        "INSERT INTO {} (created_at) SELECT now() - make_interval(secs => 60 * g)"
        " FROM generate_series(1, 10) g"
    ).format(sql.Identifier(table))
    try:
        pg.execute(insert)
        box = outbox_collector(POSTGRES, pg_monitor(pg_monitor_dsn), {"table": table, **PUBLISHED})

        def publish_four_write_three() -> None:
            pg.execute(
                sql.SQL(
                    "UPDATE {0} SET published_at = now() WHERE id IN "
                    "(SELECT id FROM {0} ORDER BY created_at LIMIT 4)"
                ).format(sql.Identifier(table))
            )
            pg.execute(
                sql.SQL("INSERT INTO {} (created_at) VALUES (now()), (now()), (now())").format(
                    sql.Identifier(table)
                )
            )

        published_at_scenario(box, table, publish_four_write_three)
    finally:
        pg.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))


def test_pg_status_outbox_counts_stuck_rows_and_caps_the_backlog(pg, pg_monitor_dsn, unique):
    """Given 6 pending rows (status new/retry), 2 of them past 3 attempts, and 4
    sent rows, the backlog is 6 with 2 stuck; with count_cap 4 it reads 'more
    than 4' and is flagged capped."""
    table = f"lw_status_{unique}"
    pg_table(pg, table, "id int, created timestamptz DEFAULT now(), state text, attempts int")
    rows = [("new", 0)] * 3 + [("retry", 5)] * 2 + [("retry", 1)] + [("sent", 1)] * 4
    try:
        with pg.cursor() as cur:
            cur.executemany(
                sql.SQL("INSERT INTO {} (state, attempts) VALUES (%s, %s)").format(
                    sql.Identifier(table)
                ),
                rows,
            )
        spec = {"table": f"public.{table}", "created_at": "created", "status": "state",
                "pending_values": ["new", "retry"], "attempts": "attempts", "max_attempts": 3}  # fmt: skip
        box = outbox_collector(POSTGRES, pg_monitor(pg_monitor_dsn), spec)
        full = by_table(box.collect())[f"public.{table}"]
        assert full["lagwatch_outbox_backlog_rows"].value == 6
        assert full["lagwatch_outbox_stuck_rows"].value == 2
        box.close()

        capped_box = outbox_collector(
            POSTGRES, pg_monitor(pg_monitor_dsn), {**spec, "count_cap": 4}
        )
        capped = by_table(capped_box.collect())[f"public.{table}"]
        capped_box.close()
        assert capped["lagwatch_outbox_backlog_rows"].value == 4
        assert capped["lagwatch_outbox_backlog_capped"].value == 1
        assert "more than 4" in (capped["lagwatch_outbox_backlog_rows"].note or "")
    finally:
        pg.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))


def _inserted(pg: psycopg.Connection, table: str) -> int:
    row = pg.execute(
        "SELECT pg_stat_get_tuples_inserted(to_regclass(%s))", (f'"{table}"',)
    ).fetchone()
    return int(row[0]) if row else -1


def test_pg_delete_on_publish_uses_the_insert_statistic(pg, pg_admin_dsn, pg_monitor_dsn, unique):
    """Given a delete-on-publish outbox with a uuid key (no id_column), the rows
    ever written come from the table's insert statistic, so deleting 2 rows and
    writing 1 in a cycle reads as 0.2 published and 0.1 created per second."""
    table = f"lw_delete_{unique}"
    pg_table(pg, table, "id uuid DEFAULT gen_random_uuid(), created_at timestamptz DEFAULT now()")
    insert = sql.SQL("INSERT INTO {} DEFAULT VALUES").format(sql.Identifier(table))

    def write(rows: int) -> None:
        # A session's statistics are flushed when it ends.
        with psycopg.connect(pg_admin_dsn, autocommit=True) as writer:
            for _ in range(rows):
                writer.execute(insert)

    try:
        write(5)
        assert wait_for(lambda: _inserted(pg, table) == 5, timeout=10)
        box = outbox_collector(
            POSTGRES,
            pg_monitor(pg_monitor_dsn),
            {"table": table, "created_at": "created_at", "delete_on_publish": True},
        )
        assert by_table(box.collect())[table]["lagwatch_outbox_backlog_rows"].value == 5
        pg.execute(
            sql.SQL("DELETE FROM {0} WHERE id IN (SELECT id FROM {0} LIMIT 2)").format(
                sql.Identifier(table)
            )
        )
        write(1)
        assert wait_for(lambda: _inserted(pg, table) == 6, timeout=10)
        second = by_table(box.collect())[table]
        box.close()
        assert second["lagwatch_outbox_backlog_rows"].value == 4
        assert second["lagwatch_outbox_created_per_second"].value == pytest.approx(0.1)
        assert second["lagwatch_outbox_published_per_second"].value == pytest.approx(0.2)
    finally:
        pg.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))


def test_pg_hostile_names_are_quoted_not_executed(pg, pg_monitor_dsn, unique):
    """Given schema, table and column names full of quotes, semicolons, %-placeholders
    and braces, the collector reads the table correctly and runs nothing else."""
    schema = f'lw"{unique}; DROP TABLE x; --'
    table = 'out"box%(limit)s{}; DROP'
    created, published, attempts = 'created "at%s', 'pub"); DROP TABLE y; --', "att%%empts{0}"
    sentinel = f"lw_sentinel_{unique}"
    pg.execute(sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier(sentinel)))
    pg.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    qualified = sql.Identifier(schema, table)
    try:
        pg.execute(
            sql.SQL(
                "CREATE TABLE {} ({} timestamptz DEFAULT now(), {} timestamptz, {} int)"
            ).format(
                qualified,
                sql.Identifier(created),
                sql.Identifier(published),
                sql.Identifier(attempts),
            )
        )
        pg.execute(
            sql.SQL("INSERT INTO {} ({}) VALUES (1), (9)").format(
                qualified, sql.Identifier(attempts)
            )
        )
        pg.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(schema), sql.Identifier(MONITOR_ROLE)
            )
        )
        pg.execute(
            sql.SQL("GRANT SELECT ON {} TO {}").format(qualified, sql.Identifier(MONITOR_ROLE))
        )
        box = outbox_collector(
            POSTGRES,
            pg_monitor(pg_monitor_dsn),
            {"schema": schema, "table": table, "created_at": created, "published_at": published,
             "attempts": attempts, "max_attempts": 5},
        )  # fmt: skip
        found = by_table(box.collect())[f"{schema}.{table}"]
        box.close()
        assert found["lagwatch_outbox_up"].value == 1, found["lagwatch_outbox_up"].note
        assert found["lagwatch_outbox_backlog_rows"].value == 2
        assert found["lagwatch_outbox_stuck_rows"].value == 1
        assert pg.execute("SELECT to_regclass(%s)", (sentinel,)).fetchone() == (sentinel,)
    finally:
        pg.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        pg.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(sentinel)))


def test_pg_missing_table_or_grant_is_reported_per_table(pg, pg_monitor_dsn, unique):
    """Given one readable table, one missing and one without a grant, the readable
    one is measured and the other two say what is wrong, each on its own series."""
    good, ungranted = f"lw_good_{unique}", f"lw_nogrant_{unique}"
    pg_table(pg, good, "created_at timestamptz DEFAULT now()")
    pg.execute(
        sql.SQL("CREATE TABLE {} (created_at timestamptz)").format(sql.Identifier(ungranted))
    )
    try:
        box = outbox_collector(
            POSTGRES,
            pg_monitor(pg_monitor_dsn),
            *[{"table": t, "created_at": "created_at", "delete_on_publish": True}
              for t in (f"lw_missing_{unique}", ungranted, good)],
        )  # fmt: skip
        found = by_table(box.collect())
        box.close()
        assert found[good]["lagwatch_outbox_up"].value == 1
        assert found[good]["lagwatch_outbox_backlog_rows"].value == 0
        assert found[good]["lagwatch_outbox_oldest_age_seconds"].note == "no pending rows"
        missing = found[f"lw_missing_{unique}"]["lagwatch_outbox_up"]
        assert missing.value == 0 and "does not exist" in (missing.note or "")
        denied = found[ungranted]["lagwatch_outbox_up"]
        assert denied.value == 0 and "permission denied" in (denied.note or "")
        assert "may SELECT" in (denied.note or "")
    finally:
        pg.execute(
            sql.SQL("DROP TABLE {}, {}").format(sql.Identifier(good), sql.Identifier(ungranted))
        )


# -- MariaDB ------------------------------------------------------------------


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
