"""The PostgreSQL collector against the devstack server, read as the pg_monitor-only role."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from lagwatch.collectors.base import CollectorContext, SourceUnreachable
from lagwatch.collectors.postgres.read import ServerFeatures, build_cycle_query
from lagwatch.collectors.postgres.samples import Snapshot
from lagwatch.store.sqlite import SqliteStore
from tests.integration.conftest import devstack
from tests.integration.pg_helpers import collector, of_slot, of_source, psql, wait_for

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data" / "postgres"

RETAINED = """
SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)
FROM pg_replication_slots WHERE slot_name = :'slot';
"""


@pytest.fixture
def admin(pg_admin_dsn: str):
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        yield conn


def _drop_slot(admin: psycopg.Connection, slot: str) -> None:
    admin.execute(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
        (slot,),
    )


def test_retained_bytes_equal_what_psql_computes(admin, pg_admin_dsn, pg_monitor_dsn, unique):
    """Given a logical slot with 256 KiB of WAL written past it and no reader,
    when we collect as the pg_monitor role, then retained bytes sit between
    two pg_wal_lsn_diff readings taken in psql just before and just after."""
    slot = f"lw_retained_{unique}"
    payload = 256 * 1024
    admin.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
    try:
        # A transactional message whose commit is flushed: the written WAL position
        # (pg_current_wal_lsn) is then past all of it.
        admin.execute("SET synchronous_commit = on")
        admin.execute(
            "SELECT pg_logical_emit_message(true, 'lagwatch-test', repeat('x', %s))", (payload,)
        )
        pg = collector(pg_monitor_dsn)
        before = int(psql(pg_admin_dsn, RETAINED, slot=slot))
        samples = list(pg.collect())
        after = int(psql(pg_admin_dsn, RETAINED, slot=slot))
        pg.close()

        mine = of_slot(samples, slot)
        retained = mine["lagwatch_pg_slot_retained_wal_bytes"].value
        assert before <= retained <= after, (before, retained, after)
        assert retained >= payload
        # An inactive slot still reports its lag: that is when it matters.
        assert mine["lagwatch_pg_slot_active"].value == 0
        assert mine["lagwatch_pg_slot_confirmed_lag_bytes"].value >= payload
        assert mine["lagwatch_pg_slot_wal_status"].value == 0  # reserved
        assert mine["lagwatch_pg_slot_catalog_xmin_age"].value >= 0
        info = mine["lagwatch_pg_slot_info"].label_dict
        assert (info["slot_type"], info["plugin"], info["database"]) == (
            "logical",
            "pgoutput",
            devstack("PG_DATABASE"),
        )
        # The shared server has no max_slot_wal_keep_size: unbounded is said, not guessed.
        assert "lagwatch_pg_slot_time_to_loss_seconds" not in mine
        source = of_source(samples)
        assert source["lagwatch_pg_slot_wal_limited"].value == 0
        assert "unbounded" in (source["lagwatch_pg_slot_wal_limited"].note or "")
        assert source["lagwatch_pg_in_recovery"].value == 0
        assert source["lagwatch_pg_slots"].value >= 1
    finally:
        _drop_slot(admin, slot)


def _start_reader(slot: str, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            f"{devstack('PG_BIN')}/pg_recvlogical", "-d", devstack("PG_PROBE_DSN"),
            "--slot", slot, "--start", "-f", str(out), "-s", "1", "-F", "1", "--no-loop",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def test_stopping_the_reader_flips_active_and_starts_the_inactive_clock(
    admin, pg_admin_dsn, pg_monitor_dsn, unique, tmp_path
):
    """Given a slot read by pg_recvlogical, when the reader stops, then `active`
    drops to 0, the inactive clock starts and keeps counting, lag is still
    emitted, and a restarted collector continues the clock from the store."""
    slot = f"lw_reader_{unique}"
    subprocess.run(
        [f"{devstack('PG_BIN')}/pg_recvlogical", "-d", devstack("PG_PROBE_DSN"),
         "--slot", slot, "--create-slot", "-P", "test_decoding"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    reader = _start_reader(slot, tmp_path / "changes.txt")
    store = SqliteStore(tmp_path / "store.db")
    try:
        pg = collector(pg_monitor_dsn, CollectorContext(store=store))
        seen: dict = {}

        def active_is(value: int) -> bool:
            seen.clear()
            seen.update(of_slot(pg.collect(), slot))
            return bool(seen) and seen["lagwatch_pg_slot_active"].value == value

        assert wait_for(lambda: active_is(1)), "pg_recvlogical never became the slot's reader"
        assert seen["lagwatch_pg_slot_inactive_seconds"].value == 0

        reader.terminate()
        reader.wait(timeout=10)
        assert wait_for(lambda: active_is(0)), "slot still active after its reader stopped"
        first = seen["lagwatch_pg_slot_inactive_seconds"]
        assert first.value < 1.0
        assert "first seen inactive" in (first.note or "")

        admin.execute("SELECT pg_logical_emit_message(false, 'lagwatch-test', 'after reader')")
        time.sleep(1.5)
        later = of_slot(pg.collect(), slot)
        assert later["lagwatch_pg_slot_active"].value == 0
        grown = later["lagwatch_pg_slot_inactive_seconds"].value - first.value
        assert 1.4 <= grown <= 1.4 + 5, grown
        assert later["lagwatch_pg_slot_retained_wal_bytes"].value > 0
        assert later["lagwatch_pg_slot_confirmed_lag_bytes"].value > 0
        pg.close()

        # The daemon restarts: its new collector takes the clock up from the store.
        store.write(list(later.values()))
        restarted = collector(pg_monitor_dsn, CollectorContext(store=store))
        again = of_slot(restarted.collect(), slot)
        restarted.close()
        assert (
            again["lagwatch_pg_slot_inactive_seconds"].value
            >= later["lagwatch_pg_slot_inactive_seconds"].value
        )
    finally:
        if reader.poll() is None:
            reader.terminate()
            reader.wait(timeout=10)
        store.close()
        wait_for(lambda: not _slot_active(admin, slot), timeout=10)
        _drop_slot(admin, slot)


def _slot_active(admin: psycopg.Connection, slot: str) -> bool:
    row = admin.execute(
        "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
    ).fetchone()
    return bool(row and row[0])


def test_one_statement_per_cycle(pg_monitor_dsn):
    """Given a connected collector, a cycle sends exactly one statement to the server."""
    pg = collector(pg_monitor_dsn)
    pg.collect()  # connects and reads the catalog once
    conn = pg._conn
    assert conn is not None
    sent: list[str] = []
    original = conn.execute

    def counting(query, *args, **kwargs):
        sent.append(str(query))
        return original(query, *args, **kwargs)

    conn.execute = counting  # type: ignore[method-assign]
    list(pg.collect())
    list(pg.collect())
    pg.close()
    assert len(sent) == 2


def test_unreachable_server_is_a_clear_error():
    """Given a port nobody listens on, collecting raises a message naming the source and the fix."""
    from tests.support.ports import free_port

    pg = collector(f"postgresql://nobody@127.0.0.1:{free_port()}/x", timeout=2)
    with pytest.raises(
        SourceUnreachable, match="pg-under-test: cannot connect to PostgreSQL.*check the dsn"
    ):
        list(pg.collect())


def test_the_query_built_for_postgresql_13_runs_here(pg_monitor_dsn):
    """The statement built from PostgreSQL 13's recorded catalog (a subset of this
    server's columns) runs as the monitor role and reads every slot without 14+ keys."""
    recorded = json.loads((SAMPLES / "pg13.json").read_text())["features"]
    features = ServerFeatures.of(recorded["version_num"], recorded["slot_columns"], [])
    with psycopg.connect(pg_monitor_dsn, autocommit=True) as conn:
        row = conn.execute(build_cycle_query(features)).fetchone()
        count = conn.execute("SELECT count(*) FROM pg_replication_slots").fetchone()
    snap = Snapshot.from_row(row)
    assert snap.wal_position > 0
    assert count is not None and len(snap.slots) == count[0]
    for slot in snap.slots:
        assert "two_phase" not in slot and "spill_bytes" not in slot


def test_check_names_the_missing_pg_monitor_grant(admin, pg_admin_dsn, unique):
    """Given a login role without pg_monitor, `check` fails and says which GRANT fixes it."""
    role, password = f"lw_nomonitor_{unique}", f"pw-{unique}"
    admin.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)
        )
    )
    try:
        dsn = psycopg.conninfo.make_conninfo(pg_admin_dsn, user=role, password=password)
        pg = collector(dsn)
        with pytest.raises(SourceUnreachable, match=f"GRANT pg_monitor TO {role}"):
            pg.check()
        pg.close()
    finally:
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
