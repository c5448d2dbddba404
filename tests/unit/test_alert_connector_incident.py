"""A Debezium connector tied to a pipeline by `connect[].links` is a hop of it: its reader-health
page and what the pipeline shows while it is down are one incident, rooted at the connector.

Given the demo's pipeline (a source, its connector's slot, the topic, two groups) and the
connector linked to that source, when the connector's task fails, then DebeziumReaderStuck
(labels: cluster, connector, source, slot), ConnectorTaskFailed, the probe lost at its
`debezium` hop and both groups' stale hops make one incident whose root is the connector.
"""

from __future__ import annotations

from types import SimpleNamespace

from lagwatch.alerts.incidents import OPEN, Incidents
from lagwatch.alerts.state import FIRING, AlertState, fingerprint
from lagwatch.alerts.topology import READER, Topology, links_from

T0 = 1_700_000_000.0
PIPELINE = SimpleNamespace(
    name="orders", source="orders-db", kafka=None, groups=["indexer", "scorer"], slo=None,
    slot="orders_slot", reader=None, topic="orders.events",
)  # fmt: skip
CONNECTOR = "orders-cdc"
STUCK = ("DebeziumReaderStuck", {"cluster": "cdc", "connector": CONNECTOR,
                                 "source": "orders-db", "slot": "orders_slot"})  # fmt: skip
TASK = ("ConnectorTaskFailed", {"cluster": "cdc", "connector": CONNECTOR, "task": "0"})
LOST = ("ProbeLost", {"pipeline": "orders", "hop": "debezium"})
STALE = [("PipelineHopStale", {"pipeline": "orders", "hop": f"group:{g}"}) for g in PIPELINE.groups]


def state(rule: str, labels: dict[str, str], fired: float) -> AlertState:
    full = {**labels, "alertname": rule, "severity": "page"}
    return AlertState(fingerprint(full), rule, full, FIRING, FIRING, fired, fired_at=fired)


def test_the_only_connector_linked_to_a_pipeline_s_source_is_on_its_path() -> None:
    (link,) = links_from([PIPELINE], ["main"], connectors={CONNECTOR: ("cdc", "orders-db")})
    assert link.connector == CONNECTOR
    # Two connectors on one source: which one feeds the pipeline is not known.
    (link,) = links_from(
        [PIPELINE],
        ["main"],
        connectors={CONNECTOR: ("cdc", "orders-db"), "other": ("cdc", "orders-db")},
    )
    assert link.connector is None


def test_a_connector_alert_is_at_the_connector_even_naming_its_slot() -> None:
    topology = Topology(
        links_from([PIPELINE], ["main"], connectors={CONNECTOR: ("cdc", "orders-db")})
    )
    (hop,) = topology.hops(STUCK[1])
    assert (hop.id, hop.depth) == (f"connector:cdc/{CONNECTOR}", READER)
    (probe_hop,) = topology.hops(LOST[1])
    assert probe_hop.label == "debezium" and probe_hop.depth == READER
    assert topology.related([hop], topology.hops(STALE[0][1]))
    assert topology.related([hop], [probe_hop])


def test_a_failed_connector_is_one_incident_rooted_at_it() -> None:
    topology = Topology(
        links_from([PIPELINE], ["main"], connectors={CONNECTOR: ("cdc", "orders-db")})
    )
    incidents = Incidents(topology)
    states = {}
    for i, (rule, labels) in enumerate([LOST, *STALE, TASK, STUCK]):  # the probe speaks first
        s = state(rule, labels, T0 + i)
        states[s.fingerprint] = s
        incidents.update(states, T0 + i)
    (inc,) = [i for i in incidents.all.values() if i.state == OPEN]
    assert inc.root_hop == f"connector:{CONNECTOR}"
    assert inc.root_rule in ("DebeziumReaderStuck", "ConnectorTaskFailed")
    assert set(inc.members) == set(states)
    assert inc.pipelines == ["orders"]
