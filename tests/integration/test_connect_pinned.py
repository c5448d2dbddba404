"""A Debezium PostgreSQL connector with heartbeats but a filtered publication and no
``heartbeat.action.query`` pins its slot, and lagwatch says so.

Issue 11, finding 5: with a publication holding only the captured table, writes to other
tables grow the WAL but send the connector nothing; ``heartbeat.interval.ms`` alone does not
move the slot (no heartbeat reaches it), so restart_lsn stays put and WAL piles up. That is a
config fix (an action query updating a captured heartbeat table), not a broken reader: the
verdict is pinned, with ``heartbeat.action.query`` named, not NOT_ADVANCING. On a private
PostgreSQL, where only this test writes, with a real connector on the devstack's worker.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from lagwatch.store.contracts import ReaderHealth
from tests.integration.connect_helpers import Watch, connect_entry, private_pg
from tests.support.connect import PgConnector, Rest, env, pg, wait_for

pytestmark = pytest.mark.integration

STALL = "5s"


def slot_positions(dsn: str, slot: str) -> tuple[Any, Any, Any]:
    """Return the slot's restart_lsn and confirmed_flush_lsn, and the server's WAL position."""
    with pg(dsn) as conn:
        row = conn.execute(
            "SELECT restart_lsn, confirmed_flush_lsn, pg_current_wal_lsn() "
            "FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        ).fetchone()
    assert row is not None, f"no slot {slot}"
    return row[0], row[1], row[2]


@pytest.mark.parametrize("made_by", ["debezium", "admin"])
def test_heartbeats_without_an_action_query_on_a_filtered_publication_pin_the_slot(
    tmp_path: Path, unique: str, made_by: str
) -> None:
    rest = Rest()
    with private_pg() as server:
        dsn = server.dsn()
        heartbeat = {"heartbeat.interval.ms": "500"}
        if made_by == "debezium":
            # Debezium makes the publication, for its table only (it must own the table).
            mode = {"publication.autocreate.mode": "filtered"}
        else:
            # The admin made it for the connector's table only; Debezium makes none.
            mode = {"publication.autocreate.mode": "disabled"}
        connector = PgConnector(
            unique,
            rest,
            port=server.port,
            dbname="postgres",
            admin_dsn=dsn,
            publish=made_by == "admin",
            extra={**mode, **heartbeat},
        )
        connector.create_table()
        if made_by == "debezium":
            role = sql.Identifier(env("DEBEZIUM_USER"))
            with pg(dsn) as conn:
                conn.execute(sql.SQL("GRANT CREATE ON DATABASE postgres TO {}").format(role))
                conn.execute(
                    sql.SQL("ALTER TABLE public.{} OWNER TO {}").format(
                        sql.Identifier(connector.table), role
                    )
                )
        source = {"name": "private", "kind": "postgres", "dsn": dsn}
        watch = Watch(
            tmp_path, {"sources": [source], "connect": [connect_entry(reader_stall=STALL)]}
        )
        try:
            # Given a connector with heartbeats, no action query, on a filtered publication,
            connector.start()
            assert "heartbeat.action.query" not in connector.config()
            with pg(dsn) as conn:
                published = conn.execute(
                    "SELECT p.puballtables, array_agg(t.tablename::text) FROM pg_publication p "
                    "LEFT JOIN pg_publication_tables t USING (pubname) WHERE p.pubname = %s "
                    "GROUP BY p.puballtables",
                    (connector.publication,),
                ).fetchone()
            assert published == (False, [connector.table]), published
            # that has read a change of its table and is caught up,
            connector.insert(1, 3)
            wait_for(connector.offset, 60)
            time.sleep(2)  # its offset and the slot's confirmed position are flushed
            watch.cycle("connect:cdc")
            start = slot_positions(dsn, connector.slot)

            # when only tables it does not capture are written, so the WAL grows,
            pinned = None
            deadline = time.monotonic() + 40
            n = 0
            while time.monotonic() < deadline:
                with pg(dsn) as conn:
                    for _ in range(20):
                        n += 1
                        conn.execute("INSERT INTO public.elsewhere VALUES (%s)", (n,))
                watch.cycle("connect:cdc")
                pinned = watch.maybe("lagwatch_debezium_slot_pinned", connector=connector.name)
                if pinned is not None and pinned.value == 1:
                    break
                time.sleep(1)
            end = slot_positions(dsn, connector.slot)

            # then the slot does not move although heartbeats are sent,
            assert end[0] == start[0], f"restart_lsn moved: {start} → {end}"
            assert end[1] == start[1], f"confirmed_flush_lsn moved: {start} → {end}"
            assert end[2] > start[2], "the uncaptured writes grew the WAL"
            assert rest.state(connector.name) == "RUNNING"
            # and lagwatch calls the slot pinned, naming the missing action query as the fix,
            health = watch.latest("lagwatch_debezium_reader_health", connector=connector.name)
            assert pinned is not None and pinned.value == 1, (pinned, health)
            why = pinned.note or ""
            assert f"slot {connector.slot} pinned" in why, why
            assert "publication is filtered" in why and "heartbeat.action.query" in why, why
            # not a reader that stopped advancing.
            assert health.value == ReaderHealth.OK, health
            assert health.note == why
            lag = watch.latest("lagwatch_debezium_source_lag_bytes", connector=connector.name)
            assert lag.value > 0, "the WAL after its position counts while the slot is pinned"
        finally:
            watch.close()
            connector.remove()
    rest.close()
