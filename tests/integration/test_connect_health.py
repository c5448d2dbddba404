"""A Debezium connector that Connect calls RUNNING but that reads nothing: its role's password
rotated and its replication connection dropped, so Debezium retries forever. The reader-health
verdict says NOT_CONNECTED from the source's side, and the Connect page shows it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from psycopg import sql

from lagwatch.store.contracts import ReaderHealth
from tests.integration.connect_helpers import Watch, connect_entry, pg_source
from tests.support.connect import PgConnector, Rest, pg, wait_for
from tests.support.dashboard_app import open_page, table_with

pytestmark = pytest.mark.integration


def health(watch: Watch, connector: str) -> tuple[float | None, str]:
    found = watch.maybe("lagwatch_debezium_reader_health", connector=connector)
    return (found.value, found.note or "") if found else (None, "")


def test_a_running_connector_that_lost_its_login_is_not_connected(
    tmp_path: Path, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rest = Rest()
    role = f"lw_dbz_{unique}"
    connector = PgConnector(
        unique, rest, extra={"database.user": role, "database.password": "first-secret"}
    )
    with pg() as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN REPLICATION PASSWORD 'first-secret'").format(
                sql.Identifier(role)
            )
        )
    connector.create_table()
    with pg() as admin:
        admin.execute(sql.SQL("GRANT SELECT ON public.{} TO {}").format(
            sql.Identifier(connector.table), sql.Identifier(role)))  # fmt: skip
    store = {"url": f"sqlite:///{tmp_path / 'lagwatch.db'}"}  # the store Watch writes
    watch = Watch(
        tmp_path, {"store": store, "sources": [pg_source()], "connect": [connect_entry()]}
    )
    try:
        connector.start()
        connector.insert(1, 5)
        # Given a connector reading its table, its reader is healthy.
        wait_for(lambda: watch.cycle("connect:cdc") or health(watch, connector.name)[0] == 0, 60)
        assert watch.latest(
            "lagwatch_debezium_reader_health", connector=connector.name
        ).label_dict == {"cluster": "cdc", "connector": connector.name, "source": "pg",
                         "slot": connector.slot}  # fmt: skip

        # When its password rotates and its replication connection drops, Debezium retries:
        with pg() as admin:
            admin.execute(sql.SQL("ALTER ROLE {} PASSWORD 'rotated'").format(sql.Identifier(role)))
            admin.execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                "WHERE slot_name = %s AND active_pid IS NOT NULL", (connector.slot,),
            )  # fmt: skip
        wait_for(lambda: not connector.slot_active(), 60)
        connector.insert(100, 5)  # changes wait
        time.sleep(2)
        # then Connect still says RUNNING, and lagwatch says the reader is not connected.
        assert rest.state(connector.name) == "RUNNING"
        watch.cycle("connect:cdc")
        value, why = health(watch, connector.name)
        assert value == ReaderHealth.NOT_CONNECTED, why
        assert f"slot {connector.slot} has no reader connected" in why and "RUNNING" in why

        # And the Connect page shows it, red, beside RUNNING.
        config = tmp_path / "lagwatch.yaml"
        at = open_page(config, "views/connect.py", monkeypatch, connector=connector.name)
        assert not at.exception
        [row] = [r for r in table_with(at, "reader") if r["connector"] == connector.name]
        assert (row["state"], row["reader"]) == ("RUNNING", "NOT_CONNECTED")
        assert row["source"] == f"pg · slot {connector.slot}"
    finally:
        watch.close()
        connector.remove()
        rest.close()
        with pg() as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
