"""Real consumer groups, recorded on the devstack Kafka, replayed through the collector's own judge.

Given 12 minutes of one reading a second per case (``sample_data/kafka/cadence``,
recorded by ``tests/support/record_kafka.py``), when the collector's logic judges
them as a collector at the default config would at a 10 s and a 5 s interval, from
every phase of its cycle, then: healthy-but-awkward groups get no STOP or STALL and
the built-in alert pack pages for none of them; stopped ones (dying, hanging,
crashed) are judged within the paging goal's budget after the stop, and paged.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lagwatch.collectors.kafka.verdict import Status
from tests.support.kafka_replay import cases, replay_case

INTERVALS = (10.0, 5.0)
# Stop → first STOP/STALL verdict at most: the goal (30 s at a 10 s interval, 15 s at 5 s)
# less a few seconds for the engine and the receiver.
BUDGET = {10.0: 27.0, 5.0: 14.0}


@dataclass(frozen=True)
class Quiet:
    case: str
    why: str


@dataclass(frozen=True)
class Stop:
    case: str
    status: Status
    rule: str
    why: str
    then: Status | None = None


QUIET = [
    Quiet("each-steady", "its commit moves at every cycle: nothing ever waits on an unmoved commit"),
    Quiet("auto5-steady", "auto-commit every 5 s: messages wait up to 5 s for the commit, a third "
          "of the 15 s a partition whose commit moves at every 10 s cycle may wait"),
    Quiet("auto5-sparse", "one message every 20 s, committed within 5 s: each wait is short and "
          "between messages nothing waits at all"),
    Quiet("every30", "30 s of waiting is its normal: it learns gaps of 30-40 s and may wait "
          "about three times that"),
    Quiet("batch60", "commits once a minute while staying in the group: gaps of 60-70 s, a limit "
          "of about three minutes"),
    Quiet("cron60", "the group is empty between runs while messages wait: it was seen coming "
          "back, so an empty group is normal for it and only its minute-long cadence counts"),
    Quiet("bursty", "bursts of 400 then silence: the consumer reads a burst in 2 s, committing "
          "as it goes; between bursts nothing waits"),
    Quiet("bursty-auto5", "a burst is read in 2 s and committed within 5 s: one cycle may see "
          "it waiting, the next sees the commit moved"),
    Quiet("idle", "nothing is written: no lag, and a commit that never moves is no evidence"),
    Quiet("goes-quiet", "the stream stops, the consumer catches up: an old commit with nothing "
          "waiting is healthy"),
    Quiet("rebalancing", "members restarted one after another: partitions move and commits pause "
          "for a few seconds per rebalance, well inside the limit (verdicts are held meanwhile)"),
]  # fmt: skip

STOPS = [
    Stop("stop-die", Status.STOP, "no-members", "its only consumer closed: the group is empty "
         "two cycles in a row while messages keep arriving"),
    Stop("stop-die-every30", Status.STOP, "no-members", "a slow committer closes: the empty "
         "group decides at once, not its three-times-30 s limit"),
    Stop("stop-hang", Status.STALL, "stall", "it keeps its membership but its commit, which "
         "moved at every cycle, stands still while messages wait 1.5 cycles"),
    Stop("stop-hang-auto5", Status.STALL, "stall", "an auto-committing consumer hangs: the same "
         "evidence, its gaps learnt as one cycle"),
    Stop("stop-crash", Status.STALL, "stall", "killed: the coordinator keeps the dead member for "
         "its 45 s session timeout, so it is stalled first, then stopped once the group empties",
         then=Status.STOP),
]  # fmt: skip


def test_the_tables_cover_every_recording() -> None:
    assert sorted(r.case for r in [*QUIET, *STOPS]) == cases()


@pytest.mark.parametrize("interval", INTERVALS)
@pytest.mark.parametrize("row", QUIET, ids=[r.case for r in QUIET])
def test_healthy_awkward_groups_are_never_stop_or_stall_and_never_page(
    row: Quiet, interval: float
) -> None:
    for phase in range(int(interval)):
        replayed = replay_case(row.case, interval, float(phase))
        assert len(replayed.statuses) > 600 / interval, "the replay covers the recording"
        stuck = replayed.stuck()
        assert not stuck, f"{row.case} at {interval:g}s, phase {phase}: {stuck[0][2]} — {row.why}"
        if phase == 0:
            fired = [c for c in replayed.alerts() if c.state == "firing"]
            assert not fired, f"{row.case}: {[(c.rule, c.summary) for c in fired]} — {row.why}"


@pytest.mark.parametrize("interval", INTERVALS)
@pytest.mark.parametrize("row", STOPS, ids=[r.case for r in STOPS])
def test_stopped_consumers_are_judged_within_the_budget_and_paged(
    row: Stop, interval: float
) -> None:
    for phase in range(int(interval)):
        replayed = replay_case(row.case, interval, float(phase))
        stop = replayed.stop
        assert stop is not None
        assert not [s for s in replayed.stuck() if s[0] < stop], "nothing is stuck before it stops"
        first = replayed.first_stuck(stop)
        assert first is not None, f"{row.case}: never judged — {row.why}"
        at, status, note = first
        assert at - stop <= BUDGET[interval], f"{row.case} phase {phase}: {at - stop:.1f}s, {note}"
        assert (Status(status), f"({row.rule}):") == (row.status, note.split(" ", 2)[1]), note
        after = [Status(s) for t, s, _ in replayed.statuses if t >= at]
        assert all(s in (Status.STOP, Status.STALL) for s in after), "it stays stuck"
        if row.then is not None:
            assert after[-1] == row.then
        if phase == 0:
            fired = [c for c in replayed.alerts() if c.state == "firing"]
            assert fired and fired[0].rule in ("KafkaGroupStopped", "KafkaGroupStalled")
            assert fired[0].ts - stop <= BUDGET[interval]
            assert fired[0].labels["severity"] == "page"


def test_a_fixed_window_still_waits_the_whole_window() -> None:
    # Given the same hang judged with an explicit window of 10 minutes (the old behaviour)
    replayed = replay_case("stop-hang", 10.0, kafka={"window": "10m"})
    stop = replayed.stop
    assert stop is not None
    # Then nothing is judged in the 2.5 minutes recorded after the stop
    assert replayed.first_stuck(stop) is None
