"""A pipeline naming its Debezium reader (`reader: {connect: …, connector: …}`): the config
check, the connector hop in the freshness estimate, and the hop in the pipeline's topology —
Connect alerts join the pipeline's incident with the connector (or its worker) as root, and a
Connect worker down holds back the lag pages of the pipelines it feeds."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from lagwatch.alerts.incidents import Incidents
from lagwatch.alerts.inhibit import DEFAULT_INHIBIT, Candidate, inhibited
from lagwatch.alerts.state import FIRING, AlertState, fingerprint
from lagwatch.alerts.topology import Topology, links_from
from lagwatch.collectors.probe.pipeline import FreshnessEstimate, reader_of
from lagwatch.config import ConfigError, load
from lagwatch.store import Sample
from lagwatch.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """\
sources:
  - {name: orders-db, kind: postgres, dsn: "postgresql://m@127.0.0.1/db"}
  - name: legacy
    kind: mysql
    dsn: "mysql://m:p@127.0.0.1:3306/db"
    readers: [{name: dbz, connect: cdc, connector: legacy-cdc}]
kafka:
  - {name: main, bootstrap: "127.0.0.1:9092"}
connect:
  - {name: cdc, url: "http://127.0.0.1:8083"}
pipelines:
  - {name: orders, source: orders-db, slot: dbz_orders, reader: {connect: cdc, connector: orders-cdc},
     topic: dbz.orders, groups: [indexer], slo: {freshness: 30s}}
  - {name: legacy, source: legacy, reader: {connect: cdc, connector: legacy-cdc},
     topic: legacy, groups: [ledger], slo: {freshness: 1m}}
  - {name: billing, source: orders-db, slot: billing_slot, topic: billing, groups: [payer],
     slo: {freshness: 1m}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lagwatch.yaml"
    path.write_text(text)
    return path


# -- config -------------------------------------------------------------------


def test_a_pipeline_may_name_its_connector_on_either_kind_of_source(tmp_path: Path) -> None:
    config = load(write(tmp_path, CONFIG))
    orders, legacy, billing = config.pipelines
    assert orders.connector is not None and orders.connector.connector == "orders-cdc"
    assert orders.slot == "dbz_orders" and orders.reader_name is None
    assert legacy.connector is not None and legacy.connector.connect == "cdc"
    assert billing.connector is None
    # The mysql pipeline's binlog reader is the readers: entry that names the same connector.
    assert reader_of(legacy, config.sources[1]) == "dbz"
    assert reader_of(orders, config.sources[0]) == "dbz_orders"


def test_a_connector_alone_is_the_source_hop(tmp_path: Path) -> None:
    text = CONFIG.replace("slot: dbz_orders, reader:", "reader:")
    config = load(write(tmp_path, text))
    assert config.pipelines[0].slot is None and config.pipelines[0].connector is not None


def test_an_unknown_connect_cluster_is_named_with_the_fix(tmp_path: Path) -> None:
    text = CONFIG.replace(
        "{connect: cdc, connector: orders-cdc}", "{connect: cdx, connector: orders-cdc}"
    )
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text))
    found = [p.replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert found == [
        "lagwatch.yaml:12: pipelines[0].reader.connect: no connect cluster named 'cdx'; add it "
        "under connect: (name and url of its Kafka Connect REST API) or name one of (cdc)"
    ]
    run = subprocess.run(
        [sys.executable, "-m", "lagwatch", "check", "-c", str(tmp_path / "lagwatch.yaml")],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 2
    assert "no connect cluster named 'cdx'" in run.stderr


def test_a_connector_reader_takes_only_its_two_keys(tmp_path: Path) -> None:
    text = CONFIG.replace(
        "{connect: cdc, connector: orders-cdc}", "{connect: cdc, name: orders-cdc}"
    )
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text))
    assert any(
        "pipelines.0.reader" in p or "pipelines[0].reader" in p for p in caught.value.problems
    )


# -- freshness ----------------------------------------------------------------


def estimate(tmp_path: Path, store: SqliteStore) -> FreshnessEstimate:
    config = load(write(tmp_path, CONFIG))
    return FreshnessEstimate(config.pipelines[0], "postgres", "main", store, "dbz_orders")


def freshness(est: FreshnessEstimate) -> Sample:
    return next(s for s in est.collect() if s.name == "lagwatch_pipeline_freshness_seconds")


def connector(store: SqliteStore, now: float, size: float, seconds: float | None, health: int = 0,
              why: str | None = None) -> None:  # fmt: skip
    labels = {"cluster": "cdc", "connector": "orders-cdc"}
    out = [Sample.of("lagwatch_debezium_source_lag_bytes", size, now, **labels)]
    if seconds is not None:
        out.append(Sample.of("lagwatch_debezium_source_lag_seconds", seconds, now, **labels))
    out.append(
        Sample.of("lagwatch_debezium_reader_health", health, now, note=why, **labels,
                  source="orders-db", slot="dbz_orders")
    )  # fmt: skip
    out.append(
        Sample.of("lagwatch_kafka_group_max_lag_seconds", 2.0, now, cluster="main", group="indexer")
    )
    # The slot's own figure would say otherwise: the connector's hop wins when it is known.
    out.append(
        Sample.of(
            "lagwatch_pg_slot_confirmed_lag_bytes", 9e9, now, source="orders-db", slot="dbz_orders"
        )
    )
    out.append(Sample.of("lagwatch_pg_wal_bytes_per_second", 1.0, now, source="orders-db"))
    store.write(out)


def test_freshness_adds_the_connector_hop_its_lag_and_its_verdict(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    est = estimate(tmp_path, store)
    assert "cluster:cdc" in est.origins
    now = time.time()
    connector(store, now - 2, 0, None)
    fresh = freshness(est)
    assert fresh.value == pytest.approx(2.0), "caught up: only the group's 2 s"
    assert fresh.note is None

    connector(store, now - 1, 52_000, 40.0, health=4, why="position lsn 77 has not moved for 3m")
    fresh = freshness(est)
    assert fresh.value == pytest.approx(42.0)
    assert "connector orders-cdc on cdc: 52,000 B behind" in (fresh.note or "")
    assert "reader NOT_ADVANCING: position lsn 77 has not moved for 3m" in (fresh.note or "")
    store.close()


def test_a_stale_connector_hop_is_named_unknown(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    est = estimate(tmp_path, store)
    connector(store, time.time() - 600, 10, 5.0)
    store.write(
        [
            Sample.of(
                "lagwatch_kafka_group_max_lag_seconds",
                1.0,
                time.time(),
                cluster="main",
                group="indexer",
            )
        ]
    )
    fresh = freshness(est)
    assert fresh.value == pytest.approx(1.0)
    assert (fresh.note or "").startswith(
        "unknown: source lag of connector orders-cdc (stale: last read"
    )
    store.close()


def test_a_stale_connector_hop_falls_back_to_its_slot_while_that_is_read(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "store.db")
    est = estimate(tmp_path, store)
    now = time.time()
    connector(store, now - 600, 10, 5.0)  # the connect collector stopped writing 10 min ago
    store.write(
        [
            Sample.of("lagwatch_kafka_group_max_lag_seconds", 1.0, now, cluster="main",
                      group="indexer"),
            Sample.of("lagwatch_pg_slot_confirmed_lag_bytes", 3000, now, source="orders-db",
                      slot="dbz_orders"),
            Sample.of("lagwatch_pg_wal_bytes_per_second", 100.0, now, source="orders-db"),
        ]
    )  # fmt: skip
    fresh = freshness(est)
    assert fresh.value == pytest.approx(31.0), "the slot's 3000 B at 100 B/s, plus the group"
    note = fresh.note or ""
    assert "unknown" not in note
    assert (
        "source lag: connector orders-cdc stale: last read 10m00s ago, estimated from slot "
        "dbz_orders" in note
    ), note
    store.close()


# -- topology, incidents, inhibition ------------------------------------------


def topology(tmp_path: Path) -> Topology:
    config = load(write(tmp_path, CONFIG))
    return Topology(links_from(config.pipelines, ["main"], config.sources))


def alert(rule: str, fired: float, **labels: str) -> AlertState:
    full = {**labels, "alertname": rule, "severity": "page"}
    return AlertState(
        fingerprint(full), rule, full, FIRING, FIRING, fired, fired_at=fired,
        annotations={"summary": f"{rule} says so"},
    )  # fmt: skip


WORKER_DOWN = {"rule": "ConnectWorkerDown", "cluster": "cdc"}
FAILED = {"rule": "ConnectorTaskFailed", "cluster": "cdc", "connector": "orders-cdc", "task": "0"}
SLOT = {"rule": "PgSlotInactive", "source": "orders-db", "slot": "dbz_orders"}
LAG = {"rule": "KafkaGroupLagHigh", "cluster": "main", "group": "indexer"}
FRESH = {"rule": "PipelineFreshnessHigh", "pipeline": "orders"}
BEHIND = {"rule": "MysqlBinlogPurgeSoon", "source": "legacy", "reader": "dbz"}
OTHER_LAG = {"rule": "KafkaGroupLagHigh", "cluster": "main", "group": "payer"}
OTHER_SLOT = {"rule": "PgSlotInactive", "source": "orders-db", "slot": "billing_slot"}


def states(*alerts: dict[str, str]) -> dict[str, AlertState]:
    out = {}
    for i, a in enumerate(alerts):
        labels = {k: v for k, v in a.items() if k != "rule"}
        s = alert(a["rule"], 1000.0 + i, **labels)
        out[s.fingerprint] = s
    return out


def incidents_of(top: Topology, found: dict[str, AlertState]) -> list[tuple[str, str, set[str]]]:
    inc = Incidents(top)
    inc.update(found, 2000.0)
    return sorted(
        (i.root_hop, i.root_rule, {m.rule for m in i.members.values()})
        for i in inc.all.values()
        if i.state == "open"
    )


def test_a_failed_connector_is_the_root_of_its_pipelines_incident(tmp_path: Path) -> None:
    top = topology(tmp_path)
    # The slot alert fired first, and is as far upstream: the connector's verdict is the root.
    found = incidents_of(top, states(SLOT, LAG, FAILED, OTHER_LAG))
    assert found == [
        ("connector:orders-cdc", "ConnectorTaskFailed",
         {"PgSlotInactive", "KafkaGroupLagHigh", "ConnectorTaskFailed"}),
        ("group:payer", "KafkaGroupLagHigh", {"KafkaGroupLagHigh"}),
    ]  # fmt: skip


def test_a_connect_worker_down_is_the_root_of_every_pipeline_it_feeds(tmp_path: Path) -> None:
    top = topology(tmp_path)
    ledger = {"rule": "KafkaGroupLagHigh", "cluster": "main", "group": "ledger"}
    found = incidents_of(top, states(SLOT, LAG, ledger, WORKER_DOWN, OTHER_SLOT))
    assert found == [
        ("connect:cdc", "ConnectWorkerDown",
         {"PgSlotInactive", "KafkaGroupLagHigh", "ConnectWorkerDown"}),
        ("slot:billing_slot", "PgSlotInactive", {"PgSlotInactive"}),
    ]  # fmt: skip
    # Data about to be lost still comes first: a binlog purge due under the stopped reader.
    found = incidents_of(top, states(WORKER_DOWN, BEHIND))
    assert found == [
        ("reader:dbz", "MysqlBinlogPurgeSoon", {"ConnectWorkerDown", "MysqlBinlogPurgeSoon"})
    ]


def candidate(top: Topology, s: AlertState) -> Candidate:
    return Candidate(s.fingerprint, s.labels, top.origins(s.labels))


def test_a_connect_worker_down_mutes_the_lag_of_the_pipelines_it_feeds_only(tmp_path: Path) -> None:
    top = topology(tmp_path)
    rules = [r.compiled() for r in DEFAULT_INHIBIT]
    down = alert("ConnectWorkerDown", 1.0, cluster="cdc")
    sources = [candidate(top, down)]
    for a in (SLOT, LAG, FRESH, BEHIND, FAILED):
        s = alert(a["rule"], 2.0, **{k: v for k, v in a.items() if k != "rule"})
        assert inhibited(rules, sources, candidate(top, s)) == down.fingerprint, a
    for a in (OTHER_LAG, OTHER_SLOT):
        s = alert(a["rule"], 2.0, **{k: v for k, v in a.items() if k != "rule"})
        assert inhibited(rules, sources, candidate(top, s)) is None, a


def test_one_stuck_connector_does_not_mute_another_connectors_pipeline(tmp_path: Path) -> None:
    top = topology(tmp_path)
    rules = [r.compiled() for r in DEFAULT_INHIBIT]
    stuck = alert(
        "DebeziumReaderStuck", 1.0, cluster="cdc", connector="legacy-cdc", source="legacy"
    )
    lag = alert("KafkaGroupLagHigh", 2.0, cluster="main", group="indexer")
    assert inhibited(rules, [candidate(top, stuck)], candidate(top, lag)) is None
    ledger = alert("KafkaGroupLagHigh", 2.0, cluster="main", group="ledger")
    assert inhibited(rules, [candidate(top, stuck)], candidate(top, ledger)) == stuck.fingerprint
