"""Given PostgreSQL → a real Debezium connector on the devstack's Kafka Connect → Kafka → a group
that commits, when the probe runs with `debezium: true` and no tap of its own, then the Debezium
hop is measured from each change event's envelope, and every hop has positive, ordered times."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.integration.conftest import devstack
from tests.integration.kafka_helpers import CommittingConsumer, topic
from tests.integration.probe_helpers import (
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
     slo: {{freshness: 5s, objective: 99}}}}
probes:
  - pipeline: orders
    dsn: "${{LAGWATCH_PG_PROBE_DSN}}"
    table: {schema}.probe
    interval: 250ms
    timeout: 10s
    debezium: true
    tap: {{enabled: false, publication: {schema}}}
"""


def connect(method: str, path: str, body: dict[str, object] | None = None) -> httpx.Response:
    return httpx.request(method, devstack("CONNECT_URL") + path, json=body, timeout=30)


def wait_running(name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    state: object = None
    while time.monotonic() < deadline:
        answer = connect("GET", f"/connectors/{name}/status")
        if answer.status_code == 200:
            status = answer.json()
            tasks = status.get("tasks", [])
            state = (status["connector"]["state"], [t["state"] for t in tasks])
            if state == ("RUNNING", ["RUNNING"]):
                return
            if any(t["state"] == "FAILED" for t in tasks):
                raise AssertionError(tasks[0].get("trace", "")[:2000])
        time.sleep(0.5)
    raise AssertionError(f"connector {name} not RUNNING after {timeout}s: {state}")


@pytest.fixture
def debezium_pipeline(
    tmp_path: Path, unique: str, pg_admin_dsn: str, kafka_bootstrap: str,
    devstack_env: dict[str, str],
) -> Iterator[tuple[Path, str, str]]:  # fmt: skip
    """The probe table made by `lagwatch probe init`, captured by a Debezium connector."""
    schema, group, prefix = f"lwdbz_{unique}", f"lw-dbz-indexer-{unique}", f"lwdbz{unique}"
    name, slot = f"lw-probe-{unique}", f"lw_dbz_probe_{unique}"
    with topic(kafka_bootstrap, f"{prefix}.{schema}.probe") as events:
        path = write_config(
            tmp_path,
            CONFIG.format(store=tmp_path / "store.db", topic=events, group=group, schema=schema),
        )
        init = lagwatch(devstack_env, "probe", "init", "-c", str(path))
        assert init.returncode == 0, init.stderr
        with psycopg.connect(devstack_env["LAGWATCH_PG_PROBE_DSN"], autocommit=True) as conn:
            debezium = sql.Identifier(devstack("DEBEZIUM_USER"))
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(schema), debezium))  # fmt: skip
            conn.execute(sql.SQL("GRANT SELECT ON {}.probe TO {}").format(
                sql.Identifier(schema), debezium))  # fmt: skip
        answer = connect("POST", "/connectors", {"name": name, "config": {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "tasks.max": "1",
            "database.hostname": devstack("PG_HOST"), "database.port": devstack("PG_PORT"),
            "database.user": devstack("DEBEZIUM_USER"),
            "database.password": devstack("DEBEZIUM_PASSWORD"),
            "database.dbname": devstack("PG_DATABASE"),
            "topic.prefix": prefix, "plugin.name": "pgoutput", "slot.name": slot,
            "publication.name": schema, "publication.autocreate.mode": "disabled",
            "table.include.list": f"{schema}.probe", "snapshot.mode": "no_data",
        }})  # fmt: skip
        assert answer.status_code == 201, answer.text
        try:
            wait_running(name)
            yield path, events, group
        finally:
            connect("PUT", f"/connectors/{name}/stop")
            time.sleep(2)
            connect("DELETE", f"/connectors/{name}/offsets")
            connect("DELETE", f"/connectors/{name}")
            with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    active = conn.execute(
                        "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
                    ).fetchone()
                    if active is None or not active[0]:
                        break
                    time.sleep(0.5)
                conn.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                    "WHERE slot_name = %s", (slot,),
                )  # fmt: skip
                conn.execute(
                    sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(schema))
                )
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


def test_probe_through_debezium_times_the_connector_hop_from_the_envelope(
    debezium_pipeline: tuple[Path, str, str], kafka_bootstrap: str
) -> None:
    path, events, group = debezium_pipeline
    consumer = CommittingConsumer(kafka_bootstrap, events, group)
    _config, collector, runner, store = probe_and_store(path)
    try:
        consumer.wait_assigned()
        collector.start()
        assert collector.wait_ready(30), collector.watcher.error
        run_for(runner, collector, 15)
        hops = ["debezium", "topic", f"group:{group}"]
        assert collector.hops == hops
        # Every trace: each hop reached, no earlier than the one before (Debezium's own clock
        # stamps its hop; this machine's clock the others), all within a second or two.
        traces = [t for t in store.list_records("probe.traces") if t.body["status"] == "ok"]
        assert len(traces) >= 10, [t.body["status"] for t in store.list_records("probe.traces")]
        for trace in traces:
            latencies = [h["latency_seconds"] for h in trace.body["hops"]]
            assert [h["hop"] for h in trace.body["hops"]] == hops
            assert 0 < latencies[0] <= latencies[1] <= latencies[2] < 5.0, latencies
        assert latest(store, "lagwatch_probe_lost_total", hop="debezium") == 0
        assert (
            0
            < latest(store, "lagwatch_probe_latency_seconds", hop="debezium", quantile="0.5")
            < latest(store, "lagwatch_probe_latency_seconds", hop=f"group:{group}", quantile="0.5")
        )
    finally:
        consumer.stop()
        collector.close()
        store.close()
