"""Alert scenarios through the real daemon wiring (scheduler → runner → engine → outbox → HTTP).

The Kafka collector in this branch does not yet emit `lagwatch_kafka_group_status`, so the
consumer group's verdicts come from a collector that yields them through the runner like the
Kafka collector will. The source that stops is a real, private PostgreSQL server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lagwatch.alerts.topology import PipelineLink, Topology
from lagwatch.config import LagwatchConfig
from lagwatch.daemon import Daemon
from tests.integration.conftest import devstack
from tests.support.alerting import GroupVerdicts
from tests.support.private_postgres import PrivatePostgres
from tests.support.receivers import PD_ACCEPTED, SLACK_OK, FakeReceiver

INTERVAL = 2.0


def daemon_config(
    tmp: Path, slack: FakeReceiver, pd: FakeReceiver, sources: Any = (), **alerts: Any
) -> LagwatchConfig:
    data: dict[str, Any] = {
        "store": {"url": f"sqlite:///{tmp}/lagwatch.db"},
        "sources": list(sources),
        "daemon": {"metrics_listen": None, "jitter": 0},
        "alerts": {
            "disable": ["CollectorSilent"],
            "receivers": [
                {"name": "team", "slack": {"webhook_url": slack.url}},
                {"name": "oncall", "pagerduty": {"routing_key": "KEY", "url": pd.url}},
            ],
            "routes": [{"match": {"severity": "page"}, "receiver": "oncall", "continue": True},
                       {"receiver": "team"}],
            "group_interval": "3s",
            **alerts,
        },
    }  # fmt: skip
    return LagwatchConfig.model_validate(data)


@pytest.fixture
def receivers() -> Iterator[tuple[FakeReceiver, FakeReceiver]]:
    with FakeReceiver(SLACK_OK) as slack, FakeReceiver(PD_ACCEPTED) as pd:
        yield slack, pd


def test_a_consumer_group_stops_then_resumes(
    tmp_path: Path, receivers: tuple[FakeReceiver, FakeReceiver]
) -> None:
    """Given search-indexer consuming; when it stops, then one Slack message and one PagerDuty
    trigger within one collection interval + 5 s; when it resumes, one resolve each."""
    slack, pd = receivers
    daemon = Daemon(daemon_config(tmp_path, slack, pd))
    groups = GroupVerdicts("main", INTERVAL, {"search-indexer": (0, 1.0), "fraud-scorer": (0, 1.0)})
    daemon.collectors = [groups]
    daemon.start()
    try:
        time.sleep(2 * INTERVAL)
        assert slack.received == [] and pd.received == []
        stopped_at = time.time()
        groups.set("search-indexer", 3, 240.0)
        [message] = slack.wait_for(1, timeout=INTERVAL + 5)
        [trigger] = pd.wait_for(1, timeout=INTERVAL + 5)
        assert message.at - stopped_at <= INTERVAL + 5
        assert trigger.at - stopped_at <= INTERVAL + 5
        assert (
            message.body["blocks"][0]["text"]["text"] == "[FIRING] KafkaGroupStopped cluster=main"
        )
        assert trigger.body["event_action"] == "trigger"
        assert trigger.body["payload"]["component"] == "search-indexer"
        time.sleep(3 * INTERVAL)
        assert (len(slack.received), len(pd.received)) == (1, 1), "still stopped: no repeats"

        groups.set("search-indexer", 0, 1.0)
        slack.wait_for(2, timeout=INTERVAL + 3 + 5)
        pd.wait_for(2, timeout=INTERVAL + 3 + 5)
        time.sleep(2 * INTERVAL)
        assert (len(slack.received), len(pd.received)) == (2, 2)
        assert slack.received[1].body["blocks"][0]["text"]["text"].startswith("[RESOLVED]")
        assert pd.received[1].body == {"routing_key": "KEY", "event_action": "resolve",
                                       "dedup_key": trigger.body["dedup_key"]}  # fmt: skip
        [notify] = daemon.store.latest("lagwatch_alert_notify_seconds", {"receiver": "oncall"})
        assert 0 < notify.value <= INTERVAL + 5
    finally:
        daemon.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A throwaway PostgreSQL server on a free port, with a pg_monitor login `monitor`."""
    with PrivatePostgres(devstack("PG_BIN")) as server:
        server.add_monitor_role("monitor")
        yield server


def test_a_source_stops_one_source_down_alert_and_no_lag_alerts_for_its_pipelines(
    tmp_path: Path, receivers: tuple[FakeReceiver, FakeReceiver], private_postgres: PrivatePostgres
) -> None:
    """Given pipeline orders (PostgreSQL orders-db → group search-indexer) and pipeline billing
    (another source → group ledger); when orders-db stops and both groups fall behind, then one
    CollectorDown alert for orders-db and a lag alert for ledger only."""
    slack, pd = receivers
    dsn = private_postgres.dsn("monitor")
    config = daemon_config(
        tmp_path, slack, pd,
        rules=[
            {"name": "CollectorDown", "expr": "lagwatch_collector_up == 0", "for": "2s",
             "severity": "page", "annotations": {"summary": "{{ $labels.collector }} is down"}},
            {"name": "KafkaGroupLagHigh", "expr": "lagwatch_kafka_group_max_lag_seconds > 60",
             "for": "4s", "severity": "warning"},
        ],
        group_by=["alertname"],
        sources=[{"kind": "postgres", "name": "orders-db", "dsn": dsn,
                  "interval": "1s", "timeout": "2s"}],
    )  # fmt: skip
    daemon = Daemon(config)
    assert daemon.alerts is not None
    daemon.alerts.engine.topology = Topology([
        PipelineLink("orders", source="orders-db", cluster="main", groups=("search-indexer",)),
        PipelineLink("billing", source="billing-db", cluster="main", groups=("ledger",)),
    ])  # fmt: skip
    groups = GroupVerdicts("main", INTERVAL, {"search-indexer": (0, 1.0), "ledger": (0, 1.0)})
    daemon.collectors.append(groups)
    daemon.start()
    try:
        time.sleep(2 * INTERVAL)
        [up] = daemon.store.latest("lagwatch_collector_up", {"collector": "postgres:orders-db"})
        assert up.value == 1, up.note
        private_postgres.stop()
        groups.set("search-indexer", 0, 300.0)
        groups.set("ledger", 0, 300.0)
        slack.wait_for(2, timeout=20)
        time.sleep(3 * INTERVAL)
        told = sorted(
            (a["alert"], a["labels"].get("collector") or a["labels"].get("group"))
            for e in pd.received
            for a in e.body["payload"]["custom_details"]["firing"]
        )
        assert told == [("CollectorDown", "postgres:orders-db")]
        # Each is an incident of its own pipeline: orders-db's (its group's lag held back
        # inside it) and billing's ledger.
        titles = sorted(m.body["blocks"][0]["text"]["text"] for m in slack.received)
        assert titles == [
            "[FIRING] group:ledger (billing): KafkaGroupLagHigh",
            "[FIRING] source:orders-db (orders): CollectorDown",
        ]
        lag = next(m for m in slack.received if "KafkaGroupLagHigh" in m.body["text"])
        assert "group=ledger" in lag.body["text"] and "search-indexer" not in str(lag.body)
        muted = [s for s in daemon.alerts.engine.states.values() if s.muted]
        assert [(s.rule, s.labels["group"]) for s in muted] == [
            ("KafkaGroupLagHigh", "search-indexer")
        ]
    finally:
        daemon.stop()
