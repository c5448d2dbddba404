"""Turn one PostgreSQL cycle's result into samples: pure functions, fed by the server or sample_data/."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lagwatch.store import Sample
from lagwatch.store.contracts import WalStatus

# DESIGN's documented mapping, least to most bad.
WAL_STATUS = {s.name: int(s) for s in WalStatus}

# pg_stat_replication_slots column -> counter name.
SLOT_COUNTERS = {
    "spill_txns": "lagwatch_pg_slot_spill_txns_total",
    "spill_count": "lagwatch_pg_slot_spill_count_total",
    "spill_bytes": "lagwatch_pg_slot_spill_bytes_total",
    "stream_txns": "lagwatch_pg_slot_stream_txns_total",
    "stream_count": "lagwatch_pg_slot_stream_count_total",
    "stream_bytes": "lagwatch_pg_slot_stream_bytes_total",
    "total_txns": "lagwatch_pg_slot_decoded_txns_total",
    "total_bytes": "lagwatch_pg_slot_decoded_bytes_total",
}

REPLICA_LAGS = {
    "write_lag_seconds": "lagwatch_pg_replica_write_lag_seconds",
    "flush_lag_seconds": "lagwatch_pg_replica_flush_lag_seconds",
    "replay_lag_seconds": "lagwatch_pg_replica_replay_lag_seconds",
}

UNBOUNDED_NOTE = (
    "max_slot_wal_keep_size = -1: slots keep WAL without limit, so no slot is ever lost "
    "and time to loss is unbounded; the disk fills instead"
)


@dataclass(frozen=True)
class Snapshot:
    """One cycle's answer: WAL head, the slot limit, every slot and physical replica."""

    in_recovery: bool
    wal_position: float
    max_slot_wal_keep_size: int
    slots: Sequence[Mapping[str, Any]] = field(default_factory=list)
    replicas: Sequence[Mapping[str, Any]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Snapshot:
        """Return the snapshot for a row of ``build_cycle_query``'s result."""
        in_recovery, position, keep_size, slots, replicas = row
        return cls(bool(in_recovery), float(position), int(keep_size), slots, replicas)

    @property
    def limited(self) -> bool:
        return self.max_slot_wal_keep_size >= 0


@dataclass(frozen=True)
class Inactivity:
    """How long a slot has had no reader, and where that figure comes from."""

    seconds: float
    note: str | None = None


def source_samples(source: str, snap: Snapshot, now: float, wal_rate: float | None) -> list[Sample]:
    """Return the per-server samples: recovery, WAL head and rate, slot limit, counts."""
    out = [
        Sample.of("lagwatch_pg_in_recovery", 1 if snap.in_recovery else 0, now, source=source),
        Sample.of("lagwatch_pg_wal_position_bytes", snap.wal_position, now, source=source),
        Sample.of(
            "lagwatch_pg_slot_wal_limited",
            1 if snap.limited else 0,
            now,
            note=None if snap.limited else UNBOUNDED_NOTE,
            source=source,
        ),
        Sample.of("lagwatch_pg_slots", len(snap.slots), now, source=source),
        Sample.of("lagwatch_pg_replicas", len(snap.replicas), now, source=source),
    ]
    if snap.limited:
        out.append(
            Sample.of(
                "lagwatch_pg_max_slot_wal_keep_size_bytes",
                snap.max_slot_wal_keep_size,
                now,
                source=source,
            )
        )
    if wal_rate is not None:
        note = "WAL receive rate (standby)" if snap.in_recovery else None
        out.append(
            Sample.of("lagwatch_pg_wal_bytes_per_second", wal_rate, now, note=note, source=source)
        )
    return out


def time_to_loss(slot: Mapping[str, Any], wal_rate: float | None) -> tuple[float | None, str]:
    """Return seconds until the slot's WAL is removed at the current rate (None: unbounded), and why."""
    status = slot.get("wal_status")
    safe = slot.get("safe_wal_size")
    if status == "lost":
        return 0.0, "slot is lost: its WAL has been removed"
    if slot.get("retained_bytes") is None:
        # Never reserved (e.g. created without reserving): PostgreSQL 17 still shows a
        # negative safe_wal_size for such a slot, but it has no WAL to lose.
        return None, "the slot holds no WAL"
    if safe is None:
        return None, "no max_slot_wal_keep_size limit: WAL is kept until the disk fills"
    if safe <= 0:
        return 0.0, "past max_slot_wal_keep_size: removed at the next checkpoint"
    if wal_rate is None:
        return None, "WAL rate not known yet (needs two cycles)"
    if wal_rate <= 0:
        return None, "no WAL is being written: the slot is not getting closer to loss"
    return safe / wal_rate, f"safe_wal_size {safe} B / {wal_rate:.0f} B/s"


def slot_samples(
    source: str,
    slot: Mapping[str, Any],
    now: float,
    inactivity: Inactivity,
    wal_rate: float | None,
) -> Iterator[Sample]:
    """Yield every sample of one slot; lag is emitted whether or not the slot is active."""
    labels = {"source": source, "slot": slot["slot"]}
    yield Sample.of(
        "lagwatch_pg_slot_info",
        1,
        now,
        slot_type=slot.get("slot_type") or "",
        plugin=slot.get("plugin") or "",
        database=slot.get("database") or "",
        **labels,
    )
    active = bool(slot.get("active"))
    yield Sample.of("lagwatch_pg_slot_active", 1 if active else 0, now, **labels)
    yield Sample.of(
        "lagwatch_pg_slot_inactive_seconds", inactivity.seconds, now, note=inactivity.note, **labels
    )
    # A lost or never-reserved slot has no restart_lsn: it holds no WAL at all.
    retained = slot.get("retained_bytes")
    yield Sample.of(
        "lagwatch_pg_slot_retained_wal_bytes",
        retained if retained is not None else 0,
        now,
        note=None if retained is not None else "no restart_lsn: the slot holds no WAL",
        **labels,
    )
    if slot.get("confirmed_lag_bytes") is not None:
        yield Sample.of(
            "lagwatch_pg_slot_confirmed_lag_bytes", slot["confirmed_lag_bytes"], now, **labels
        )
    status = slot.get("wal_status")
    if status is not None:
        reason = slot.get("invalidation_reason")
        yield Sample.of(
            "lagwatch_pg_slot_wal_status",
            # A status a future release adds is shown as the worst until mapped.
            WAL_STATUS.get(status, WAL_STATUS["lost"]),
            now,
            note=f"{status}" + (f" ({reason})" if reason else ""),
            **labels,
        )
    if slot.get("safe_wal_size") is not None and retained is not None:
        yield Sample.of("lagwatch_pg_slot_safe_wal_bytes", slot["safe_wal_size"], now, **labels)
    seconds, why = time_to_loss(slot, wal_rate)
    if seconds is not None:
        yield Sample.of("lagwatch_pg_slot_time_to_loss_seconds", seconds, now, note=why, **labels)
    for key, name in (
        ("xmin_age", "lagwatch_pg_slot_xmin_age"),
        ("catalog_xmin_age", "lagwatch_pg_slot_catalog_xmin_age"),
    ):
        if slot.get(key) is not None:
            yield Sample.of(name, slot[key], now, **labels)
    if slot.get("conflicting") is not None:
        yield Sample.of(
            "lagwatch_pg_slot_conflicting", 1 if slot["conflicting"] else 0, now, **labels
        )
    for key, name in SLOT_COUNTERS.items():
        if slot.get(key) is not None:
            yield Sample.of(name, slot[key], now, **labels)


def replica_samples(
    source: str, replicas: Sequence[Mapping[str, Any]], now: float
) -> Iterator[Sample]:
    """Yield lag samples per physical replica, one series per application_name.

    Replicas sharing an application_name would share a series; the one
    furthest behind is shown and the note says how many share the name.
    """
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for replica in replicas:
        by_name.setdefault(replica["replica"], []).append(replica)
    for name, group in sorted(by_name.items()):
        worst = max(group, key=lambda r: r.get("replay_lag_bytes") or 0)
        shared = f"{len(group)} replicas share this application_name; the furthest behind is shown"
        labels = {"source": source, "replica": name}
        state = worst.get("state") or "unknown"
        yield Sample.of(
            "lagwatch_pg_replica_streaming",
            1 if state == "streaming" else 0,
            now,
            note=f"state {state}, sync_state {worst.get('sync_state')}"
            + (f"; {shared}" if len(group) > 1 else ""),
            **labels,
        )
        behind = worst.get("replay_lag_bytes")
        if behind is not None:
            yield Sample.of("lagwatch_pg_replica_replay_lag_bytes", behind, now, **labels)
        for key, metric in REPLICA_LAGS.items():
            value = worst.get(key)
            # The server clears these times once a replica is caught up and WAL is idle.
            if value is None and behind == 0:
                yield Sample.of(metric, 0, now, note="caught up, no recent WAL", **labels)
            elif value is not None:
                yield Sample.of(metric, value, now, **labels)
