"""Time to loss, WAL rate, the inactive clock and replica naming: small rules, one table each."""

from __future__ import annotations

import pytest

from lagwatch.collectors.postgres import InactiveClock
from lagwatch.collectors.postgres.samples import replica_samples, time_to_loss
from lagwatch.collectors.rate import RateWindow
from lagwatch.store import Sample
from lagwatch.store.sqlite import SqliteStore

RESERVED = {"wal_status": "reserved", "retained_bytes": 10}


@pytest.mark.parametrize(
    ("slot", "rate", "expected", "why"),
    [
        # 1. A lost slot has nothing left to lose.
        ({"wal_status": "lost", "safe_wal_size": None}, 100.0, 0.0, "lost"),
        # 2. No limit: unbounded, said as such rather than a huge number.
        ({**RESERVED, "safe_wal_size": None}, 100.0, None, "no max_slot_wal_keep_size"),
        # 3. Past the limit: gone at the next checkpoint.
        ({"wal_status": "unreserved", "retained_bytes": 9, "safe_wal_size": -5}, 1.0, 0.0, "past"),
        # 4. The usual case: safe bytes over bytes per second.
        ({**RESERVED, "safe_wal_size": 1000}, 100.0, 10.0, "safe_wal_size"),
        # 5. First cycle: no rate yet.
        ({**RESERVED, "safe_wal_size": 1000}, None, None, "not known yet"),
        # 6. Idle server: not getting closer.
        ({**RESERVED, "safe_wal_size": 1000}, 0.0, None, "no WAL"),
        # 7. Never reserved: PostgreSQL 17 shows a negative safe_wal_size, nothing is at risk.
        ({"wal_status": None, "retained_bytes": None, "safe_wal_size": -7}, 5.0, None, "no WAL"),
    ],
)
def test_time_to_loss(slot, rate, expected, why):
    seconds, reason = time_to_loss(slot, rate)
    assert seconds == expected
    assert why in reason


def test_rate_window_spans_the_window_and_restarts_on_a_reset():
    window = RateWindow(window=60)
    assert window.rate() is None
    window.add(0, 0)
    window.add(10, 1000)
    assert window.rate() == 100
    window.add(70, 1600)  # the t=0 point left the window; t=10 anchors it
    assert window.rate() == 10
    window.add(80, 5)  # a new server: positions went backwards
    assert window.rate() is None
    window.add(80, 6)  # same instant: ignored rather than divided by zero
    window.add(90, 105)
    assert window.rate() == 10


def test_inactive_clock_takes_up_where_the_store_left_off(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    store.write(
        [
            Sample.of("lagwatch_pg_slot_inactive_seconds", 300, 1000.0, source="db", slot="old"),
            Sample.of(
                "lagwatch_pg_slot_inactive_seconds", 0, 1000.0, source="db", slot="was_active"
            ),
        ]
    )
    clock = InactiveClock("db", store)
    old = clock.inactivity({"slot": "old", "active": False}, 1100.0)
    assert old.seconds == 400  # went inactive at 700 by the store's account
    fresh = clock.inactivity({"slot": "was_active", "active": False}, 1100.0)
    assert fresh.seconds == 0
    assert clock.inactivity({"slot": "old", "active": True}, 1200.0).seconds == 0
    # Once seen active, the next inactive spell starts afresh, not from the store.
    assert clock.inactivity({"slot": "old", "active": False}, 1300.0).seconds == 0
    store.close()


def test_replicas_sharing_a_name_show_the_furthest_behind():
    replicas = [
        {"replica": "walreceiver", "state": "streaming", "replay_lag_bytes": 10},
        {"replica": "walreceiver", "state": "catchup", "replay_lag_bytes": 900},
    ]
    samples = {s.name: s for s in replica_samples("db", replicas, 0.0)}
    assert samples["lagwatch_pg_replica_replay_lag_bytes"].value == 900
    assert samples["lagwatch_pg_replica_streaming"].value == 0
    assert "2 replicas share" in (samples["lagwatch_pg_replica_streaming"].note or "")
