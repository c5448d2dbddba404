"""Each rule kind judged over a real SQLite store: one table, each row says why."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lagwatch.alerts.rules import RuleConfig, compile_rule
from lagwatch.alerts.topology import PipelineLink, Topology
from lagwatch.alerts.view import FollowingView, LiveView
from lagwatch.store import Sample
from lagwatch.store.sqlite import SqliteStore

NOW = 1_700_000_000.0


def s(name: str, value: float, ago: float, **labels: str) -> Sample:
    return Sample.of(name, value, NOW - ago, **labels)


def series(name: str, values: list[float], every: float, **labels: str) -> list[Sample]:
    """Samples ending now, ``every`` seconds apart."""
    n = len(values)
    return [s(name, v, (n - 1 - i) * every, **labels) for i, v in enumerate(values)]


TOPOLOGY = Topology(
    [PipelineLink("orders", source="orders-db", cluster="main", groups=("search",),
                  freshness=5.0, objective=99.0),
     PipelineLink("billing", source="billing-db", freshness=5.0, objective=99.0)]
)  # fmt: skip

# (why, samples, rule, started ago, what fires {label text: value})
CASES: list[tuple[str, list[Sample], dict[str, Any], float, dict[str, float]]] = [
    (
        "1. a status equal to STOP fires; OK and STALL groups are judged but do not fire",
        [s("st", 3, 1, group="a"), s("st", 0, 1, group="b"), s("st", 4, 1, group="c")],
        {"expr": "st == 3"},
        600,
        {"group=a": 3},
    ),
    (
        "2. max by group takes the worst partition; other labels drop out",
        [s("lag", 10, 1, group="a", partition="0"), s("lag", 400, 1, group="a", partition="1"),
         s("lag", 20, 1, group="b", partition="0")],
        {"expr": "max by (group) (lag) > 5m"},
        600,
        {"group=a": 400},
    ),
    (
        "3. matchers narrow the series; a regex matches whole values only",
        [s("up", 0, 1, collector="kafka:main"), s("up", 0, 1, collector="postgres:kafka:x")],
        {"expr": 'up{collector=~"kafka:.*"} == 0'},
        600,
        {"collector=kafka:main": 0},
    ),
    (
        "4. a value older than stale_after is not judged (a group deleted long ago)",
        [s("st", 3, 7200, group="gone"), s("st", 3, 5, group="here")],
        {"expr": "st == 3", "stale_after": "1h"},
        600,
        {"group=here": 3},
    ),
    (
        "5. increase over a window counts a counter restart as growth from zero",
        series("lost_total", [5, 6, 8, 1, 2], 60, pipeline="orders"),
        {"expr": "increase(lost_total[5m]) > 3"},
        600,
        {"pipeline=orders": 1 + 2 + 1 + 1},
    ),
    (
        "6. absent: a series silent longer than `after` fires, a fresh one does not",
        [s("up", 1, 400, collector="a"), s("up", 1, 5, collector="b")],
        {"absent": "up", "after": "5m"},
        3600,
        {"collector=a": 400},
    ),
    (
        "7. absent right after a restart: old series get `after` from the start before firing",
        [s("up", 1, 400, collector="a")],
        {"absent": "up", "after": "5m"},
        60,
        {},
    ),
    (
        "8. absent with no series at all fires under the matcher's labels once `after` passed",
        [],
        {"absent": 'up{collector="kafka:main"}', "after": "5m"},
        3600,
        {"collector=kafka:main": math.inf},
    ),
    (
        "9. predictive on a time-to-X series: below the horizon fires, infinite does not",
        [s("ttl", 1800, 1, slot="a"), s("ttl", math.inf, 1, slot="b"), s("ttl", 90000, 1, slot="c")],
        {"predict": {"series": "ttl", "horizon": "2h"}},
        600,
        {"slot=a": 1800},
    ),
    (
        "10. predictive by trend: 1 GB/min growth reaches a 100 GB ceiling from 40 GB in 60 min",
        series("bytes", [36e9, 37e9, 38e9, 39e9, 40e9], 60, slot="a"),
        {"predict": {"series": "bytes", "horizon": "2h", "limit": "100GB", "window": "10m"}},
        600,
        {"slot=a": 3600},
    ),
    (
        "11. burn rate from the SLI (objective and threshold from the pipeline): orders was stale "
        "for the last 4 of 60 minutes, 1 h burns 6.7x < 14.4: no page; billing for the last 10: "
        "1 h burns 16.7x and 5 m 100x: page",
        series("fresh", [1.0] * 56 + [30.0] * 4, 60, pipeline="orders")
        + series("fresh", [1.0] * 50 + [30.0] * 10, 60, pipeline="billing"),
        {"burn_rate": {"sli": "fresh",
                       "windows": [{"long": "1h", "short": "5m", "factor": 14.4, "severity": "page"}]}},
        7200,
        {"pipeline=billing,slo_window=1h": 100 * 10 / 60},
    ),
    (
        "12. burn rate from good/bad counters: 30 bad of 100 events = 30x over a 1 % budget",
        series("good_total", [0, 70], 600, pipeline="orders")
        + series("bad_total", [0, 30], 600, pipeline="orders"),
        {"burn_rate": {"good": "good_total", "bad": "bad_total",
                       "windows": [{"long": "1h", "short": "15m", "factor": 14.4, "severity": "page"}]}},
        7200,
        {"pipeline=orders,slo_window=1h": 30},
    ),
]  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "lagwatch.db")
    yield db
    db.close()


@pytest.mark.parametrize(("why", "samples", "rule", "started_ago", "expected"), CASES,
                         ids=[c[0].split(".")[0] for c in CASES])  # fmt: skip
def test_rule_kinds(
    store: SqliteStore,
    why: str,
    samples: list[Sample],
    rule: dict[str, Any],
    started_ago: float,
    expected: dict[str, float],
) -> None:
    store.write(samples)
    compiled = compile_rule(RuleConfig.model_validate({"name": "R", **rule}), TOPOLOGY)
    view = LiveView(store, NOW, NOW - started_ago)
    got = {
        ",".join(f"{k}={v}" for k, v in sorted(o.labels.items())): o.value
        for o in compiled.observe(view)
    }
    assert set(got) == set(expected), why
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=0.02), f"{why}: {key}"


@pytest.mark.parametrize(("why", "samples", "rule", "started_ago", "expected"), CASES,
                         ids=[c[0].split(".")[0] for c in CASES])  # fmt: skip
def test_rule_kinds_judge_the_same_over_a_view_that_reads_only_changes(
    store: SqliteStore,
    why: str,
    samples: list[Sample],
    rule: dict[str, Any],
    started_ago: float,
    expected: dict[str, float],
) -> None:
    """The engine's own view keeps what it read; given the same data it judges alike."""
    compiled = compile_rule(RuleConfig.model_validate({"name": "R", **rule}), TOPOLOGY)
    view = FollowingView(store, NOW - started_ago, compiled.kind.metrics())
    view.refresh(NOW - 3600)  # an earlier cycle, before any of the samples
    store.write(samples)
    view.refresh(NOW)
    live = LiveView(store, NOW, NOW - started_ago)
    assert sorted(map(repr, compiled.observe(view))) == sorted(map(repr, compiled.observe(live)))
    assert len(compiled.observe(view)) == len(expected), why


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({"expr": "m > 1", "absent": "m"}, "exactly one of expr, absent"),
        ({}, "exactly one of"),
        ({"expr": "m > 1", "annotations": {"summary": "{{ $lables.x }}"}}, "unknown template variable"),
        ({"expr": "m > 1", "annotations": {"summary": "{{ $value | money }}"}}, "unknown template filter"),
        ({"expr": "m > 1", "labels": {"severity": "x"}}, "set by the rule itself"),
        ({"burn_rate": {"good": "g"}}, "either sli"),
        ({"expr": "m > 1", "severity": "urgent"}, "page"),
    ],
)  # fmt: skip
def test_bad_rules_are_refused(rule: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        RuleConfig.model_validate({"name": "R", **rule})


def test_builtin_pack_loads_and_reads_only_lagwatch_metrics() -> None:
    from lagwatch.alerts.builtin import builtin_rules

    rules = builtin_rules()
    assert len({r.name for r in rules}) == len(rules)
    for rule in rules:
        for metric in compile_rule(rule).kind.metrics():
            assert metric.startswith("lagwatch_"), rule.name
