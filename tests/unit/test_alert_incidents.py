"""Which alerts make one incident, which one is its root, and when it resolves.

One table: each row gives the pipelines, the alerts firing, and the incidents they must make
(root hop, root alert, members), with the reason. Then the incident's life over cycles:
joining, a root that moves upstream, resolving on the root with lagging symptoms held,
releasing a held symptom, firing again.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from lagwatch.alerts.incidents import (
    HELD,
    MOVED,
    OPEN,
    RELEASED,
    RESOLVED,
    IncidentPolicy,
    Incidents,
)
from lagwatch.alerts.state import FIRING, AlertState, fingerprint
from lagwatch.alerts.topology import PipelineLink, Topology

T0 = 1_700_000_000.0
ORDERS = PipelineLink(
    "orders", source="orders-db", cluster="main", groups=("search-indexer", "fraud-scorer"),
    freshness=5.0, objective=99.0, slot="debezium_orders", topic="dbz.orders",
)  # fmt: skip
BILLING = PipelineLink("billing", source="billing-db", cluster="main", groups=("ledger",),
                       topic="dbz.billing")  # fmt: skip
PIPELINES = [ORDERS, BILLING]

Alert = tuple[str, dict[str, str]]  # (rule, labels)
STALLED: Alert = ("KafkaGroupStalled", {"cluster": "main", "group": "fraud-scorer"})
PROBE_LOST: Alert = ("ProbeLost", {"pipeline": "orders", "hop": "group:fraud-scorer"})
HOP_STALE: Alert = ("PipelineHopStale", {"pipeline": "orders", "hop": "group:fraud-scorer"})
SLO_BURN: Alert = ("PipelineSLOBurn", {"pipeline": "orders", "slo_window": "1h"})
INDEXER_LAG: Alert = ("KafkaGroupLagHigh", {"cluster": "main", "group": "search-indexer"})
LEDGER_LAG: Alert = ("KafkaGroupLagHigh", {"cluster": "main", "group": "ledger"})
ORDERS_DOWN: Alert = (
    "CollectorDown", {"collector": "postgres:orders-db", "origin": "source:orders-db"}
)  # fmt: skip
KAFKA_DOWN: Alert = ("CollectorDown", {"collector": "kafka:main", "origin": "cluster:main"})
SLOT_LOST: Alert = ("PgSlotLost", {"source": "orders-db", "slot": "debezium_orders"})
OLD_SLOT: Alert = ("PgSlotInactive", {"source": "orders-db", "slot": "analytics_old"})
TAP_LOST: Alert = ("ProbeLost", {"pipeline": "orders", "hop": "tap"})
TOPIC_GONE: Alert = ("TopicMissing", {"cluster": "main", "topic": "dbz.orders"})
RECEIVER: Alert = ("ReceiverBroken", {"receiver": "team"})
UNWATCHED: Alert = ("MysqlBinlogFormatNotRow", {"source": "legacy-db"})
OTHER_CLUSTER: Alert = ("KafkaGroupStopped", {"cluster": "other", "group": "fraud-scorer"})


def state(alert: Alert, fired: float = T0) -> AlertState:
    rule, labels = alert
    full = {**labels, "alertname": rule, "severity": "page"}
    return AlertState(
        fingerprint(full), rule, full, FIRING, FIRING, fired, fired_at=fired,
        annotations={"summary": f"{rule} says so"},
    )  # fmt: skip


def fp(alert: Alert) -> str:
    return state(alert).fingerprint


# (why, alerts firing — listed oldest first, fired a second apart —, the incidents:
#  [(root hop, root alert, the alerts in it)])
CASES: list[tuple[str, list[Alert], list[tuple[str, str, list[Alert]]]]] = [
    (
        "1. the demo's stall: the probe, the hop's staleness, the group's verdict and the SLO burn "
        "are one incident at the group's hop; the verdict on the hop itself is its root even though "
        "the probe spoke first",
        [PROBE_LOST, HOP_STALE, STALLED, SLO_BURN],
        [("group:fraud-scorer", "KafkaGroupStalled", [PROBE_LOST, HOP_STALE, STALLED, SLO_BURN])],
    ),
    (
        "2. two consumer groups side by side on one pipeline are two incidents",
        [STALLED, INDEXER_LAG],
        [
            ("group:fraud-scorer", "KafkaGroupStalled", [STALLED]),
            ("group:search-indexer", "KafkaGroupLagHigh", [INDEXER_LAG]),
        ],
    ),
    (
        "3. the source's collector down and the lag of a group of its pipeline are one incident: "
        "the source is upstream, so it is the root",
        [INDEXER_LAG, ORDERS_DOWN],
        [("source:orders-db", "CollectorDown", [INDEXER_LAG, ORDERS_DOWN])],
    ),
    (
        "4. a group on another pipeline (another source) stays apart from the source that is down",
        [ORDERS_DOWN, LEDGER_LAG],
        [
            ("source:orders-db", "CollectorDown", [ORDERS_DOWN]),
            ("group:ledger", "KafkaGroupLagHigh", [LEDGER_LAG]),
        ],
    ),
    (
        "5. the pipeline's slot lost and its group stalled: the slot is upstream of the topic and "
        "the groups",
        [STALLED, SLOT_LOST],
        [("slot:debezium_orders", "PgSlotLost", [STALLED, SLOT_LOST])],
    ),
    (
        "6. a slot no pipeline reads, on a pipeline's source, is its own incident: it is under the "
        "source, not on the pipeline",
        [OLD_SLOT, STALLED],
        [
            ("slot:analytics_old", "PgSlotInactive", [OLD_SLOT]),
            ("group:fraud-scorer", "KafkaGroupStalled", [STALLED]),
        ],
    ),
    (
        "7. ...but with the source's collector down, both hang under the source",
        [OLD_SLOT, STALLED, ORDERS_DOWN],
        [("source:orders-db", "CollectorDown", [OLD_SLOT, STALLED, ORDERS_DOWN])],
    ),
    (
        "8. probes lost at the tap and a group stalled on the same pipeline: the tap is upstream, "
        "so it is the root, symptom or not",
        [STALLED, TAP_LOST],
        [("tap", "ProbeLost", [STALLED, TAP_LOST])],
    ),
    (
        "9. the Kafka collector down speaks for every group on its cluster, of every pipeline",
        [STALLED, LEDGER_LAG, KAFKA_DOWN],
        [("cluster:main", "CollectorDown", [STALLED, LEDGER_LAG, KAFKA_DOWN])],
    ),
    (
        "10. an alert about a topic is upstream of the groups that read it",
        [STALLED, TOPIC_GONE],
        [("topic:dbz.orders", "TopicMissing", [STALLED, TOPIC_GONE])],
    ),
    (
        "11. the SLO burn alone is an incident about the pipeline's end; a stalled group then joins "
        "it and, upstream, becomes its root",
        [SLO_BURN, STALLED],
        [("group:fraud-scorer", "KafkaGroupStalled", [SLO_BURN, STALLED])],
    ),
    (
        "12. alerts no pipeline is tied to make no incident (they are grouped by group_by): a "
        "receiver, a source no pipeline reads, a group of the same name on another cluster",
        [RECEIVER, UNWATCHED, OTHER_CLUSTER],
        [],
    ),
]


def run(alerts: list[Alert], policy: IncidentPolicy | None = None) -> Incidents:
    incidents = Incidents(Topology(PIPELINES), policy)
    states = {}
    for i, alert in enumerate(alerts):
        s = state(alert, T0 + i)
        states[s.fingerprint] = s
        incidents.update(states, T0 + i)
    return incidents


@pytest.mark.parametrize(("why", "alerts", "expected"), CASES,
                         ids=[c[0].split(".")[0] for c in CASES])  # fmt: skip
def test_which_alerts_make_one_incident_and_its_root(
    why: str, alerts: list[Alert], expected: list[tuple[str, str, list[Alert]]]
) -> None:
    incidents = run(alerts)
    got = sorted(
        (inc.root_hop, inc.root_rule, sorted(inc.members))
        for inc in incidents.all.values()
        if inc.state == OPEN
    )
    want = sorted((hop, rule, sorted(fp(a) for a in members)) for hop, rule, members in expected)
    assert got == want, why
    # The same alerts in any order of the states dict make the same incidents.
    again = Incidents(Topology(PIPELINES))
    states = {fp(a): state(a, T0 + i) for i, a in enumerate(alerts)}
    again.update(dict(reversed(list(states.items()))), T0 + len(alerts))
    assert (
        sorted((inc.root_hop, inc.root_rule, sorted(inc.members)) for inc in again.all.values())
        == want
    ), f"{why} (all at once)"


# -- an incident's life --------------------------------------------------------------


def resolve(s: AlertState, at: float) -> AlertState:
    return replace(s, state="resolved", condition="resolved", resolved_at=at)


def test_root_resolves_the_incident_and_lagging_symptoms_are_held_then_cleared() -> None:
    """Given the demo's stall; when the group recovers (its verdict and the hop's staleness
    resolve) while ProbeLost and the SLO burn still count old probes, then the incident
    resolves at once and holds them; when they clear, no new incident comes of them."""
    incidents = run([PROBE_LOST, HOP_STALE, STALLED, SLO_BURN])
    states = {fp(a): state(a, T0) for a in (PROBE_LOST, HOP_STALE, STALLED, SLO_BURN)}
    [inc] = incidents.all.values()
    states[fp(STALLED)] = resolve(states[fp(STALLED)], T0 + 60)
    incidents.update(states, T0 + 60)
    assert inc.state == OPEN and inc.root_rule == "PipelineHopStale", "a cause still fires"
    states[fp(HOP_STALE)] = resolve(states[fp(HOP_STALE)], T0 + 65)
    incidents.update(states, T0 + 65)
    assert (inc.state, inc.resolved_at) == (RESOLVED, T0 + 65)
    assert {m.rule: m.state for m in inc.members.values()} == {
        "KafkaGroupStalled": "resolved", "PipelineHopStale": "resolved",
        "ProbeLost": HELD, "PipelineSLOBurn": HELD,
    }  # fmt: skip
    assert incidents.held(fp(PROBE_LOST)) and incidents.open_incident_of(fp(PROBE_LOST)) is None
    states[fp(PROBE_LOST)] = resolve(states[fp(PROBE_LOST)], T0 + 300)
    states[fp(SLO_BURN)] = resolve(states[fp(SLO_BURN)], T0 + 400)
    incidents.update(states, T0 + 400)
    assert [i.id for i in incidents.all.values()] == [inc.id]
    assert not inc.in_state(HELD, FIRING)


def test_a_symptom_held_too_long_starts_an_incident_of_its_own() -> None:
    incidents = run([STALLED, SLO_BURN], IncidentPolicy(hold_symptoms_for=600))
    states = {fp(a): state(a, T0) for a in (STALLED, SLO_BURN)}
    states[fp(STALLED)] = resolve(states[fp(STALLED)], T0 + 10)
    incidents.update(states, T0 + 10)
    [first] = incidents.all.values()
    assert first.state == RESOLVED and incidents.held(fp(SLO_BURN))
    incidents.update(states, T0 + 609)
    assert incidents.held(fp(SLO_BURN)), "held until hold_symptoms_for has passed"
    incidents.update(states, T0 + 610)
    assert first.members[fp(SLO_BURN)].state == RELEASED
    [second] = [i for i in incidents.all.values() if i.state == OPEN]
    assert (second.root_rule, second.root_hop) == ("PipelineSLOBurn", "pipeline:orders")


def test_a_held_symptom_joins_the_next_stall_of_its_hop() -> None:
    """Given a resolved incident holding ProbeLost; when the group stalls again, then the new
    incident takes ProbeLost along instead of leaving it with the old one."""
    incidents = run([STALLED, PROBE_LOST])
    states = {fp(a): state(a, T0) for a in (STALLED, PROBE_LOST)}
    states[fp(STALLED)] = resolve(states[fp(STALLED)], T0 + 10)
    incidents.update(states, T0 + 10)
    [old] = incidents.all.values()
    again = replace(state(STALLED, T0 + 20), fingerprint=fp(STALLED))
    states[fp(STALLED)] = again
    incidents.update(states, T0 + 20)
    [new] = [i for i in incidents.all.values() if i.state == OPEN]
    assert new.id != old.id
    assert set(new.members) == {fp(STALLED), fp(PROBE_LOST)}
    assert old.members[fp(PROBE_LOST)].state == MOVED, "the old incident tells it no more"
    assert not incidents.held(fp(PROBE_LOST))


def test_an_alert_upstream_of_two_incidents_merges_them_into_the_more_upstream_one() -> None:
    """Given ledger lagging (billing) and fraud-scorer stalled (orders), two incidents; when the
    Kafka collector goes down, then both hang under cluster:main: the incident whose root is
    more upstream (then the older) takes the other's alerts, and the other ends as merged."""
    incidents = run([STALLED, LEDGER_LAG, KAFKA_DOWN])
    [open_] = [i for i in incidents.all.values() if i.state == OPEN]
    [merged] = [i for i in incidents.all.values() if i.state == RESOLVED]
    assert open_.root_hop == "cluster:main" and merged.merged_into == open_.id
    assert set(open_.members) == {fp(STALLED), fp(LEDGER_LAG), fp(KAFKA_DOWN)}
    assert {m.state for m in merged.members.values()} == {MOVED}
    assert incidents.open_incident_of(fp(LEDGER_LAG)) is open_


def test_a_member_that_fires_again_while_its_incident_is_open_rejoins_it() -> None:
    incidents = run([ORDERS_DOWN, INDEXER_LAG])
    states = {fp(a): state(a, T0) for a in (ORDERS_DOWN, INDEXER_LAG)}
    [inc] = incidents.all.values()
    states[fp(INDEXER_LAG)] = resolve(states[fp(INDEXER_LAG)], T0 + 10)
    incidents.update(states, T0 + 10)
    assert inc.members[fp(INDEXER_LAG)].state == "resolved"
    states[fp(INDEXER_LAG)] = state(INDEXER_LAG, T0 + 20)
    incidents.update(states, T0 + 20)
    assert inc.members[fp(INDEXER_LAG)].state == FIRING
    assert len(incidents.all) == 1


def test_a_downstream_cause_keeps_the_incident_open_after_the_upstream_root_resolves() -> None:
    """The source comes back but its group still lags: the incident goes on, rooted at the
    group, instead of resolving and paging again for the lag."""
    incidents = run([ORDERS_DOWN, INDEXER_LAG])
    states = {fp(a): state(a, T0) for a in (ORDERS_DOWN, INDEXER_LAG)}
    [inc] = incidents.all.values()
    assert inc.root_rule == "CollectorDown"
    states[fp(ORDERS_DOWN)] = resolve(states[fp(ORDERS_DOWN)], T0 + 30)
    incidents.update(states, T0 + 30)
    assert (inc.state, inc.root_hop, inc.root_rule) == (
        OPEN, "group:search-indexer", "KafkaGroupLagHigh"
    )  # fmt: skip


def test_symptoms_only_resolve_when_they_all_have() -> None:
    incidents = run([PROBE_LOST, SLO_BURN])
    states = {fp(a): state(a, T0) for a in (PROBE_LOST, SLO_BURN)}
    [inc] = incidents.all.values()
    states[fp(PROBE_LOST)] = resolve(states[fp(PROBE_LOST)], T0 + 30)
    incidents.update(states, T0 + 30)
    assert inc.state == OPEN
    states[fp(SLO_BURN)] = resolve(states[fp(SLO_BURN)], T0 + 40)
    incidents.update(states, T0 + 40)
    assert inc.state == RESOLVED and not inc.in_state(HELD)


def test_the_headline_names_the_root_first_then_the_evidence_and_the_freshness() -> None:
    incidents = Incidents(Topology(PIPELINES))
    stalled = replace(
        state(STALLED),
        annotations={"evidence": "fraud-scorer stopped committing 14s ago", "summary": "x"},
    )
    lost = replace(state(PROBE_LOST, T0 - 5), annotations={"evidence": "probe lost at its hop"})
    states = {s.fingerprint: s for s in (stalled, lost)}
    incidents.update(
        states, T0, lambda p: "freshness 31s, over its 5s SLO" if p == "orders" else None
    )
    [inc] = incidents.all.values()
    assert inc.headline == (
        "fraud-scorer stopped committing 14s ago; probe lost at its hop; "
        "freshness 31s, over its 5s SLO"
    )
    snap = inc.snapshot(incidents.policy)
    assert snap["root"] == {"fingerprint": stalled.fingerprint, "alert": "KafkaGroupStalled",
                            "hop": "group:fraud-scorer"}  # fmt: skip
    assert [m["alert"] for m in snap["members"]] == ["KafkaGroupStalled", "ProbeLost"]
    assert snap["pipelines"] == ["orders"]


def test_incidents_survive_a_restart_as_records() -> None:
    incidents = run([STALLED, PROBE_LOST])
    [inc] = incidents.all.values()
    again = Incidents(Topology(PIPELINES))
    again.load([inc.to_record(T0)])
    assert again.all[inc.id] == inc
    assert again.open_incident_of(fp(PROBE_LOST)) is not None
