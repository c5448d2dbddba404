"""The alerts' history: one store record per change of shown state, bounded in age and number."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lagwatch.alerts.history import NAMESPACE, Change, prune
from lagwatch.store import Record
from tests.support.alerting import T0, Harness

LAG = "lagwatch_kafka_group_max_lag_seconds"
CONFIG = {
    "builtin_rules": False,
    "rules": [
        {"name": "LagHigh", "expr": f"{LAG} > 60", "for": "20s",
         "annotations": {"summary": "{{ $labels.group }} {{ $value | duration }} behind"}},
    ],
    "flap": {"window": "15m", "changes": 3},
}  # fmt: skip


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, CONFIG)
    yield harness
    harness.close()


def history(h: Harness) -> list[tuple[float, str, str, bool]]:
    changes = [Change.from_record(r) for r in h.store.list_records(NAMESPACE)]
    return [(c.ts - T0, c.before, c.state, c.flapping) for c in changes]


def lag(h: Harness, at: float, seconds: float) -> None:
    h.now = T0 + at
    h.write(LAG, seconds, cluster="main", group="search")
    h.cycle()


def test_changes_that_fire_or_resolve_are_kept_with_what_they_said(h: Harness) -> None:
    lag(h, 0, 90)
    lag(h, 10, 95)  # still pending: no change
    lag(h, 20, 120)
    lag(h, 30, 5)
    assert history(h) == [(20, "pending", "firing", False), (30, "firing", "resolved", False)]
    fired = Change.from_record(h.store.list_records(NAMESPACE)[0])
    assert (fired.rule, fired.labels["group"], fired.value) == ("LagHigh", "search", 120)
    assert fired.summary == "search 2m00s behind" and fired.unit == "seconds"


def test_pending_that_comes_and_goes_is_told_to_replays_but_not_kept(h: Harness) -> None:
    for t in range(0, 600, 20):  # hovering around the threshold under `for: 20s`
        lag(h, t, 90 if t % 40 == 0 else 5)
    assert [(c.before, c.state) for c in h.engine.changes] == [("pending", "inactive")]
    assert history(h) == []


def test_flapping_is_kept_and_holds_the_alert_firing(h: Harness) -> None:
    for t in range(100, 400, 60):  # fires and resolves again and again
        lag(h, t, 90)
        lag(h, t + 20, 90)
        lag(h, t + 40, 5)
    # The third change within the flap window is flapping: held firing, no more changes.
    assert history(h) == [
        (120, "pending", "firing", False),
        (140, "firing", "resolved", False),
        (160, "resolved", "pending", False),
        (180, "pending", "firing", True),
    ]


def test_prune_keeps_only_the_recent_and_the_newest(h: Harness) -> None:
    def change(i: int, ts: float) -> Record:
        return Change(
            ts, f"{i:04d}", "R", {}, "pending", "firing", 1.0, None, "", False, ""
        ).to_record()

    h.store.put_records([change(i, T0 - 8 * 86400 + i) for i in range(5)])  # older than a week
    h.store.put_records([change(i, T0 + i) for i in range(5, 30)])
    assert prune(h.store, T0 + 30, limit=20) == 5 + 5
    left = h.store.list_records(NAMESPACE)
    assert [r.ts - T0 for r in left] == list(range(10, 30))
