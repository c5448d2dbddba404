"""A Connect worker killed under a pipeline whose reader runs on it: through the real engine and
dispatcher over a SQLite store, the receiver gets one page — ConnectWorkerDown — and no page for
the slot left without a reader or the consumer group falling behind (inhibited by origin
``connect:cdc``), for 40 minutes of the series the killed worker leaves: ``connect_up`` 0 with
the collector's error, the collector itself up, the slot inactive and its clock growing, the
group's time lag growing."""

from __future__ import annotations

from pathlib import Path

from lagwatch.alerts.notifiers.base import Notification
from lagwatch.alerts.state import NAMESPACE as STATES
from lagwatch.alerts.state import AlertState
from lagwatch.alerts.topology import links_from
from lagwatch.config import load
from tests.support.alerting import T0, Harness

CONFIG = """\
sources:
  - {name: pg, kind: postgres, dsn: "postgresql://m@127.0.0.1/db"}
kafka:
  - {name: main, bootstrap: "127.0.0.1:9092"}
connect:
  - {name: cdc, url: "http://127.0.0.1:8083"}
pipelines:
  - {name: orders, source: pg, slot: dbz_orders, reader: {connect: cdc, connector: orders-cdc},
     topic: dbz.orders, groups: [indexer], slo: {freshness: 30s}}
"""
DOWN_NOTE = (
    "cannot reach Kafka Connect cdc (http://127.0.0.1:8083): connection failed: "
    "[Errno 111] Connection refused; check url and that a worker is up"
)


def test_a_killed_worker_pages_once_as_connect_worker_down_and_never_for_the_lag(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lagwatch.yaml"
    path.write_text(CONFIG)
    config = load(path)
    links = links_from(config.pipelines, ["main"], config.sources)
    h = Harness(tmp_path, {"receivers": [{"name": "log", "log": {}}]}, links=links)
    try:
        killed = T0 + 60
        while h.now < T0 + 60 + 40 * 60:
            dead = h.now >= killed
            gone = max(0.0, h.now - killed)
            h.write("lagwatch_collector_up", 1, collector="connect:cdc", origin="cluster:cdc")
            h.write("lagwatch_collector_up", 1, collector="postgres:pg", origin="source:pg")
            h.write("lagwatch_connect_up", 0 if dead else 1, DOWN_NOTE if dead else None,
                    cluster="cdc")  # fmt: skip
            h.write("lagwatch_pg_slot_active", 0 if dead else 1, source="pg", slot="dbz_orders")
            h.write("lagwatch_pg_slot_inactive_seconds", gone, source="pg", slot="dbz_orders")
            h.write("lagwatch_kafka_group_max_lag_seconds", 1.0 + gone, cluster="main",
                    group="indexer")  # fmt: skip
            h.cycle()
            h.skip(15)
        sent = [n for n in h.log().sent if isinstance(n, Notification)]
        firing = [a for n in sent for a in n.firing]
        # The slot and the group did cross their thresholds and fire, held back by the worker.
        states = {
            s.rule: s for s in (AlertState.from_json(r.body) for r in h.store.list_records(STATES))
        }
        for rule in ("PgSlotInactive", "KafkaGroupLagHigh"):
            assert states[rule].state == "firing" and states[rule].muted, (rule, states[rule])
        assert [n.status for n in sent] == ["firing"], [(n.status, n.title) for n in sent]
        assert [a.name for a in firing] == ["ConnectWorkerDown"], [a.name for a in firing]
        assert sent[0].incident is not None
        assert sent[0].incident["root"]["alert"] == "ConnectWorkerDown"
    finally:
        h.close()
