"""Outbox backlog, age and rates on the devstack's PostgreSQL, read by the pg_monitor role."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from pydantic import SecretStr

from lagwatch.collectors.outbox import POSTGRES
from lagwatch.collectors.postgres import connect_source as pg_connect
from tests.integration.outbox_helpers import (
    PUBLISHED,
    by_table,
    outbox_collector,
    published_at_scenario,
)
from tests.integration.pg_helpers import wait_for

MONITOR_ROLE = "lagwatch_monitor"


@pytest.fixture
def pg(pg_admin_dsn) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        yield conn


def pg_monitor(pg_monitor_dsn: str):
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
