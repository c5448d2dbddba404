"""Three daemons on one PostgreSQL store share 12 collectors; a SIGKILLed one's collectors move on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from lagwatch.fleet import SHARDS
from lagwatch.store.postgres import PostgresStore
from tests.integration.fleet_helpers import (
    Fleet,
    fleet_status,
    fresh_database,
    live,
    ran_by,
    run_spans,
    runs,
)
from tests.integration.fleet_helpers import wait as wait_for

INTERVAL = 2.0
SOURCES = 8
CLUSTERS = 4


@pytest.fixture
def slot(pg_admin_dsn: str, unique: str) -> Iterator[str]:
    """An inactive logical slot on the devstack server: every source sees it, its clock is state."""
    name = f"lagwatch_fleet_{unique}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))
    yield name
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))


def write_config(path: Path, store_dsn: str) -> Path:
    lines = [
        f"store: {{url: '{store_dsn}'}}",
        "daemon: {metrics_listen: null, jitter: 0s}",
        "alerts: {builtin_rules: false}",
        "sources:",
    ]
    lines += [
        f"  - {{name: pg{i}, kind: postgres, dsn: '${{LAGWATCH_PG_MONITOR_DSN}}', "
        f"interval: {INTERVAL:g}s}}"
        for i in range(SOURCES)
    ]
    lines.append("kafka:")
    lines += [
        f"  - {{name: k{i}, bootstrap: '${{LAGWATCH_KAFKA_BOOTSTRAP}}', interval: {INTERVAL:g}s, "
        "timeout: 15s}"
        for i in range(CLUSTERS)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


NAMES = {f"postgres:pg{i}" for i in range(SOURCES)} | {f"kafka:k{i}" for i in range(CLUSTERS)}


def placed(config: Path, members: int) -> dict[str, object] | None:
    """fleet status once ``members`` daemons are live, balanced, and every collector is placed."""
    status = fleet_status(config)
    daemons = live(status)
    if len(daemons) != members or status["unowned"]:
        return None
    share = -(-SHARDS // members)
    if any(len(d["shards"]) > share for d in daemons):
        return None
    if sum(len(d["shards"]) for d in daemons) != SHARDS:
        return None
    return status


def assert_once_per_cycle(dsn: str, start: float, end: float) -> None:
    """Each collector's health series got one sample per interval in the window, never two.

    Two daemons running a collector would write about twice the expected count; a gap in
    ownership would write fewer. The allowance (one run either way, runs spread by their
    duration) is far from either.
    """
    found = runs(dsn, start, end)
    spans = run_spans(dsn, start, end)
    expected = (end - start) / INTERVAL
    counts = {name: len(found.get(name, [])) for name in NAMES}
    for name, count in counts.items():
        assert expected - 2 <= count <= expected + 1, (name, count, expected, counts)
        # From the runs' starts: their end stamps move with how long each run took.
        starts = [a for a, _ in spans[name]]
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert min(gaps) > INTERVAL / 2, (name, gaps)
        overlaps = [
            (a, b) for a, b in zip(spans[name], spans[name][1:], strict=False) if b[0] < a[1]
        ]
        assert not overlaps, (name, overlaps)


def test_three_daemons_share_twelve_collectors_and_a_killed_ones_move_within_two_intervals(
    tmp_path: Path, pg_admin_dsn: str, kafka_bootstrap: str, unique: str, slot: str
) -> None:
    """Given 8 PostgreSQL sources and 4 Kafka clusters and three daemons on one store; when
    they have settled, then every collector runs in exactly one daemon per cycle; when the
    daemon running the most is SIGKILLed, then each of its collectors runs in a survivor
    within 2 intervals of the kill, still once per cycle, and a moved source's
    inactive-slot clock goes on from the store instead of starting again."""
    with fresh_database(pg_admin_dsn, f"lagwatch_fleet_{unique}") as dsn:
        config = write_config(tmp_path / "lagwatch.yaml", dsn)
        fleet = Fleet(config, tmp_path)
        store = PostgresStore(dsn, read_only=True)
        try:
            fleet.start(3)
            status = wait_for("3 balanced daemons", lambda: placed(config, 3), timeout=120)
            daemons = live(status)
            owners = {n: d["daemon"] for d in daemons for n in d["collectors"]}
            assert set(owners) == NAMES
            assert len({owners[n] for n in NAMES}) >= 2, owners  # spread, not all in one
            time.sleep(2 * INTERVAL)  # runs of the newly placed collectors have started

            window_start = time.time()
            time.sleep(10 * INTERVAL)
            window_end = time.time()
            assert placed(config, 3) is not None, "ownership changed while nothing happened"
            assert_once_per_cycle(dsn, window_start, window_end)
            by = ran_by(store)
            assert {n: by[n] for n in NAMES} == owners

            victim = max(daemons, key=lambda d: len(d["collectors"]))
            moved = set(victim["collectors"])
            clocks_before = _slot_clocks(store, slot)
            killed = fleet.kill(victim["daemon"])

            def resumed() -> dict[str, float] | None:
                found = runs(dsn, killed, time.time() + 60)
                first = {n: found[n][0] for n in moved if found.get(n)}
                return first if len(first) == len(moved) else None

            first = wait_for("the killed daemon's collectors elsewhere", resumed, timeout=60)
            takeover = {n: round(ts - killed, 2) for n, ts in first.items()}
            print(json.dumps({"takeover_seconds": takeover, "moved": sorted(moved)}))
            assert max(takeover.values()) <= 2 * INTERVAL, takeover
            by = ran_by(store)
            assert all(by[n] not in ("", victim["daemon"]) for n in moved), by

            status = wait_for("2 balanced daemons", lambda: placed(config, 2), timeout=60)
            time.sleep(INTERVAL)
            window_start = time.time()
            time.sleep(8 * INTERVAL)
            window_end = time.time()
            assert placed(config, 2) is not None
            assert_once_per_cycle(dsn, window_start, window_end)

            # State in the store moved with the collectors: the clock of the inactive slot
            # seen by a moved source did not restart from 0 in its new daemon.
            clocks_after = _slot_clocks(store, slot)
            for name in moved:
                if name.startswith("postgres:"):
                    source = name.removeprefix("postgres:")
                    before, after = clocks_before[source], clocks_after[source]
                    assert after >= before + (window_end - killed) - 2 * INTERVAL, (
                        source,
                        before,
                        after,
                    )
        finally:
            fleet.stop()
            store.close()
    text = fleet.log_text()
    assert "Traceback" not in text, text[-5000:]


def _slot_clocks(store: PostgresStore, slot: str) -> dict[str, float]:
    return {
        v.label_dict["source"]: v.value
        for v in store.latest("lagwatch_pg_slot_inactive_seconds", {"slot": slot})
    }
