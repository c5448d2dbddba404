"""The Kafka verdict rules, one table: each row is a partition's history, the verdict it must get, and why."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lagwatch.collectors.kafka.track import PartitionTrack
from lagwatch.collectors.kafka.verdict import (
    PartitionFacts,
    Status,
    Thresholds,
    Verdict,
    evaluate_group,
    evaluate_partition,
)

WINDOW = 600.0


def every(seconds: float, until: float, committed, log_end) -> list[tuple[float, int | None, int]]:
    """Return observations every ``seconds`` up to ``until``; offsets are functions of time."""
    out = []
    t = 0.0
    while t <= until:
        out.append((t, committed(t), log_end(t)))
        t += seconds
    return out


@dataclass
class Row:
    why: str
    points: list[tuple[float, int | None, int]]
    expect: Status
    rule: str
    assigned: bool = False
    earliest: int = 0
    lag_seconds: float | None = None
    thresholds: Thresholds = Thresholds()
    words: str = ""


def facts(row: Row) -> PartitionFacts:
    """Replay the row's observations through the same tracker the collector uses."""
    track = PartitionTrack(row.points[0][0])
    for ts, committed, end in row.points:
        lag = None if committed is None else max(0, end - max(committed, row.earliest))
        track.observe(ts, committed, end, bool(lag), WINDOW)
    now, committed, end = row.points[-1]
    return PartitionFacts(
        now=now,
        window=WINDOW,
        history=tuple(track.points),
        watched_since=track.watched_since,
        committed_since=track.committed_since,
        waiting_since=track.waiting_since,
        lagging_since=track.lagging_since,
        earliest=row.earliest,
        assigned=row.assigned,
        lag_seconds=row.lag_seconds,
        lag=None if committed is None else max(0, end - max(committed, row.earliest)),
        thresholds=row.thresholds,
    )


ROWS = [
    # 1. Nothing produced, nothing to consume: a quiet consumer is a healthy one.
    Row(
        "idle topic, caught up",
        every(10, 1200, lambda t: 500, lambda t: 500),
        Status.OK,
        "ok",
        words="caught up",
    ),
    # 2. Commits trail the producer by a steady 50 messages: moving, keeping up.
    Row(
        "steady small lag",
        every(10, 1200, lambda t: int(t * 10), lambda t: int(t * 10) + 50),
        Status.OK,
        "ok",
        words="keeping up",
    ),
    # 3. The consumer died at t=0 and messages kept coming for longer than the window.
    Row(
        "stopped consumer",
        every(10, 700, lambda t: 100, lambda t: 100 + int(t)),
        Status.STOP,
        "stop",
        words="no commit for 11m40s while 700 messages wait",
    ),
    # 4. Same, but only half a window has passed: too early to call it (no false alarm after a restart).
    Row(
        "stopped for half a window",
        every(10, 300, lambda t: 100, lambda t: 100 + int(t)),
        Status.OK,
        "ok",
        words="watched for 5m00s",
    ),
    # 5. The consumer still holds the partition (heartbeats) but its commit does not move: stuck, not gone.
    Row(
        "stuck but assigned",
        every(10, 700, lambda t: 100, lambda t: 100 + int(t)),
        Status.STALL,
        "stall",
        assigned=True,
        words="a consumer is assigned",
    ),
    # 6. The commit has not moved for 20 min, but nothing waited: no commit is needed (Burrow counts commits).
    Row(
        "old commit, no lag",
        every(10, 1200, lambda t: 100, lambda t: 100),
        Status.OK,
        "ok",
        words="caught up",
    ),
    # 7. Idle for 19 min, then messages arrive 1 min ago: the wait is one minute old, not twenty.
    Row(
        "messages just arrived after a long idle",
        every(10, 1200, lambda t: 100, lambda t: 100 if t < 1140 else 160),
        Status.OK,
        "ok",
    ),
    # 8. Offsets reset backwards by an operator: everything after 200 will be read again.
    Row(
        "rewind",
        every(10, 300, lambda t: 1000 if t < 200 else 200 + int(t - 200), lambda t: 1500),
        Status.REWIND,
        "rewind",
        words="moved back from 1,000 to 200",
    ),
    # 9. A rewind that has been re-read past its old position is over.
    Row(
        "rewind recovered",
        every(10, 400, lambda t: 1000 if t < 100 else 200 + int(t - 100) * 5, lambda t: 1600),
        Status.OK,
        "ok",
    ),
    # 10. Commits move, but at half the produce rate for a whole window: falling behind.
    Row(
        "slow consumer",
        every(10, 700, lambda t: int(t * 5), lambda t: int(t * 10) + 20),
        Status.WARN,
        "falling-behind",
        words="consumed while",
    ),
    # 11. Batching makes the lag saw up and down without growing: not falling behind.
    Row(
        "sawtooth, keeping up",
        every(10, 700, lambda t: int(t * 10) - (int(t) % 30) * 10, lambda t: int(t * 10) + 5),
        Status.OK,
        "ok",
    ),
    # 12. Working off a backlog: lag shrinks every observation.
    Row(
        "catching up",
        every(10, 700, lambda t: int(t * 20), lambda t: 20000 + int(t * 10)),
        Status.OK,
        "ok",
    ),
    # 13. The committed offset fell off the log's start: messages were deleted unread.
    Row(
        "committed below earliest",
        every(10, 60, lambda t: 100 + int(t), lambda t: 5000 + int(t)),
        Status.ERR,
        "deleted-unread",
        earliest=400,
        words="deleted before this group read them",
    ),
    # 14. A moving consumer 40 min behind a 30 min limit: ERR by threshold.
    Row(
        "over err seconds",
        every(10, 60, lambda t: int(t * 10), lambda t: int(t * 10) + 50),
        Status.ERR,
        "lag-seconds-err",
        lag_seconds=2400,
        thresholds=Thresholds(warn_lag_seconds=600, err_lag_seconds=1800),
        words="40m00s behind",
    ),
    # 15. Over the warn message limit only.
    Row(
        "over warn messages",
        every(10, 60, lambda t: int(t * 10), lambda t: int(t * 10) + 5000),
        Status.WARN,
        "lag-messages-warn",
        thresholds=Thresholds(warn_lag_messages=1000, err_lag_messages=10000),
    ),
    # 16. Under every limit: thresholds alone do not make noise.
    Row(
        "under thresholds",
        every(10, 60, lambda t: int(t * 10), lambda t: int(t * 10) + 50),
        Status.OK,
        "ok",
        lag_seconds=5,
        thresholds=Thresholds(warn_lag_seconds=600, warn_lag_messages=1000),
    ),
    # 17. Assigned, never committed, and messages arrived all window long: stuck from the start.
    Row(
        "assigned, never committed",
        every(10, 700, lambda t: None, lambda t: int(t)),
        Status.STALL,
        "stall",
        assigned=True,
        words="without any commit",
    ),
    # 18. No committed offset yet and not watched for a window: say so, do not invent a lag.
    Row(
        "no commit yet",
        every(10, 60, lambda t: None, lambda t: int(t)),
        Status.OK,
        "ok",
        assigned=True,
        words="no committed offset",
    ),
    # 19. Rewound 11 min ago, then stopped: the rewind left the window, the stop is what matters now.
    Row(
        "old rewind ages out",
        every(10, 700, lambda t: 1000 if t < 50 else 200, lambda t: 1500 + int(t)),
        Status.STOP,
        "stop",
    ),
    # 20. Rewound and far over the err limit: REWIND is the worse of the two and wins.
    Row(
        "rewind beats a threshold",
        every(10, 300, lambda t: 1000 if t < 200 else 200, lambda t: 1500),
        Status.REWIND,
        "rewind",
        thresholds=Thresholds(err_lag_messages=100),
    ),
    # 21. Stopped and over the err limit: STOP says more than ERR.
    Row(
        "stopped and over the limit",
        every(10, 700, lambda t: 100, lambda t: 100 + int(t)),
        Status.STOP,
        "stop",
        thresholds=Thresholds(err_lag_messages=10),
    ),
    # 22. Slow since t=400 only: it caught up inside the window, so it is not yet falling behind.
    Row(
        "caught up inside the window",
        every(
            10,
            700,
            lambda t: int(t * 10) if t < 400 else 4000 + int((t - 400) * 5),
            lambda t: int(t * 10) + (0 if t < 400 else int((t - 400) * 5)),
        ),
        Status.OK,
        "ok",
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.why for r in ROWS])
def test_rule_table(row: Row) -> None:
    verdict = evaluate_partition(facts(row))
    assert (verdict.status, verdict.rule) == (row.expect, row.rule), f"{row.why}: {verdict.note}"
    assert row.words in verdict.explanation, verdict.explanation


def test_group_takes_its_worst_partition_and_names_it() -> None:
    verdicts = {
        ("orders", 0): Verdict(Status.OK, "ok", "caught up"),
        ("orders", 1): Verdict(
            Status.STOP, "stop", "no commit for 4m12s while 1,830 messages wait"
        ),
        ("orders", 2): Verdict(Status.STOP, "stop", "no commit for 4m10s while 12 messages wait"),
        ("orders", 3): Verdict(Status.WARN, "falling-behind", "lag grew"),
    }
    lags = {("orders", 0): 0, ("orders", 1): 1830, ("orders", 2): 12, ("orders", 3): 5000}
    group = evaluate_group(verdicts, lags)
    assert group.status == Status.STOP
    assert group.explanation.startswith("orders[1]: no commit for 4m12s while 1,830 messages wait")
    assert "1 more STOP" in group.explanation


def test_group_without_partitions_is_ok_and_says_why() -> None:
    assert evaluate_group({}, {}).explanation == "no partitions assigned or committed"


def test_ok_group_names_its_most_lagging_partition() -> None:
    ok = Verdict(Status.OK, "ok", "caught up")
    waiting = Verdict(Status.OK, "ok", "40 messages wait and the consumer is keeping up")
    group = evaluate_group({("a", 0): ok, ("a", 1): waiting}, {("a", 0): 0, ("a", 1): 40})
    assert (
        group.explanation
        == "a[1]: 40 messages wait and the consumer is keeping up (1 of 2 partitions lag)"
    )
    assert evaluate_group({("a", 0): ok}, {("a", 0): 0}).explanation == "the partition caught up"


def test_statuses_are_ordered_least_to_most_bad() -> None:
    assert [s.name for s in sorted(Status)] == ["OK", "WARN", "ERR", "STOP", "STALL", "REWIND"]
    assert [int(s) for s in sorted(Status)] == [0, 1, 2, 3, 4, 5]


def test_the_cadence_limit_is_three_usual_gaps_rounded_to_the_cycles() -> None:
    from lagwatch.collectors.kafka.verdict import Cadence

    # A commit that moves at every cycle: 1.5 intervals, whatever the daemon's jitter adds
    assert Cadence(10).limit([10.2, 11.0, 10.9]) == 15
    assert Cadence(10).limit([9.1, 10.0, 10.4]) == 15
    # At 5 s that would be 7.5 s: never below min_wait
    assert Cadence(5).limit([5.9, 6.0, 5.2]) == 8
    # Once a minute: about three minutes
    assert Cadence(10).limit([62, 71, 65]) == 3 * (70 - 5)
    # Not learnt: two gaps are not a cadence
    assert Cadence(10).limit([10, 10]) == 600
    assert Cadence(10).usual_gap([10, 10]) is None
