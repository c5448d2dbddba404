"""`lagwatch demo` end to end on the devstack, with a short stall schedule.

Given the demo runs (its own directory and name suffix, so it never meets a
user's demo), probes flow through every hop; when fraud-scorer stalls on its
own, its hop goes stale while the others stay fresh and the Kafka verdict
turns to STALL, alerts fire into the log receiver's file, and after the demo
lets it recover they resolve.
On SIGTERM the demo exits 0 and leaves no replication session or slot and
no consumer group member behind.
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


def tap_sessions(dsn: str, pipeline: str) -> list[tuple[int, str | None]]:
    """Return (pid, slot) of the replication sessions of the demo's taps."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT a.pid, s.slot_name FROM pg_stat_activity a "
            "LEFT JOIN pg_replication_slots s ON s.active_pid = a.pid "
            "WHERE a.application_name LIKE %s",
            (f"lagwatch-tap:{pipeline}%",),
        ).fetchall()


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
         "--stall-after", str(STALL_AFTER), "--stall-for", str(STALL_FOR)],
        cwd=ROOT, env={**os.environ, **devstack_env, "LAGWATCH_DEMO_DIR": str(tmp_path)},
        stdout=out, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    log = tmp_path / "notifications.log"
    scorer, indexer = f"group:{names.scorer}", f"group:{names.indexer}"
    hops = ["tap", "topic", indexer, scorer]
    try:
        # Given the demo runs: every hop has its latencies, the relay and the probe's tap stream.
        assert wait_for(lambda: (tmp_path / "lagwatch.db").exists(), timeout=60), _tail(tmp_path)
        store = open_store(load(tmp_path / "lagwatch.yaml").store, read_only=True)

        def every_hop_timed() -> bool:
            p50 = [
                value(store, "lagwatch_probe_latency_seconds", hop=h, quantile="0.5") for h in hops
            ]
            return all(v is not None and 0 < v < 2.0 for v in p50)

        assert wait_for(every_hop_timed, timeout=STALL_AFTER + 10), _tail(tmp_path)
        assert len(tap_sessions(pg_admin_dsn, names.pipeline)) == 2  # the relay and the probe's tap
        assert all(slot for _pid, slot in tap_sessions(pg_admin_dsn, names.pipeline))
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert f'pipeline="{names.pipeline}"' in metrics.read().decode()

        # When fraud-scorer stalls: its hop goes stale, the hops before it and the other group do not.
        def scorer_stale() -> bool:
            fresh = value(store, "lagwatch_probe_hop_freshness_seconds", hop=scorer)
            return fresh is not None and fresh > 20

        assert wait_for(scorer_stale, timeout=STALL_AFTER + 40), _tail(tmp_path)
        for hop in ("tap", "topic", indexer):
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
        assert len({n["group_key"] for n in stall}) == 1, stall
        assert all(n["incident"]["root"]["hop"] == scorer for n in stall)
        assert stall[0]["incident"]["pipelines"] == [names.pipeline]
        assert {"KafkaGroupStalled", "PipelineHopStale", "ProbeLost"} <= {
            a["name"] for n in stall for a in n["alerts"]
        }
        assert wait_for(lambda: about(log, names.pipeline, scorer)[-1]["status"] == "resolved")
        stall = about(log, names.pipeline, scorer)
        assert [n["status"] for n in stall].count("resolved") == 1 and len(stall) >= 2
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

    # And SIGTERM stops it cleanly: exit 0, no tap session or slot, no group member left.
    assert demo.returncode == 0, _tail(tmp_path)
    assert wait_for(lambda: not tap_sessions(pg_admin_dsn, names.pipeline), timeout=10)
    assert wait_for(lambda: not listening(dashboard_port), timeout=10)  # Streamlit went too
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
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
