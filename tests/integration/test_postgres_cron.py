"""`lagwatch collect --once` run again and again (as cron would) keeps what only time can tell:
how long a slot has been inactive, and how fresh a pipeline is after its reader fell behind."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

from lagwatch.store.sqlite import SqliteStore
from tests.integration.conftest import devstack

ROOT = Path(__file__).resolve().parents[2]


def collect_once(config: Path, must_pass: bool = True) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lagwatch", "collect", "--once", "-c", str(config)],
        cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 or not must_pass, done.stdout + done.stderr


def latest(store_path: Path, name: str, **labels: str) -> float:
    store = SqliteStore(store_path, read_only=True)
    try:
        [value] = store.latest(name, labels)
        return value.value
    finally:
        store.close()


def test_inactive_slot_clock_keeps_counting_across_collect_once_runs(
    tmp_path: Path, pg_admin_dsn: str, pg_monitor_dsn: str, unique: str
) -> None:
    """Given a logical slot nobody reads, when `collect --once` runs three times some seconds
    apart, then the third run's inactive time spans (nearly) all of it, instead of restarting
    at 0 each run because the first sighting stored exactly 0."""
    slot = f"lw_cron_{unique}"
    config = tmp_path / "lagwatch.yaml"
    config.write_text(f"""
store: {{url: "sqlite:///{tmp_path}/store.db"}}
daemon: {{metrics_listen: null}}
alerts: {{enabled: false}}
sources:
  - {{name: cron-{unique}, kind: postgres, dsn: "{pg_monitor_dsn}"}}
""")
    with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        try:
            first = time.time()
            collect_once(config)
            time.sleep(4)
            collect_once(config)
            time.sleep(4)
            collect_once(config)
            last = time.time()
            inactive = latest(
                tmp_path / "store.db", "lagwatch_pg_slot_inactive_seconds",
                source=f"cron-{unique}", slot=slot,
            )  # fmt: skip
        finally:
            admin.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    # First sighting lies within the first run; the third reading within the last.
    assert 8.0 - 1.0 <= inactive <= last - first + 1.0, inactive


def test_estimated_freshness_follows_the_age_of_the_oldest_unread_change(
    tmp_path: Path, pg_admin_dsn: str, pg_monitor_dsn: str, unique: str
) -> None:
    """Given a slot left behind by a burst of writes and then only a trickle, when the pipeline's
    freshness is estimated, then it is the age of the burst (when the WAL head passed the slot's
    position), not the burst's bytes divided by the trickle's rate, which is far larger."""
    slot, name = f"lw_fresh_{unique}", sql.Identifier(f"lw_fresh_{unique}")
    config = tmp_path / "lagwatch.yaml"
    config.write_text(f"""
store: {{url: "sqlite:///{tmp_path}/store.db"}}
daemon: {{metrics_listen: null}}
alerts: {{enabled: false}}
sources:
  - {{name: fresh-{unique}, kind: postgres, dsn: "{pg_monitor_dsn}", wal_rate_window: 5s}}
kafka:
  - {{name: k-{unique}, bootstrap: "{devstack("KAFKA_BOOTSTRAP")}"}}
pipelines:
  - {{name: p-{unique}, source: fresh-{unique}, slot: {slot}, topic: t-{unique},
     slo: {{freshness: 5s}}}}
""")
    with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE TABLE {} (id serial PRIMARY KEY, pad text)").format(name))
        try:
            # The WAL head before the slot exists (the estimate has no lag to read yet).
            collect_once(config, must_pass=False)
            admin.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
            behind_since = time.time()
            admin.execute("SET synchronous_commit = on")
            burst = "INSERT INTO {} (pad) SELECT repeat('x', 2000) FROM generate_series(1, 2500)"
            admin.execute(sql.SQL(burst).format(name))
            for _ in range(8):  # a trickle: the WAL rate over 5 s is now tiny
                # A pass's estimate may run before its own slot reading is stored.
                collect_once(config, must_pass=False)
                admin.execute(sql.SQL("INSERT INTO {} (pad) VALUES ('y')").format(name))
                time.sleep(1)
            collect_once(config, must_pass=False)
            truth = time.time() - behind_since
            freshness = latest(
                tmp_path / "store.db", "lagwatch_pipeline_freshness_seconds",
                pipeline=f"p-{unique}", method="estimate",
            )  # fmt: skip
        finally:
            admin.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = %s", (slot,),
            )  # fmt: skip
            admin.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(name))
    # Within a couple of collection runs of the truth (each run is a fresh process).
    assert truth - 8.0 <= freshness <= truth + 5.0, (freshness, truth)
