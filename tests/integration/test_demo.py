"""`lagwatch demo` end to end on the devstack, with a short schedule, its CDC real Debezium.

Given the demo runs (its own directory and name suffix, so it never meets a
user's demo) with a Debezium connector of its own on the devstack's Kafka
Connect, probes flow through every hop; when fraud-scorer stalls on its own,
its hop goes stale while the others stay fresh and the Kafka verdict turns to
STALL, alerts fire into the log receiver's file as one incident, and after the
demo lets it recover they resolve. Then the connector's task fails (its
publication dropped under it): the reader-health verdict says FAILED, one
incident rooted at the connector is told, and after the demo repairs the
connector it resolves once.
On SIGTERM the demo exits 0 and leaves no connector, slot or topic of its own
and no consumer group member behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient
from psycopg import sql

from lagwatch.config import load
from lagwatch.demo.config import DemoNames
from lagwatch.store import Store, open_store
from tests.integration.conftest import ROOT
from tests.integration.pg_helpers import wait_for
from tests.support.ports import free_port

STALL_AFTER, STALL_FOR = 20, 60
BREAK_AFTER, BREAK_FOR = 25, 100


@pytest.fixture
def demo_names(unique: str, pg_admin_dsn: str, kafka_bootstrap: str) -> Iterator[DemoNames]:
    """The demo's names for this test; everything they name is removed afterwards."""
    names = DemoNames(unique)
    yield names
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(names.schema))
        )
        conn.execute(
            sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(names.publication))
        )
        conn.execute("DELETE FROM lagwatch.probe WHERE pipeline = %s", (names.pipeline,))
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.delete_topics([names.topic]).values():
        future.exception(timeout=30)
    for future in admin.delete_consumer_groups([names.indexer, names.scorer]).values():
        future.exception(timeout=30)


def notifications(path: Path) -> list[dict]:
    """Return every notification in the log receiver's file (digests unpacked)."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        body = json.loads(line)
        found += body.get("digest", [body])
    return found


def told(path: Path, alertname: str, state: str, **labels: str) -> bool:
    """Return whether the log receiver was told ``alertname`` with ``labels`` in ``state``."""
    return any(
        a["name"] == alertname and labels.items() <= a["labels"].items() and a["state"] == state
        for n in notifications(path)
        for a in n["alerts"]
    )


def about(path: Path, pipeline: str, hop: str) -> list[dict]:
    """Return the notifications telling an alert at ``hop`` or about the whole ``pipeline``."""

    def at(labels: dict[str, str]) -> bool:
        if labels.get("hop") == hop or f"group:{labels.get('group')}" == hop:
            return True
        return labels.get("pipeline") == pipeline and "hop" not in labels

    return [n for n in notifications(path) if any(at(a["labels"]) for a in n["alerts"])]


def value(store: Store, name: str, **labels: str) -> float | None:
    found = store.latest(name, labels)
    return found[0].value if len(found) == 1 else None


def kafka(store: Store, what: str, group: str) -> float | None:
    """Return the demo cluster's latest lagwatch_kafka_group_WHAT for ``group``."""
    return value(store, f"lagwatch_kafka_group_{what}", cluster="demo", group=group)


def keyed(path: Path, key: str) -> list[dict]:
    """Return the notifications of one notification group (one incident) in order."""
    return [n for n in notifications(path) if n["group_key"] == key]


def root_hop(n: dict) -> str | None:
    return ((n.get("incident") or {}).get("root") or {}).get("hop")


def slot_active(dsn: str, slot: str) -> bool | None:
    """Return whether ``slot`` has a reader (None: no such slot)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
        ).fetchone()
    return None if row is None else bool(row[0])


def connector_state(url: str, name: str) -> tuple[str, list[str]] | None:
    with urllib.request.urlopen(f"{url}/connectors", timeout=10) as answer:
        if name not in json.loads(answer.read()):
            return None
    with urllib.request.urlopen(f"{url}/connectors/{name}/status", timeout=10) as answer:
        body = json.loads(answer.read())
    return body["connector"]["state"], [t["state"] for t in body["tasks"]]


def test_demo_pipeline_stalls_alerts_and_recovers(
    tmp_path: Path, demo_names: DemoNames, pg_admin_dsn: str, kafka_bootstrap: str,
    devstack_env: dict[str, str],
) -> None:  # fmt: skip
    names = demo_names
    dashboard_port, metrics_port = free_port(), free_port()
    out = (tmp_path / "demo.out").open("w")
    demo = subprocess.Popen(
        [sys.executable, "-m", "lagwatch", "demo", "--suffix", names.suffix,
         "--port", str(dashboard_port), "--metrics-port", str(metrics_port),
         "--stall-after", str(STALL_AFTER), "--stall-for", str(STALL_FOR),
         "--break-after", str(BREAK_AFTER), "--break-for", str(BREAK_FOR)],
        cwd=ROOT, env={**os.environ, **devstack_env, "LAGWATCH_DEMO_DIR": str(tmp_path)},
        stdout=out, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    log = tmp_path / "notifications.log"
    scorer, indexer = f"group:{names.scorer}", f"group:{names.indexer}"
    hops = ["debezium", "topic", indexer, scorer]
    connect_url = devstack_env["LAGWATCH_CONNECT_URL"]
    try:
        # Given the demo runs: every hop has its latencies, its Debezium connector streams.
        assert wait_for(lambda: (tmp_path / "lagwatch.db").exists(), timeout=60), _tail(tmp_path)
        config = load(tmp_path / "lagwatch.yaml")
        store = open_store(config.store, read_only=True)
        (connector,) = config.connect[0].links
        slot, events = config.pipelines[0].slot, config.pipelines[0].topic
        assert slot and connector.startswith(f"demo-orders-cdc-{names.suffix}-")

        def every_hop_timed() -> bool:
            p50 = [
                value(store, "lagwatch_probe_latency_seconds", hop=h, quantile="0.5") for h in hops
            ]
            return all(v is not None and 0 < v < 2.0 for v in p50)

        assert wait_for(every_hop_timed, timeout=STALL_AFTER + 10), _tail(tmp_path)
        assert connector_state(connect_url, connector) == ("RUNNING", ["RUNNING"])
        assert slot_active(pg_admin_dsn, slot) is True
        health = "lagwatch_debezium_reader_health"
        assert wait_for(
            lambda: value(store, health, cluster="cdc", connector=connector) == 0, timeout=30
        ), store.latest(health)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert f'pipeline="{names.pipeline}"' in metrics.read().decode()

        # When fraud-scorer stalls: its hop goes stale, the hops before it and the other group do not.
        def scorer_stale() -> bool:
            fresh = value(store, "lagwatch_probe_hop_freshness_seconds", hop=scorer)
            return fresh is not None and fresh > 20

        assert wait_for(scorer_stale, timeout=STALL_AFTER + 40), _tail(tmp_path)
        for hop in ("debezium", "topic", indexer):
            assert (value(store, "lagwatch_probe_hop_freshness_seconds", hop=hop) or 99) < 5, hop
            assert value(store, "lagwatch_probe_lost_total", hop=hop) == 0, hop
        assert wait_for(lambda: (value(store, "lagwatch_probe_lost_total", hop=scorer) or 0) > 0)

        # And the Kafka collector's verdict: fraud-scorer STALL (it holds its partitions and
        # commits nothing) with its lag growing; search-indexer is not stuck.
        assert wait_for(lambda: kafka(store, "status", names.scorer) == 4, timeout=40), (
            store.latest("lagwatch_kafka_group_status"),
            _tail(tmp_path),
        )
        assert (kafka(store, "status", names.indexer) or 0) < 2
        assert (kafka(store, "lag_messages", names.scorer) or 0) > 10
        # STALL comes within seconds of the last commit (its usual gap is one second), before
        # the messages waiting on it are 20 s old; they get there while it stays stalled.
        assert wait_for(lambda: (kafka(store, "max_lag_seconds", names.scorer) or 0) > 20)
        assert kafka(store, "status", names.scorer) == 4

        # Then the stale hop fires an alert into the log receiver's file, naming the group's hop.
        assert wait_for(lambda: told(log, "PipelineHopStale", "firing", hop=scorer), timeout=30), (
            notifications(log),
            _tail(tmp_path),
        )
        assert not told(log, "PipelineHopStale", "firing", hop=indexer)
        assert wait_for(lambda: told(log, "KafkaGroupStalled", "firing", group=names.scorer))
        assert not told(log, "KafkaGroupStalled", "firing", group=names.indexer)

        # When the demo lets it recover: it catches up and the alert resolves in the log.
        assert wait_for(
            lambda: told(log, "PipelineHopStale", "resolved", hop=scorer), timeout=STALL_FOR + 45
        ), (notifications(log), _tail(tmp_path))
        assert wait_for(
            lambda: (value(store, "lagwatch_probe_hop_freshness_seconds", hop=scorer) or 99) < 5,
            timeout=30,
        )
        assert wait_for(lambda: told(log, "KafkaGroupStalled", "resolved", group=names.scorer))
        assert wait_for(lambda: kafka(store, "status", names.scorer) == 0, timeout=30)

        # And all of it was one incident: first told naming the stalled group's hop, then
        # updated as the other alerts joined (one group key throughout), then resolved once.
        stall = about(log, names.pipeline, scorer)
        key = stall[0]["group_key"]
        assert {n["group_key"] for n in stall} == {key}, stall  # nothing else is about it yet
        assert all(root_hop(n) == scorer for n in keyed(log, key))
        assert stall[0]["incident"]["pipelines"] == [names.pipeline]
        assert {"KafkaGroupStalled", "PipelineHopStale", "ProbeLost"} <= {
            a["name"] for n in keyed(log, key) for a in n["alerts"]
        }
        assert wait_for(lambda: keyed(log, key)[-1]["status"] == "resolved", timeout=45)
        stall = keyed(log, key)
        assert [n["status"] for n in stall].count("resolved") == 1 and len(stall) >= 2

        # When the demo drops the connector's publication: its task FAILED (the connector says
        # RUNNING), the reader-health verdict says FAILED and the slot has no reader.
        assert wait_for(
            lambda: (connector_state(connect_url, connector) or ("", []))[1] == ["FAILED"],
            timeout=BREAK_AFTER + 60,
        ), _tail(tmp_path)
        assert wait_for(
            lambda: value(store, health, cluster="cdc", connector=connector) == 5, timeout=30
        )
        assert wait_for(lambda: slot_active(pg_admin_dsn, slot) is False, timeout=30)

        # Then one incident is told, rooted at the connector and naming it.
        at_connector = f"connector:{connector}"

        def paged() -> list[dict]:
            return [n for n in notifications(log) if root_hop(n) == at_connector]

        assert wait_for(lambda: bool(paged()), timeout=BREAK_FOR), (
            notifications(log),
            _tail(tmp_path),
        )
        page = paged()[0]
        assert page["status"] == "firing" and page["group_key"] != key
        assert any(
            a["name"] == "DebeziumReaderStuck" and a["labels"]["connector"] == connector
            for a in page["alerts"]
        ), page
        assert connector in json.dumps(page["incident"])
        broken = page["group_key"]
        # When the demo repairs it (new slot, offsets deleted, resumed), it resolves, once.
        assert wait_for(
            lambda: connector_state(connect_url, connector) == ("RUNNING", ["RUNNING"]),
            timeout=BREAK_FOR + 60,
        ), _tail(tmp_path)
        assert wait_for(
            lambda: value(store, health, cluster="cdc", connector=connector) == 0, timeout=30
        )
        assert wait_for(lambda: keyed(log, broken)[-1]["status"] == "resolved", timeout=90), (
            keyed(log, broken),
            _tail(tmp_path),
        )
        told_broken = keyed(log, broken)
        assert [n["status"] for n in told_broken].count("resolved") == 1
        # Nothing else about the pipeline or the connector was told from the page on.
        sent = notifications(log)
        later = [
            n
            for n in sent[sent.index(page) :]
            if names.pipeline in (n.get("incident") or {}).get("pipelines", [])
            or connector in json.dumps(n["alerts"])
        ]
        assert {n["group_key"] for n in later} == {broken}, later
        assert wait_for(
            lambda: (value(store, "lagwatch_probe_hop_freshness_seconds", hop=scorer) or 99) < 5,
            timeout=30,
        )
        with psycopg.connect(pg_admin_dsn) as conn:
            count = sql.SQL("SELECT count(*) FROM {}.orders").format(sql.Identifier(names.schema))
            orders = conn.execute(count).fetchone()
        assert orders is not None and orders[0] > STALL_AFTER  # a few a second, all along
        dashboard = urllib.request.urlopen(
            f"http://127.0.0.1:{dashboard_port}/_stcore/health", timeout=10
        )
        assert dashboard.read() == b"ok"
        store.close()
    finally:
        demo.send_signal(signal.SIGTERM)
        try:
            demo.wait(timeout=60)
        finally:
            out.close()
            if demo.poll() is None:
                demo.kill()

    # And SIGTERM stops it cleanly: exit 0, no connector, slot or topic, no group member left.
    assert demo.returncode == 0, _tail(tmp_path)
    assert connector_state(connect_url, connector) is None
    assert slot_active(pg_admin_dsn, slot) is None
    assert wait_for(lambda: not listening(dashboard_port), timeout=10)  # Streamlit went too
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    assert wait_for(lambda: events not in admin.list_topics(timeout=10).topics, timeout=30)
    for group in admin.describe_consumer_groups([names.indexer, names.scorer]).values():
        assert group.result(timeout=30).members == []
    # `lagwatch snapshot --json` on the demo config shows every hop's latency quantiles.
    snapshot = subprocess.run(
        [sys.executable, "-m", "lagwatch", "snapshot", "--json", "--name",
         "lagwatch_probe_latency_seconds", "-c", str(tmp_path / "lagwatch.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    timed = {(v["labels"]["hop"], v["labels"]["quantile"]) for v in json.loads(snapshot.stdout)}
    assert {(h, q) for h in hops for q in ("0.5", "0.95", "0.99", "1")} <= timed


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _tail(directory: Path) -> str:
    path = directory / "demo.out"
    return path.read_text()[-3000:] if path.exists() else "(no output)"
