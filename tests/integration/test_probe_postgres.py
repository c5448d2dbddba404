"""Given PostgreSQL → lagwatch tap (relay) → Kafka → a consumer group that commits,
when the probe runs, then every hop is timed, and a stopped consumer shows as its own hop."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.integration.conftest import ROOT
from tests.integration.kafka_helpers import CommittingConsumer, topic
from tests.integration.probe_helpers import (
    assert_every_hop_timed,
    assert_only_group_hop_stale,
    lagwatch,
    latest,
    probe_and_store,
    run_for,
    write_config,
)

pytestmark = pytest.mark.integration

CONFIG = """
store: {{url: "sqlite:///{store}"}}
sources:
  - {{name: pg, kind: postgres, dsn: "${{LAGWATCH_PG_MONITOR_DSN}}"}}
kafka:
  - {{name: local, bootstrap: "${{LAGWATCH_KAFKA_BOOTSTRAP}}"}}
pipelines:
  - {{name: orders, source: pg, topic: {topic}, groups: [{group}],
     slo: {{freshness: 2s, objective: 99}}}}
probes:
  - pipeline: orders
    dsn: "${{LAGWATCH_PG_PROBE_DSN}}"
    table: {schema}.probe
    interval: 250ms
    timeout: 3s
    tap: {{publication: {schema}, relay: true}}
"""


@pytest.fixture
def pg_pipeline(
    tmp_path: Path,
    unique: str,
    pg_admin_dsn: str,
    kafka_bootstrap: str,
    devstack_env: dict[str, str],
) -> Iterator[tuple[Path, str, str]]:
    """A config for one probed pipeline, its probe table created by `lagwatch probe init`."""
    schema, group = f"lwp_{unique}", f"lw-indexer-{unique}"
    with topic(kafka_bootstrap, f"lw-orders-{unique}") as name:
        path = write_config(
            tmp_path,
            CONFIG.format(store=tmp_path / "store.db", topic=name, group=group, schema=schema),
        )
        init = lagwatch(devstack_env, "probe", "init", "-c", str(path))
        try:
            assert init.returncode == 0, init.stderr
            assert f"publication {schema} created for {schema}.probe" in init.stdout
            assert "GRANT CONNECT, CREATE ON DATABASE" in init.stdout
            yield path, name, group
        finally:
            with psycopg.connect(devstack_env["LAGWATCH_PG_PROBE_DSN"], autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(schema))
                )
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


def test_probe_times_every_hop_and_a_stopped_group_alone_goes_stale(
    pg_pipeline: tuple[Path, str, str], kafka_bootstrap: str
) -> None:
    path, topic_name, group = pg_pipeline
    consumer = CommittingConsumer(kafka_bootstrap, topic_name, group)
    config, collector, runner, store = probe_and_store(path)
    try:
        consumer.wait_assigned()
        collector.start()
        assert collector.wait_ready(30), (
            collector.tap and collector.tap.error,
            collector.watcher.error,
        )

        # Given an idle database and a healthy consumer, when probes flow for a few seconds…
        run_for(runner, collector, 5)
        hops = ["tap", "topic", f"group:{group}"]
        assert_every_hop_timed(store, len(hops))
        for hop in hops:
            assert (
                0 < latest(store, "lagwatch_probe_latency_seconds", hop=hop, quantile="0.99") < 1.0
            )
            assert latest(store, "lagwatch_probe_lost_total", hop=hop) == 0
        assert latest(store, "lagwatch_pipeline_slo_events_total", outcome="good") >= 10
        position = store.get_record("tap.position", "orders-tap")
        assert position is not None and "/" in position.body["lsn"]

        # When the consumer stops, its hop loses probes and freshness climbs…
        consumer.stop()
        run_for(runner, collector, 5)
        first = latest(store, "lagwatch_pipeline_freshness_seconds", method="probe")
        run_for(runner, collector, 2)
        second = latest(store, "lagwatch_pipeline_freshness_seconds", method="probe")
        assert second >= first + 1.5 and first > 3, (first, second)
        assert latest(store, "lagwatch_pipeline_slo_events_total", outcome="bad") >= 4
        assert_only_group_hop_stale(store, group)
        lost = [t for t in store.list_records("probe.traces") if t.body["status"] == "lost"]
        assert lost and all(
            [h["status"] for h in t.body["hops"]] == ["ok", "ok", "lost"] for t in lost
        )
    finally:
        consumer.stop()
        collector.close()
        store.close()


def test_killed_tap_leaves_no_slot_behind(
    pg_pipeline: tuple[Path, str, str], pg_admin_dsn: str, devstack_env: dict[str, str]
) -> None:
    path, _topic, _group = pg_pipeline
    tap = subprocess.Popen(
        [sys.executable, "-m", "lagwatch", "tap", "--pipeline", "orders", "-c", str(path)],
        cwd=ROOT, env=devstack_env | {"PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert tap.stdout is not None
        line = tap.stdout.readline()
        assert "streaming (slot lagwatch_tap_" in line, line
        slot = line.rsplit("slot ", 1)[1].rstrip(")\n")
        with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
            query = "SELECT active, temporary FROM pg_replication_slots WHERE slot_name = %s"
            assert conn.execute(query, (slot,)).fetchone() == (True, True)
            tap.kill()  # SIGKILL: no chance to clean up
            tap.wait(10)
            deadline = time.monotonic() + 30
            while conn.execute(query, (slot,)).fetchone() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert conn.execute(query, (slot,)).fetchone() is None
    finally:
        tap.kill()
        tap.wait(10)


def test_probe_once_prints_the_hops_and_exits_by_the_slo(
    pg_pipeline: tuple[Path, str, str], kafka_bootstrap: str, devstack_env: dict[str, str]
) -> None:
    path, topic_name, group = pg_pipeline
    command = ["probe", "--once", "--pipeline", "orders", "-c", str(path)]
    consumer = CommittingConsumer(kafka_bootstrap, topic_name, group)
    try:
        consumer.wait_assigned()
        run = lagwatch(devstack_env, *command)
        assert run.returncode == 0, run.stdout + run.stderr
        for hop in ("commit → tap", "commit → topic", f"commit → group:{group}"):
            line = next(x for x in run.stdout.splitlines() if x.startswith(hop))
            assert line.endswith(" ok") and " ms " in line, line
        assert "SLO 2s met" in run.stdout
    finally:
        consumer.stop()
    # With the group's consumer gone, the probe cannot reach its last hop: exit 1.
    run = lagwatch(devstack_env, *command)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"commit → group:{group}" in run.stdout and "LOST" in run.stdout
    assert "SLO 2s missed" in run.stdout
