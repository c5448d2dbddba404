"""The PostgreSQL collector on outputs recorded from real 13, 15 and 17 servers (sample_data/postgres)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lagwatch.collectors.base import CollectorContext
from lagwatch.collectors.postgres import PostgresCollector, PostgresSource
from lagwatch.collectors.postgres.read import (
    SLOT_FIELDS,
    STAT_FIELDS,
    ServerFeatures,
    build_cycle_query,
)
from lagwatch.collectors.postgres.samples import Snapshot, replica_samples
from lagwatch.store import Sample
from lagwatch.store.sqlite import SqliteStore

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data" / "postgres"
VERSIONS = (13, 15, 17)


def recorded(version: int) -> dict[str, Any]:
    return json.loads((SAMPLES / f"pg{version}.json").read_text())


def features_of(version: int) -> ServerFeatures:
    f = recorded(version)["features"]
    return ServerFeatures.of(f["version_num"], f["slot_columns"], f["stat_columns"])


class Replay(PostgresCollector):
    """The real collector, reading recorded snapshots instead of a server."""

    def __init__(self, snapshots: list[Snapshot], context: CollectorContext | None = None) -> None:
        config = PostgresSource(kind="postgres", name="rec", dsn="postgresql://unused")  # type: ignore[arg-type]
        ticks = iter(range(1000, 2000, 10))
        super().__init__(config, context, clock=lambda: float(next(ticks)))
        self._snapshots = iter(snapshots)

    def snapshot(self) -> Snapshot:
        return next(self._snapshots)


def by_slot(version: int) -> dict[str, dict[str, Any]]:
    snap = Snapshot.from_row(recorded(version)["row"])
    out: dict[str, dict[str, Any]] = {}
    for s in Replay([snap]).collect():
        if "slot" in s.label_dict:
            out.setdefault(s.label_dict["slot"], {})[s.name] = s
    return out


@pytest.mark.parametrize("version", VERSIONS)
def test_query_selects_exactly_the_columns_the_server_has(version):
    """Each recorded slot carries one key per SLOT_FIELDS/STAT_FIELDS entry whose
    column exists on that server: the builder asked for those and nothing else."""
    features = features_of(version)
    expected = {key for key, _, column in SLOT_FIELDS if column in features.slot_columns}
    expected |= {name for name in STAT_FIELDS if name in features.stat_columns}
    for slot in recorded(version)["row"][3]:
        assert set(slot) == expected


def test_version_differences_show_in_the_built_query():
    text = {v: build_cycle_query(features_of(v)).as_string(None) for v in VERSIONS}
    assert "two_phase" not in text[13] and "pg_stat_replication_slots" not in text[13]
    assert "two_phase" in text[15] and "pg_stat_replication_slots" in text[15]
    assert "inactive_since" not in text[15] and "conflicting" not in text[15]
    assert "inactive_since" in text[17] and "invalidation_reason" in text[17]


def test_older_than_13_is_refused_with_a_reason():
    old = ServerFeatures.of(120022, ["slot_name", "restart_lsn"], None)
    assert "PostgreSQL 12.22 is too old" in (old.unsupported() or "")
    assert features_of(13).unsupported() is None


@pytest.mark.parametrize("version", VERSIONS)
def test_every_slot_reports_lag_whatever_its_state(version):
    slots = by_slot(version)
    assert set(slots) >= {"orders_cdc", "stale_cdc", "lost_cdc", "spare_replica"}
    for name, metrics in slots.items():
        assert "lagwatch_pg_slot_retained_wal_bytes" in metrics, name
        assert "lagwatch_pg_slot_inactive_seconds" in metrics, name
    stale = slots["stale_cdc"]
    assert stale["lagwatch_pg_slot_active"].value == 0
    assert stale["lagwatch_pg_slot_confirmed_lag_bytes"].value > 1_000_000
    assert stale["lagwatch_pg_slot_wal_status"].value == 0
    lost = slots["lost_cdc"]
    assert lost["lagwatch_pg_slot_wal_status"].value == 3
    assert lost["lagwatch_pg_slot_time_to_loss_seconds"].value == 0
    assert lost["lagwatch_pg_slot_retained_wal_bytes"].value == 0
    assert "no restart_lsn" in (lost["lagwatch_pg_slot_retained_wal_bytes"].note or "")
    active = slots["orders_cdc"]
    assert active["lagwatch_pg_slot_active"].value == 1
    assert active["lagwatch_pg_slot_inactive_seconds"].value == 0
    assert active["lagwatch_pg_slot_confirmed_lag_bytes"].value == 0


def test_inactive_time_comes_from_the_server_on_17_and_from_lagwatch_before():
    on_17 = by_slot(17)["stale_cdc"]["lagwatch_pg_slot_inactive_seconds"]
    assert on_17.value > 1 and on_17.note == "inactive_since from the server"
    on_13 = by_slot(13)["stale_cdc"]["lagwatch_pg_slot_inactive_seconds"]
    assert on_13.value == 0 and "first seen inactive by lagwatch" in (on_13.note or "")


def test_lagwatch_clock_counts_between_cycles_before_17():
    snap = Snapshot.from_row(recorded(15)["row"])
    replay = Replay([snap, snap, snap])
    seconds = []
    for _ in range(3):
        found = [
            s for s in replay.collect()
            if s.name == "lagwatch_pg_slot_inactive_seconds" and s.label_dict["slot"] == "stale_cdc"
        ]  # fmt: skip
        seconds.append(found[0].value)
    assert seconds == [0, 10, 20]  # the replay clock ticks 10 s per cycle


def test_invalidation_reason_and_never_reserved_slot_on_17():
    slots = by_slot(17)
    assert slots["lost_cdc"]["lagwatch_pg_slot_wal_status"].note == "lost (wal_removed)"
    assert slots["lost_cdc"]["lagwatch_pg_slot_conflicting"].value == 0
    # A physical slot never used: 17 shows a negative safe_wal_size, yet it holds nothing.
    archiver = slots["archiver"]
    assert "lagwatch_pg_slot_time_to_loss_seconds" not in archiver
    assert "lagwatch_pg_slot_safe_wal_bytes" not in archiver
    assert "lagwatch_pg_slot_wal_status" not in archiver


def test_decoding_counters_from_14_on():
    assert "lagwatch_pg_slot_decoded_bytes_total" not in by_slot(13)["orders_cdc"]
    for version in (15, 17):
        orders = by_slot(version)["orders_cdc"]
        assert orders["lagwatch_pg_slot_decoded_bytes_total"].value > 200_000
        assert orders["lagwatch_pg_slot_spill_bytes_total"].value == 0


def test_time_to_loss_uses_the_wal_rate_from_successive_readings():
    row = recorded(15)["row"]
    later = [row[0], row[1] + 100_000, *row[2:]]
    replay = Replay([Snapshot.from_row(row), Snapshot.from_row(later)])
    first = {(s.name, s.label_dict.get("slot")): s for s in replay.collect()}
    assert ("lagwatch_pg_wal_bytes_per_second", None) not in first
    assert ("lagwatch_pg_slot_time_to_loss_seconds", "stale_cdc") not in first
    second = {(s.name, s.label_dict.get("slot")): s for s in replay.collect()}
    assert second[("lagwatch_pg_wal_bytes_per_second", None)].value == 10_000
    safe = second[("lagwatch_pg_slot_safe_wal_bytes", "stale_cdc")].value
    ttl = second[("lagwatch_pg_slot_time_to_loss_seconds", "stale_cdc")].value
    assert ttl == safe / 10_000


def test_physical_replica_lag_from_13():
    samples = {s.name: s for s in replica_samples("rec", recorded(13)["row"][4], 0.0)}
    assert samples["lagwatch_pg_replica_streaming"].value == 1
    assert samples["lagwatch_pg_replica_streaming"].label_dict["replica"] == "pg_receivewal"
    assert samples["lagwatch_pg_replica_write_lag_seconds"].value > 0
    # pg_receivewal does not replay, so there is no replay position to measure.
    assert "lagwatch_pg_replica_replay_lag_bytes" not in samples


def test_wal_rate_starts_from_the_store_after_a_restart(tmp_path):
    """Given the store's last WAL position 10 s before the first cycle, the first
    cycle of a new collector already has a WAL rate."""
    store = SqliteStore(tmp_path / "s.db")
    row = recorded(15)["row"]
    store.write([Sample.of("lagwatch_pg_wal_position_bytes", row[1] - 50_000, 990.0, source="rec")])
    replay = Replay([Snapshot.from_row(row)], CollectorContext(store=store))
    rates = [s.value for s in replay.collect() if s.name == "lagwatch_pg_wal_bytes_per_second"]
    store.close()
    assert rates == [5_000]
