"""`lagwatch report capacity` over what the real PostgreSQL collector wrote."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from pydantic import SecretStr

from lagwatch.collectors.runner import Runner
from lagwatch.store import StoreConfig, open_store
from tests.integration.pg_helpers import collector

ROOT = Path(__file__).resolve().parents[2]
CYCLES = 6


def test_a_slot_retaining_growing_wal_shows_a_positive_rate(
    tmp_path: Path, pg_admin_dsn: str, pg_monitor_dsn: str, unique: str
) -> None:
    """Given a logical slot with no reader while WAL is written between collector cycles
    (run as the pg_monitor role into a SQLite store), when we report capacity, then the slot
    is listed as growing, and on this server without max_slot_wal_keep_size with no limit."""
    slot = f"lw_capacity_{unique}"
    db = tmp_path / "lagwatch.db"
    store = open_store(StoreConfig(url=SecretStr(f"sqlite:///{db}")))
    runner = Runner(store)
    pg = collector(pg_monitor_dsn)
    with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        try:
            admin.execute("SET synchronous_commit = on")
            for _ in range(CYCLES):
                admin.execute(
                    "SELECT pg_logical_emit_message(true, 'lagwatch-test', repeat('x', %s))",
                    (128 * 1024,),
                )
                assert runner.run(pg).ok
                time.sleep(1.0)
            assert runner.flush()
        finally:
            pg.close()
            store.close()
            admin.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = %s",
                (slot,),
            )
    config = tmp_path / "lagwatch.yaml"
    config.write_text(f"store:\n  url: sqlite:///{db}\n")
    done = subprocess.run(
        [sys.executable, "-m", "lagwatch", "report", "capacity", "-c", str(config), "--json",
         "--window", "2m"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    [item] = [i for i in json.loads(done.stdout) if i["labels"].get("slot") == slot]
    assert item["kind"] == "pg_slot"
    assert item["points"] == CYCLES
    assert item["rate_per_hour"] > 0
    assert item["value"] >= CYCLES * 128 * 1024
    assert item["state"] == "growing_no_limit"
    assert item["limit"] is None and "no limit" in item["note"]
