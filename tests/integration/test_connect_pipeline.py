"""A pipeline whose reader is a Debezium connector (`reader: {connect: cdc, connector: NAME}`), on
a private Kafka Connect worker over the devstack's PostgreSQL and Kafka.

- The pipeline's freshness estimate is the connector hop's lag: while the connector is stopped
  and writes go on it grows and names the connector; resumed, it comes back to about 0.
- The worker killed: `lagwatch_connect_up=0`, and through the real alert engine and dispatcher
  to real HTTP receivers exactly one notification, ConnectWorkerDown. The slot left without a
  reader and the pipeline burning its freshness budget fire too, from the series the
  collectors write after the kill, and are held back by it.
- The same estimate on MariaDB, where the source's `readers:` entry names the connector.

The PostgreSQL tests run a private worker (its own group and internal topics) so they may
kill it; the MariaDB one, which kills nothing, uses the devstack's worker.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lagwatch.alerts.state import FIRING, PENDING
from lagwatch.alerts.topology import Topology, linked_connectors, links_from
from lagwatch.store import LatestValue
from tests.integration.connect_helpers import (
    Watch,
    connect_entry,
    kafka_entry,
    mysql_source,
    pg_source,
    writing,
)
from tests.support.alerting import Harness
from tests.support.connect import PgConnector, Rest, env, mariadb_connector, wait_for
from tests.support.connect_worker import PrivateWorker
from tests.support.receivers import PD_ACCEPTED, SLACK_OK, FakeReceiver, PagerDutyApi

pytestmark = pytest.mark.integration

FRESHNESS = 10.0
"""The pipeline's SLO: well above the connector's lag while it runs (Debezium commits its
offset every second on the private worker), soon passed once it stops reading."""
EVERY = 0.2
"""Seconds between two rows written to the captured table."""


def pipeline_name(unique: str) -> str:
    return f"orders-{unique}"


def config(
    worker: PrivateWorker, connector: PgConnector, unique: str, alerts: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "sources": [{**pg_source(), "interval": "1s"}],
        "kafka": [kafka_entry()],
        # The offsets topic too: after the kill the connector's lag is still read, from there.
        "connect": [
            connect_entry(
                worker.url, interval="1s", kafka="main", offsets_topic=worker.offsets_topic
            )
        ],
        "pipelines": [
            {
                "name": pipeline_name(unique),
                "source": "pg",
                # slot: beside reader: ties the slot's alerts to the pipeline (probe.md);
                # without it PgSlotInactive on the connector's own slot is not held back.
                "slot": connector.slot,
                "reader": {"connect": "cdc", "connector": connector.name},
                "topic": f"{connector.prefix}.public.{connector.table}",
                "slo": {"freshness": f"{FRESHNESS:g}s"},
                "interval": "1s",
            }
        ],
        **({"alerts": alerts} if alerts else {}),
    }


@contextmanager
def debezium_pipeline(
    tmp_path: Path, unique: str, alerts: Callable[[PgConnector], dict[str, Any]] | None = None
) -> Iterator[tuple[PrivateWorker, Rest, PgConnector, Watch]]:
    """A private worker running a Debezium PostgreSQL connector while rows are written to its
    table, and a lagwatch watching it (``alerts(connector)``: its alerts: section); everything
    removed afterwards."""
    with PrivateWorker(unique) as worker:
        rest = Rest(worker.url)
        connector = PgConnector(unique, rest)
        connector.create_table()
        watch = Watch(
            tmp_path, config(worker, connector, unique, alerts(connector) if alerts else None)
        )
        try:
            connector.start()
            with writing(lambda n: connector.insert(n), every=EVERY):
                wait_for(connector.offset, 60)
                yield worker, rest, connector, watch
        finally:
            watch.close()
            if worker.process is not None and worker.process.poll() is None:
                connector.remove()
            else:  # killed: the connector goes with the worker's internal topics
                connector.drop()
            rest.close()


def collect(watch: Watch, pipeline: str, source: str = "postgres:pg") -> LatestValue:
    """One daemon cycle: the source, the Connect cluster, then the pipeline's estimate;
    return the estimate."""
    watch.cycle(source, "connect:cdc", f"pipeline:{pipeline}")
    return watch.latest("lagwatch_pipeline_freshness_seconds", pipeline=pipeline, method="estimate")


def connector_lag(watch: Watch, connector: Any) -> float | None:
    found = watch.maybe("lagwatch_debezium_source_lag_seconds", connector=connector.name)
    return found.value if found else None


def settle(watch: Watch, connector: Any, source: str = "postgres:pg") -> None:
    """Collect source and cluster until the running connector's lag is well inside the SLO
    (its first offsets come while it starts), so the estimates counted from here are good."""
    wait_for(
        lambda: (
            watch.cycle(source, "connect:cdc")
            or (connector_lag(watch, connector) or FRESHNESS) < FRESHNESS / 4
        ),
        90,
        step=0.5,
    )


def hops_of(watch: Watch) -> list[str]:
    """Return the hops of the config's one pipeline, as the alert engine's topology has them."""
    links = links_from(
        watch.config.pipelines, ["main"], watch.config.sources,
        linked_connectors(watch.config.connect),
    )  # fmt: skip
    [link] = links
    return [h.label for h in Topology(links).path(link)]


def estimate_follows_the_connector(
    watch: Watch, rest: Rest, connector: Any, pipeline: str, source: str
) -> None:
    """Given the connector reading while rows are written: its estimate is small; stopped, it
    grows cycle after cycle and names the connector; resumed, it comes back to about 0."""
    settle(watch, connector, source)
    running = collect(watch, pipeline, source)
    assert running.value < FRESHNESS / 2, running

    # When it is stopped and writes go on, the estimate grows cycle after cycle, and says it
    # is the connector that is behind, by how many bytes, and that it is STOPPED.
    rest.stop(connector.name)
    estimates: list[tuple[float, str]] = []
    for _ in range(6):
        time.sleep(1.0)
        found = collect(watch, pipeline, source)
        estimates.append((found.value, found.note or ""))
    values = [v for v, _ in estimates]
    assert all(b > a for a, b in zip(values, values[1:], strict=False)), estimates
    assert values[-1] > running.value, (running, estimates)
    said = [re.match(rf"source lag: connector {connector.name} on cdc: ([\d,]+) B behind; "
                     r"reader \w+: STOPPED", n) for _, n in estimates]  # fmt: skip
    assert all(said), estimates
    behind = [int(m.group(1).replace(",", "")) for m in said if m]
    assert behind[-1] > behind[0] > 0, "the rows written wait after its offset"
    lag = watch.latest("lagwatch_debezium_source_lag_seconds", connector=connector.name)
    assert values[-1] == pytest.approx(lag.value), "the hop is the connector's own lag"

    # When it resumes, it reads what waited and the estimate comes back to about 0.
    peak = values[-1]
    rest.call("PUT", f"/connectors/{connector.name}/resume")
    rest.wait_running(connector.name)
    back = wait_for(
        lambda: (found := collect(watch, pipeline, source)).value < min(peak / 2, 3.0) and found,
        90,
        step=1.0,
    )
    lag = watch.latest("lagwatch_debezium_source_lag_seconds", connector=connector.name)
    assert back.value == pytest.approx(lag.value), "still the connector's own lag"


def test_the_estimate_includes_the_connector_hop_grows_while_it_is_stopped_and_recovers(
    tmp_path: Path, unique: str
) -> None:
    with debezium_pipeline(tmp_path, unique) as (_, rest, connector, watch):
        # The pipeline's topology has the Connect cluster and the connector as hops.
        assert hops_of(watch)[:4] == [
            "source:pg", "connect:cdc", f"slot:{connector.slot}", f"connector:{connector.name}"
        ]  # fmt: skip
        estimate_follows_the_connector(watch, rest, connector, pipeline_name(unique), "postgres:pg")


def test_a_mariadb_pipeline_read_by_its_connector_through_a_readers_entry(
    tmp_path: Path, unique: str
) -> None:
    """The same on MariaDB, on the devstack's worker: the source's `readers:` entry names the
    connector (`connect: cdc`, `connector: NAME`), and the pipeline names it as its reader."""
    rest = Rest()
    pipeline = pipeline_name(unique)
    with mariadb_connector(unique, rest) as connector:
        reader = {"name": "dbz", "connect": "cdc", "connector": connector.name}
        config = {
            "sources": [mysql_source(readers=[reader], interval="1s")],
            "kafka": [kafka_entry()],
            "connect": [
                connect_entry(interval="1s", connectors={"include": [re.escape(connector.name)]})
            ],
            "pipelines": [
                {
                    "name": pipeline, "source": "maria",
                    "reader": {"connect": "cdc", "connector": connector.name},
                    "topic": f"{connector.prefix}.{env('MYSQL_DATABASE')}.{connector.table}",
                    "slo": {"freshness": f"{FRESHNESS:g}s"}, "interval": "1s",
                }
            ],
        }  # fmt: skip
        watch = Watch(tmp_path, config)
        try:
            with writing(lambda n: connector.insert(n), every=EVERY):
                wait_for(connector.offset, 60)
                # The readers: entry is the pipeline's binlog reader, beside the connector.
                assert hops_of(watch)[:4] == [
                    "source:maria", "connect:cdc", "reader:dbz", f"connector:{connector.name}"
                ]  # fmt: skip
                estimate_follows_the_connector(watch, rest, connector, pipeline, "mysql:maria")
                # and the source's own view of the same reader, through the same cluster:
                up = watch.latest("lagwatch_mysql_binlog_reader_up", reader="dbz")
                assert up.value == 1, up
        finally:
            watch.close()
    rest.close()


def alerts_config(slack: FakeReceiver, pd: FakeReceiver, slot: str) -> dict[str, Any]:
    """Both receivers get every alert (no routes)."""
    return {
        "receivers": [
            {"name": "team", "slack": {"webhook_url": slack.url}},
            {"name": "oncall", "pagerduty": {"routing_key": "KEY", "url": pd.url}},
        ],
        "rules": [
            # The built-in PgSlotInactive waits 30 minutes of no reader, longer than a test can;
            # the same rule on this test's slot at 5 s (the shared server's other slots are
            # other tests'). Everything else is as built in: ConnectWorkerDown holds for 1m,
            # PipelineSLOBurn pages on the pipeline's SLO.
            {
                "name": "PgSlotInactive",
                "expr": f'lagwatch_pg_slot_inactive_seconds{{slot="{slot}"}} > 5s',
                "severity": "warning",
                "annotations": {"summary": "slot {{ $labels.slot }} has had no reader"},
            },
        ],
    }


def firing_in(pd: FakeReceiver) -> list[tuple[str, str, dict[str, str]]]:
    """Return (event action, alert, labels) of every alert the PagerDuty receiver was told."""
    out = []
    for event in pd.received:
        details = (event.body.get("payload") or {}).get("custom_details") or {}
        for a in details.get("firing", []):
            out.append((event.body["event_action"], a["alert"], a["labels"]))
    return out


def test_a_killed_worker_pages_once_as_connect_worker_down_and_not_for_its_pipeline(
    tmp_path: Path, unique: str
) -> None:
    with (
        FakeReceiver(SLACK_OK) as slack,
        FakeReceiver(PD_ACCEPTED, api=PagerDutyApi("KEY")) as pd,
    ):

        def alerts(connector: PgConnector) -> dict[str, Any]:
            return alerts_config(slack, pd, connector.slot)

        with debezium_pipeline(tmp_path, unique, alerts) as (worker, _, connector, watch):
            pipeline, slot = pipeline_name(unique), connector.slot
            links = links_from(
                watch.config.pipelines, ["main"], watch.config.sources,
                linked_connectors(watch.config.connect),
            )  # fmt: skip
            h = Harness(tmp_path, alerts(connector), links=links, store=watch.store, real_time=True)
            try:
                # Given the pipeline fresh and nothing firing for it.
                settle(watch, connector)
                for _ in range(3):
                    assert collect(watch, pipeline).value < FRESHNESS
                    h.cycle()
                    time.sleep(1.0)

                def about_mine(labels: dict[str, str]) -> bool:
                    return (
                        labels.get("cluster") == "cdc"
                        or labels.get("pipeline") == pipeline
                        or labels.get("slot") == slot
                    )

                def states(rule: str) -> list[Any]:
                    return [
                        s
                        for s in h.engine.states.values()
                        if s.rule == rule and about_mine(s.labels)
                    ]

                assert [s.rule for s in h.engine.states.values() if about_mine(s.labels)] == []
                assert watch.latest("lagwatch_connect_up", cluster="cdc").value == 1

                # When the worker is killed and rows go on being written:
                worker.kill()
                first = None

                def slot_alert_and_late_pipeline() -> bool:
                    nonlocal first
                    late = collect(watch, pipeline).value > FRESHNESS
                    h.cycle()
                    retained = watch.latest(
                        "lagwatch_pg_slot_retained_wal_bytes", source="pg", slot=slot
                    )
                    first = first or retained
                    return late and [s.state for s in states("PgSlotInactive")] == [FIRING]

                wait_for(slot_alert_and_late_pipeline, 60, step=1.0)
                # then connect_up says so, the collector itself stays up, the slot has no
                # reader and holds back ever more WAL, and the connector's lag, read from the
                # offsets topic, grows: the pipeline is late.
                up = watch.latest("lagwatch_connect_up", cluster="cdc")
                assert up.value == 0 and "cannot reach Kafka Connect cdc" in (up.note or "")
                assert watch.latest("lagwatch_collector_up", collector="connect:cdc").value == 1
                assert watch.latest("lagwatch_pg_slot_active", source="pg", slot=slot).value == 0
                retained = watch.latest(
                    "lagwatch_pg_slot_retained_wal_bytes", source="pg", slot=slot
                )
                assert first is not None and retained.value > first.value
                lag = watch.latest("lagwatch_debezium_source_lag_seconds", connector=connector.name)
                assert lag.value > FRESHNESS
                size = watch.latest("lagwatch_debezium_source_lag_bytes", connector=connector.name)
                assert f"offset read from {worker.offsets_topic}" in (size.note or "")
                # The slot alert fired, held back by ConnectWorkerDown while that is pending:
                # nothing was sent.
                [down] = states("ConnectWorkerDown")
                assert down.state == PENDING
                [inactive] = states("PgSlotInactive")
                assert inactive.muted and "ConnectWorkerDown" in inactive.muted, inactive
                assert [a for a in firing_in(pd) if about_mine(a[2])] == []
                assert [m for m in slack.received if unique in str(m.body)] == []

                # A minute on (ConnectWorkerDown holds for 1m; the engine's clock is moved on,
                # which also ends the minute the burn-rate windows' reading is reused), it fires
                # and so does the pipeline's burn rate, held back by it.
                h.skip(61)

                def burning() -> bool:
                    collect(watch, pipeline)
                    h.cycle()
                    return bool(states("PipelineSLOBurn")) and all(
                        s.state == FIRING for s in states("PipelineSLOBurn")
                    )

                wait_for(burning, 30, step=1.0)
                [down] = states("ConnectWorkerDown")
                assert down.state == FIRING and down.muted is None
                for rule in ("PgSlotInactive", "PipelineSLOBurn"):
                    for s in states(rule):
                        assert s.state == FIRING and s.muted, (rule, s)
                        assert f"inhibited by ConnectWorkerDown {down.fingerprint}" == s.muted
                h.skip(61)  # past group_interval: a second message would go out now
                collect(watch, pipeline)
                h.cycle()

                # Then each receiver was told once, of ConnectWorkerDown only.
                told = [a for a in firing_in(pd) if about_mine(a[2])]
                assert [(action, alert) for action, alert, _ in told] == [
                    ("trigger", "ConnectWorkerDown")
                ], told
                to_team = [m for m in slack.received if unique in str(m.body)]
                assert len(to_team) == 1, [m.body.get("text") for m in to_team]
                assert "ConnectWorkerDown" in to_team[0].body["blocks"][0]["text"]["text"]
                # One incident, rooted at the Connect cluster, its pipeline's symptoms inside
                # it, muted.
                [page] = [e.body for e in pd.received if unique in str(e.body)]
                incident = page["payload"]["custom_details"]["incident"]
                assert incident["root"]["alert"] == "ConnectWorkerDown", incident
                assert incident["root"]["hop"] == "connect:cdc" and incident["pipelines"] == [
                    pipeline
                ]
                members = {m["alert"]: m["muted"] for m in incident["members"]}
                assert members.keys() == {"ConnectWorkerDown", "PgSlotInactive", "PipelineSLOBurn"}
                assert members["ConnectWorkerDown"] is None
            finally:
                h.dispatcher.close()
