"""A stopped group stays stopped: no cycle may resolve its alert while its commit has not moved.

In a daemon run KafkaGroupStopped was sent RESOLVED and FIRING again for the same
stopped groups. Every way a cycle could turn a stuck partition's group status away
from STOP without its commit moving is a row here: what the cycle saw, then the
collector's status series, then the built-in pack over it, which must fire once and
never resolve. Before the fix, "offsets unknown" wrote the group OK and forgot the
partition (OK for a whole window after), "missing from the listing" forgot the group,
"not described" turned a STALL into a STOP and back, a restart longer than the window
started afresh (OK for a window), and the evidence rules lapse when the producer pauses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lagwatch.alerts.builtin import builtin_rules
from lagwatch.alerts.replay import replay
from lagwatch.collectors.kafka.groups import GroupEvaluator
from lagwatch.collectors.kafka.read import ClusterView, GroupView
from lagwatch.collectors.kafka.state import StateKeeper
from lagwatch.collectors.kafka.timelag import EndOffsetHistory
from lagwatch.collectors.kafka.verdict import Cadence, Status, Thresholds
from lagwatch.store import Sample
from lagwatch.store.sqlite import SqliteStore

TP = ("orders", 0)
EMPTY, STABLE, UNKNOWN = 5, 3, 0
INTERVAL = 10.0
T0 = 1_700_000_000.0
STOPPED = T0 + 100  # the consumer dies or hangs here; it commits every message before


@dataclass
class Cycle:
    """What one cycle reads: the group (None: not listed), the log end, the partition's error."""

    group: GroupView | None
    end: int | None
    error: str | None = None


Scenario = Callable[[float, int, int], Cycle]  # (now, committed, log end) → what is read


def dead(now: float, committed: int, end: int) -> Cycle:
    return Cycle(GroupView("g", EMPTY, 0, {}, {TP: committed}), end)


def hung(now: float, committed: int, end: int) -> Cycle:
    return Cycle(GroupView("g", STABLE, 1, {TP: "c1"}, {TP: committed}), end)


def run(after_stop: Scenario, base: Scenario = dead, until: float = 300.0,
        evaluator: GroupEvaluator | None = None) -> list[Sample]:  # fmt: skip
    """Cycles every 10 s: a consumer that keeps up, then ``base``, with ``after_stop`` at 60–90 s."""
    evaluator = evaluator or GroupEvaluator("c", 600, Thresholds(), 86400, Cadence(INTERVAL))
    out: list[Sample] = []
    t = T0
    while t <= STOPPED + until:
        end = int(2 * (t - T0))
        if t < STOPPED:
            cycle = hung(t, end, end)
        else:
            committed = int(2 * (STOPPED - T0))
            perturbed = STOPPED + 60 <= t < STOPPED + 90
            cycle = (after_stop if perturbed else base)(t, committed, end)
        groups = {} if cycle.group is None else {"g": cycle.group}
        ends = {} if cycle.end is None else {TP: cycle.end}
        errors = {TP: cycle.error} if cycle.error else {}
        view = ClusterView(
            t, 1, groups, ends, dict.fromkeys(ends, 0), errors, {"orders": False}, []
        )
        out += evaluator.samples(view, {}, EndOffsetHistory(3600).estimate)
        t += INTERVAL
    return out


def statuses(samples: list[Sample]) -> list[tuple[float, Status]]:
    return [
        (s.ts, Status(int(s.value))) for s in samples if s.name == "lagwatch_kafka_group_status"
    ]


def offsets_unknown(now: float, committed: int, end: int) -> Cycle:
    return Cycle(GroupView("g", EMPTY, 0, {}, {TP: committed}), None, "Leader not available")


def not_listed(now: float, committed: int, end: int) -> Cycle:
    return Cycle(None, end)


def listed_unknown(now: float, committed: int, end: int) -> Cycle:
    # A broker did not answer the listing: the group is read with its state unknown
    return Cycle(GroupView("g", UNKNOWN, None, {}, {TP: committed}, errors=["not listed"]), end)


def producer_pauses(now: float, committed: int, end: int) -> Cycle:
    return dead(now, committed, int(2 * (STOPPED + 60 - T0)))


def not_described(now: float, committed: int, end: int) -> Cycle:
    # The describe failed: state from the listing, members and assignment unknown
    return Cycle(GroupView("g", STABLE, None, {}, {TP: committed}, errors=["describe"]), end)


def rejoins_without_committing(now: float, committed: int, end: int) -> Cycle:
    return hung(now, committed, end)


def rebalancing(now: float, committed: int, end: int) -> Cycle:
    return Cycle(GroupView("g", 1, 1, {}, {TP: committed}), end)


ROWS = [
    ("offsets unknown for three cycles", dead, offsets_unknown, Status.STOP),
    ("missing from the listing", dead, not_listed, Status.STOP),
    ("listed with an unknown state", dead, listed_unknown, Status.STOP),
    ("the producer pauses", dead, producer_pauses, Status.STOP),
    ("a consumer joins and commits nothing", dead, rejoins_without_committing, Status.STOP),
    ("a hung group is not described", hung, not_described, Status.STALL),
    ("a hung group rebalances", hung, rebalancing, Status.STALL),
]


@pytest.mark.parametrize(("why", "base", "perturb", "stuck"), ROWS, ids=[r[0] for r in ROWS])
def test_a_stuck_group_stays_stuck_and_pages_once(
    why: str, base: Scenario, perturb: Scenario, stuck: Status
) -> None:
    samples = run(perturb, base)
    seen = statuses(samples)
    judged = next(ts for ts, s in seen if s != Status.OK)
    # Judged within seconds of the stop, then the same status every cycle it is written
    assert judged - STOPPED <= 30
    assert {s for ts, s in seen if ts >= judged} == {stuck}, why
    # And the built-in pack fires once and never resolves
    changes = [(c.rule, c.state) for c in replay(list(builtin_rules()), samples)]
    name = "KafkaGroupStopped" if stuck == Status.STOP else "KafkaGroupStalled"
    assert changes == [(name, "firing")], why


def test_a_commit_that_moves_ends_it() -> None:
    # Given a stopped group judged STOP, when its consumer comes back and commits
    def back(now: float, committed: int, end: int) -> Cycle:
        return hung(now, end, end)

    seen = statuses(run(back, until=89))
    assert seen[-1][1] == Status.OK and Status.STOP in {s for _, s in seen}


def test_a_crashed_member_is_stalled_then_stopped_once_it_is_dropped() -> None:
    # Given a consumer killed at the stop: its member stays until the session times out
    def dropped(now: float, committed: int, end: int) -> Cycle:
        return (hung if now < STOPPED + 45 else dead)(now, committed, end)

    seen = [s for _, s in statuses(run(dropped, dropped))]
    stuck = [s for s in seen if s != Status.OK]
    assert stuck[0] == Status.STALL and stuck[-1] == Status.STOP
    assert stuck == sorted(stuck, reverse=True)  # STALL then STOP, never back


def test_a_restart_longer_than_the_window_keeps_the_stop(tmp_path: Path) -> None:
    # Given a daemon that judged a group STOP and saved its state
    store = SqliteStore(tmp_path / "s.db")
    before = GroupEvaluator("c", 60, Thresholds(), 86400, Cadence(INTERVAL))
    keeper = StateKeeper("c", 60, store)
    keeper.restored = True
    samples = run(dead, until=60, evaluator=before)
    store.put_records(list(keeper.records(before.groups, EndOffsetHistory(3600), STOPPED + 60)))
    assert statuses(samples)[-1][1] == Status.STOP
    # When it comes back after twice the window with the commit unchanged
    after = GroupEvaluator("c", 60, Thresholds(), 86400, Cadence(INTERVAL))
    StateKeeper("c", 60, store).restore(after.groups, EndOffsetHistory(3600), STOPPED + 180)
    now = STOPPED + 180
    committed, end = int(2 * (STOPPED - T0)), int(2 * (now - T0))
    view = ClusterView(now, 1, {"g": dead(now, committed, end).group}, {TP: end},  # type: ignore[dict-item]
                       {TP: 0}, {}, {"orders": False}, [])  # fmt: skip
    # Then its first cycle says STOP still, not OK for a window
    assert statuses(after.samples(view, {}, EndOffsetHistory(3600).estimate)) == [
        (now, Status.STOP)
    ]
    store.close()
