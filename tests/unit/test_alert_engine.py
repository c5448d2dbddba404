"""The engine over a real SQLite store, told through log receivers: grouping, pacing, resolves,
restarts, silences, inhibition, flapping and routing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lagwatch.alerts.notifiers.base import Digest, Notification
from lagwatch.alerts.silences import add_silence, expire_silence
from lagwatch.alerts.topology import PipelineLink
from tests.support.alerting import T0, Harness

STATUS = "lagwatch_kafka_group_status"
LAG = "lagwatch_kafka_group_max_lag_seconds"


def config(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "builtin_rules": False,
        "rules": [
            {"name": "GroupStopped", "expr": f"{STATUS} == 3", "severity": "page",
             "annotations": {"summary": "{{ $labels.group }} stopped"}},
            {"name": "LagHigh", "expr": f"{LAG} > 60", "for": "20s", "severity": "warning"},
        ],
        "receivers": [{"name": "log", "log": {}}],
        "group_by": ["alertname", "cluster"],
        "group_interval": "60s",
        "repeat_interval": "1h",
    }  # fmt: skip
    base.update(extra)
    return base


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, config())
    yield harness
    harness.close()


def told(h: Harness, receiver: str = "log") -> list[Notification]:
    out: list[Notification] = []
    for item in h.log(receiver).sent:
        out.extend(item.parts if isinstance(item, Digest) else [item])
    return out


def summary(n: Notification) -> tuple[str, list[tuple[str, str]]]:
    return n.status, sorted((a.labels.get("group", ""), a.state) for a in n.alerts)


def test_first_message_at_once_then_changes_batched_per_group_interval(h: Harness) -> None:
    """Given a group that stops, then a second one 10 s later on the same cluster."""
    h.write(STATUS, 3, cluster="main", group="a")
    h.cycle(T0)
    assert [summary(n) for n in told(h)] == [("firing", [("a", "firing")])]
    h.write(STATUS, 3, cluster="main", group="b")
    h.cycle(T0 + 10)
    h.cycle(T0 + 59)
    assert len(told(h)) == 1, "the change waits for group_interval"
    h.cycle(T0 + 60)
    assert [summary(n) for n in told(h)][1] == ("firing", [("a", "firing"), ("b", "firing")])
    assert h.engine.groups and len(h.engine.groups) == 1


def test_unchanged_group_repeats_after_repeat_interval(h: Harness) -> None:
    h.write(STATUS, 3, cluster="main", group="a")
    h.cycle(T0)
    for t in range(600, 3600, 600):
        h.write(STATUS, 3, cluster="main", group="a")
        h.cycle(T0 + t)
    assert len(told(h)) == 1
    h.write(STATUS, 3, cluster="main", group="a")
    h.cycle(T0 + 3600)
    assert [n.reason for n in told(h)] == ["new", "repeat"]


def test_resolve_is_sent_and_the_group_starts_over(h: Harness) -> None:
    h.write(STATUS, 3, cluster="main", group="a")
    h.cycle(T0)
    h.write(STATUS, 0, cluster="main", group="a")
    h.cycle(T0 + 10)
    h.cycle(T0 + 60)
    n = told(h)[-1]
    assert summary(n) == ("resolved", [("a", "resolved")])
    assert n.alerts[0].resolved_at == T0 + 10 and n.alerts[0].fired_at == T0
    assert h.engine.groups == {}
    h.write(STATUS, 3, cluster="main", group="a")
    h.cycle(T0 + 70)
    assert summary(told(h)[-1]) == ("firing", [("a", "firing")]), "a new group goes out at once"


def test_send_resolved_false_keeps_the_receiver_quiet_on_resolve(tmp_path: Path) -> None:
    h = Harness(tmp_path, config(receivers=[{"name": "log", "log": {}, "send_resolved": False}]))
    h.write(STATUS, 3, cluster="main", group="a")
    h.cycle(T0)
    h.write(STATUS, 0, cluster="main", group="a")
    h.cycle(T0 + 100)
    assert [n.status for n in told(h)] == ["firing"]
    h.close()


def test_restart_neither_repages_nor_forgets(h: Harness) -> None:
    """Given a firing alert, when the daemon restarts, then no new page; its resolve still comes."""
    h.write(STATUS, 3, cluster="main", group="a")
    h.write(LAG, 120, cluster="main", group="b")
    h.cycle(T0)
    h.cycle(T0 + 10)  # LagHigh pending (for 20s)
    assert [summary(n) for n in told(h)] == [("firing", [("a", "firing")])]
    h.restart()
    h.write(STATUS, 3, cluster="main", group="a")
    h.write(LAG, 120, cluster="main", group="b")
    h.cycle(T0 + 25)
    # GroupStopped is not paged again; LagHigh's pending survived: it fires 20 s after first seen.
    [lag] = told(h)
    assert [(a.name, a.active_since, a.fired_at) for a in lag.alerts] == [("LagHigh", T0, T0 + 25)]
    assert lag.alerts[0].value_text() == "2m00s (threshold > 1m00s)"
    h.write(STATUS, 0, cluster="main", group="a")
    h.restart()
    h.cycle(T0 + 200)
    resolved = [a for n in told(h) for a in n.alerts if a.state == "resolved"]
    assert [a.labels["group"] for a in resolved] == ["a"]


def test_silence_mutes_new_pages_and_its_end_lets_them_through(h: Harness) -> None:
    add_silence(h.store, ["alertname=GroupStopped", "group=a"], "ana", "deploying", T0 + 300, T0)
    h.write(STATUS, 3, cluster="main", group="a")
    h.cycle(T0 + 1)
    assert told(h) == []
    state = next(iter(h.engine.states.values()))
    assert state.state == "firing" and state.muted and "silenced" in state.muted
    h.write(STATUS, 3, cluster="main", group="a")
    h.cycle(T0 + 301)
    assert summary(told(h)[0]) == ("firing", [("a", "firing")])


def test_silence_added_while_firing_still_lets_the_resolve_through(h: Harness) -> None:
    h.write(STATUS, 3, cluster="main", group="a")
    h.cycle(T0)
    silence = add_silence(h.store, ["group=a"], "ana", "known", T0 + 3600, T0 + 1)
    h.write(STATUS, 0, cluster="main", group="a")
    h.cycle(T0 + 100)
    assert [n.status for n in told(h)] == ["firing", "resolved"]
    expire_silence(h.store, silence.id, T0 + 101)


def test_a_source_down_mutes_its_pipelines_lag_and_its_own_no_data(tmp_path: Path) -> None:
    """Given pipeline orders (source orders-db → group search), a down orders-db collector
    mutes search's lag alert and orders-db's no-data alert, but not another pipeline's lag."""
    rules = [
        {"name": "CollectorDown", "expr": "lagwatch_collector_up == 0", "severity": "page"},
        {"name": "LagHigh", "expr": f"{LAG} > 60", "severity": "warning"},
        {"name": "SlotNoData", "absent": "lagwatch_pg_slot_active", "after": "1m"},
    ]
    links = [
        PipelineLink("orders", source="orders-db", cluster="main", groups=("search",)),
        PipelineLink("billing", source="billing-db", cluster="main", groups=("ledger",)),
    ]
    h = Harness(tmp_path, config(rules=rules, group_by=["alertname"]), links=links)
    h.write("lagwatch_pg_slot_active", 1, source="orders-db", slot="s1")
    h.cycle(T0)
    h.now = T0 + 120
    h.write(
        "lagwatch_collector_up", 0, note="connection refused",
        collector="postgres:orders-db", origin="source:orders-db",
    )  # fmt: skip
    h.write(LAG, 300, cluster="main", group="search")
    h.write(LAG, 300, cluster="main", group="ledger")
    h.cycle(T0 + 120)
    alerts = [(a.name, a.labels.get("group") or a.labels.get("collector") or a.labels.get("slot"))
              for n in told(h) for a in n.alerts]  # fmt: skip
    assert sorted(alerts) == [("CollectorDown", "postgres:orders-db"), ("LagHigh", "ledger")]
    muted = {s.labels.get("group") or s.labels.get("slot"): s.muted for s in h.engine.states.values()
             if s.muted}  # fmt: skip
    assert set(muted) == {"search", "s1"}
    assert all("CollectorDown" in why for why in muted.values())
    h.close()


def test_two_collectors_of_one_source_down_do_not_mute_each_other(tmp_path: Path) -> None:
    rules = [{"name": "CollectorDown", "expr": "lagwatch_collector_up == 0", "severity": "page"}]
    h = Harness(tmp_path, config(rules=rules, group_by=["..."]))
    h.write("lagwatch_collector_up", 0, collector="postgres:orders-db", origin="source:orders-db")
    h.write("lagwatch_collector_up", 0, collector="outbox:orders-db", origin="source:orders-db")
    h.cycle(T0)
    assert len(told(h)) == 2
    h.close()


def test_flapping_alert_is_told_once_as_flapping_then_held(tmp_path: Path) -> None:
    h = Harness(tmp_path, config(group_interval="0s", flap={"window": "10m", "changes": 4}))
    for i in range(10):
        h.write(STATUS, 3 if i % 2 == 0 else 0, cluster="main", group="a")
        h.cycle(T0 + i * 30)
    reasons = [(n.status, n.reason, n.alerts[0].flapping) for n in told(h)]
    assert reasons == [
        ("firing", "new", False),
        ("resolved", "resolved", False),
        ("firing", "new", False),
        ("firing", "flapping", True),
    ]


def test_routes_pick_receivers_and_a_broken_receiver_hears_nothing_of_itself(
    tmp_path: Path,
) -> None:
    cfg = config(
        receivers=[{"name": "team", "log": {}}, {"name": "oncall", "log": {}}],
        routes=[{"match": {"severity": "page"}, "receiver": "oncall", "continue": True},
                {"receiver": "team"}],
        rules=[{"name": "GroupStopped", "expr": f"{STATUS} == 3", "severity": "page"},
               {"name": "LagHigh", "expr": f"{LAG} > 60", "severity": "warning"},
               {"name": "ReceiverBroken", "expr": "lagwatch_alert_receiver_broken == 1",
                "severity": "page"}],
    )  # fmt: skip
    h = Harness(tmp_path, cfg)
    h.write(STATUS, 3, cluster="main", group="a")
    h.write(LAG, 100, cluster="main", group="b")
    h.write("lagwatch_alert_receiver_broken", 1, note="403 action_prohibited", receiver="oncall")
    h.cycle(T0)
    names = {r: sorted(a.name for n in told(h, r) for a in n.alerts) for r in ("team", "oncall")}
    assert names == {
        "oncall": ["GroupStopped"],
        "team": ["GroupStopped", "LagHigh", "ReceiverBroken"],
    }
    h.close()


def test_a_stopped_group_is_paged_once_not_again_as_lagging(tmp_path: Path) -> None:
    """The built-in pack with its default inhibitions: STOP pages, the group's lag stays muted."""
    h = Harness(
        tmp_path, {"disable": ["CollectorSilent"], "receivers": [{"name": "log", "log": {}}]}
    )
    h.write(STATUS, 3, note="no commit for 9m", cluster="main", group="a")
    h.write(LAG, 900, cluster="main", group="a")
    h.write(LAG, 900, cluster="main", group="b")
    h.cycle(T0)
    h.write(STATUS, 3, note="no commit for 15m", cluster="main", group="a")
    h.write(LAG, 1300, cluster="main", group="a")
    h.write(LAG, 1300, cluster="main", group="b")
    h.cycle(T0 + 360)  # KafkaGroupLagHigh's `for: 5m` has passed
    told_alerts = sorted((a.name, a.labels["group"]) for n in told(h) for a in n.alerts)
    assert told_alerts == [("KafkaGroupLagHigh", "b"), ("KafkaGroupStopped", "a")]
    h.close()


def test_pipelines_from_the_config_become_the_engines_topology() -> None:
    from lagwatch.alerts.topology import Topology, links_from
    from lagwatch.collectors.probe.config import PipelineConfig

    pipe = PipelineConfig.model_validate(
        {"name": "orders", "source": "orders-db", "slot": "dbz", "kafka": "main",
         "topic": "dbz.orders", "groups": ["search"], "slo": {"freshness": "5s", "objective": 99.5}}
    )  # fmt: skip
    [link] = links_from([pipe])
    assert link == PipelineLink(
        "orders", "orders-db", "main", ("search",), 5.0, 99.5, slot="dbz", topic="dbz.orders"
    )
    # A pipeline naming no cluster is on the only one configured.
    alone = pipe.model_copy(update={"kafka": None})
    assert links_from([alone], ["main"])[0].cluster == "main"
    assert links_from([alone], ["main", "other"])[0].cluster is None
    origins = Topology([link]).origins({"cluster": "main", "group": "search"})
    assert origins == {"cluster:main", "source:orders-db"}
