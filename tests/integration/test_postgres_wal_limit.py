"""Slot loss, replicas and standbys on private PostgreSQL servers (server-wide settings stay private)."""

from __future__ import annotations

import itertools

import psycopg
import pytest

from tests.integration.conftest import devstack
from tests.integration.pg_helpers import collector, of_slot, of_source, psql, wait_for
from tests.support.private_postgres import PrivatePostgres

STEP = 256 * 1024
KEEP_MB = 4


@pytest.fixture
def limited_server():
    """A server whose slots may keep 4 MB of WAL, in 1 MB segments, with no automatic checkpoint."""
    settings = {
        "max_slot_wal_keep_size": f"'{KEEP_MB}MB'",
        "checkpoint_timeout": "'1d'",
        "max_wal_size": "'1GB'",
    }
    with PrivatePostgres(devstack("PG_BIN"), settings, wal_segsize_mb=1) as server:
        yield server


def _emit(admin: psycopg.Connection, size: int) -> None:
    admin.execute("SELECT pg_logical_emit_message(true, 'lagwatch-test', repeat('x', %s))", (size,))


def test_slot_goes_unreserved_then_lost_while_time_to_loss_counts_down(limited_server):
    """Given max_slot_wal_keep_size = 4MB and a slot nobody reads, when WAL is
    written past it step by step, then time to loss counts down while the slot
    is reserved, wal_status turns unreserved (time to loss 0) once more than
    4 MB is held, and lost after the next checkpoint."""
    monitor_dsn = limited_server.add_monitor_role()
    ticks = itertools.count(start=1_000_000, step=1)  # one second per cycle
    pg = collector(monitor_dsn, clock=lambda: float(next(ticks)), wal_rate_window=3600)
    with limited_server.connect() as admin:
        admin.execute("SET synchronous_commit = on")
        admin.execute("SELECT pg_create_logical_replication_slot('doomed', 'test_decoding')")
        readings = []
        for _ in range(40):
            _emit(admin, STEP)
            samples = list(pg.collect())
            mine = of_slot(samples, "doomed")
            rate_now = of_source(samples).get("lagwatch_pg_wal_bytes_per_second")
            readings.append((mine, rate_now.value if rate_now else None))
            if mine["lagwatch_pg_slot_wal_status"].value != 0:
                break
        source = of_source(samples)
        assert source["lagwatch_pg_slot_wal_limited"].value == 1
        assert source["lagwatch_pg_max_slot_wal_keep_size_bytes"].value == KEEP_MB * 1024 * 1024
        rate = source["lagwatch_pg_wal_bytes_per_second"].value
        assert STEP <= rate <= 2 * STEP  # each one-second cycle wrote one step plus its commit

        reserved = [r for r, _ in readings if r["lagwatch_pg_slot_wal_status"].value == 0]
        countdown = [r["lagwatch_pg_slot_time_to_loss_seconds"].value for r in reserved[1:]]
        assert len(countdown) >= 5
        assert all(t > 0 for t in countdown)
        assert countdown == sorted(countdown, reverse=True) and countdown[0] > countdown[-1]
        last, last_rate = readings[len(reserved) - 1]
        assert last["lagwatch_pg_slot_time_to_loss_seconds"].value == pytest.approx(
            last["lagwatch_pg_slot_safe_wal_bytes"].value / last_rate
        )

        unreserved = readings[-1][0]
        assert unreserved["lagwatch_pg_slot_wal_status"].value == 2, unreserved
        assert unreserved["lagwatch_pg_slot_wal_status"].note == "unreserved"
        assert unreserved["lagwatch_pg_slot_safe_wal_bytes"].value <= 0
        assert unreserved["lagwatch_pg_slot_time_to_loss_seconds"].value == 0
        assert unreserved["lagwatch_pg_slot_retained_wal_bytes"].value > KEEP_MB * 1024 * 1024

        admin.execute("CHECKPOINT")
        lost = of_slot(pg.collect(), "doomed")
        assert lost["lagwatch_pg_slot_wal_status"].value == 3
        assert lost["lagwatch_pg_slot_time_to_loss_seconds"].value == 0
        assert "lagwatch_pg_slot_safe_wal_bytes" not in lost
    pg.close()


RETAINED = """
SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)
FROM pg_replication_slots WHERE slot_name = :'slot';
"""


def test_retained_bytes_equal_psql_on_a_quiet_server(limited_server):
    """Given a server nobody else writes to, retained bytes equal psql's
    pg_wal_lsn_diff taken right before, within one WAL record."""
    monitor_dsn = limited_server.add_monitor_role()
    with limited_server.connect() as admin:
        admin.execute("SET synchronous_commit = on")
        admin.execute("SELECT pg_create_logical_replication_slot('quiet', 'test_decoding')")
        _emit(admin, 100_000)
        pg = collector(monitor_dsn)
        expected = int(psql(limited_server.dsn(), RETAINED, slot="quiet"))
        retained = of_slot(pg.collect(), "quiet")["lagwatch_pg_slot_retained_wal_bytes"].value
        after = int(psql(limited_server.dsn(), RETAINED, slot="quiet"))
        pg.close()
    assert expected <= retained <= after
    # Only a background record (a running-xacts snapshot) could land in between.
    assert retained - expected <= 8192


def test_replica_and_standby_receive_position():
    """Given a primary streaming to a standby through a physical slot, the
    primary shows the replica streaming and its slot active; the standby reads
    as in recovery, measures WAL by its receive position, and a slot on the
    standby retains what was received past it."""
    with PrivatePostgres(devstack("PG_BIN"), {"wal_keep_size": "'16MB'"}) as primary:
        monitor_dsn = primary.add_monitor_role()
        standby = PrivatePostgres(devstack("PG_BIN"))
        with standby.start_standby_of(primary, "standby1"), primary.connect() as admin:
            admin.execute("SET synchronous_commit = on")
            pg = collector(monitor_dsn)

            def streaming() -> bool:
                # replay_lsn stays NULL until the standby's first feedback message.
                names = {(s.name, s.value) for s in pg.collect() if "replica" in s.label_dict}
                return ("lagwatch_pg_replica_streaming", 1) in names and any(
                    name == "lagwatch_pg_replica_replay_lag_bytes" for name, _ in names
                )

            assert wait_for(streaming, timeout=30), "the standby never started streaming"
            samples = list(pg.collect())
            assert of_source(samples)["lagwatch_pg_replicas"].value == 1
            slot = of_slot(samples, "standby1")
            assert slot["lagwatch_pg_slot_active"].value == 1
            assert slot["lagwatch_pg_slot_info"].label_dict["slot_type"] == "physical"
            assert "lagwatch_pg_slot_confirmed_lag_bytes" not in slot
            lag = [s for s in samples if s.name == "lagwatch_pg_replica_replay_lag_bytes"]
            assert len(lag) == 1 and lag[0].value >= 0
            pg.close()

            with standby.connect() as on_standby:
                on_standby.execute("SELECT pg_create_physical_replication_slot('held', true)")
            on_standby_pg = collector(standby.dsn("lagwatch_monitor"))
            _emit(admin, 300_000)
            head = admin.execute("SELECT pg_current_wal_lsn() - '0/0'").fetchone()[0]

            def caught_up() -> bool:
                snap = of_source(on_standby_pg.collect())
                return snap["lagwatch_pg_wal_position_bytes"].value >= head

            assert wait_for(caught_up, timeout=30), "the standby never received the WAL"
            samples = list(on_standby_pg.collect())
            on_standby_pg.close()
            assert of_source(samples)["lagwatch_pg_in_recovery"].value == 1
            held = of_slot(samples, "held")
            assert held["lagwatch_pg_slot_retained_wal_bytes"].value >= 300_000
