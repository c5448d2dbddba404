"""Group evaluation over what the offset reader returns: unknown parts, rebalances, sample shapes."""

from __future__ import annotations

from lagwatch.collectors.kafka.groups import GroupEvaluator
from lagwatch.collectors.kafka.read import EMPTY, ClusterView, GroupView
from lagwatch.collectors.kafka.timelag import EndOffsetHistory
from lagwatch.collectors.kafka.track import SLICES_PER_WINDOW, PartitionTrack
from lagwatch.collectors.kafka.verdict import Status, Thresholds
from lagwatch.store import Sample

STABLE, REBALANCING = 3, 1


def view(
    now: float, groups: list[GroupView], ends: dict, errors: dict | None = None
) -> ClusterView:
    return ClusterView(
        taken_at=now,
        brokers=1,
        groups={g.group_id: g for g in groups},
        log_end=dict(ends),
        earliest=dict.fromkeys(ends, 0),
        offset_errors=errors or {},
        compacted={t: False for t, _ in ends},
        listing_errors=[],
    )


def pick(samples: list[Sample], name: str, **labels: object) -> list[Sample]:
    want = {k: str(v) for k, v in labels.items()}
    return [
        s
        for s in samples
        if s.name == name and all(s.label_dict.get(k) == v for k, v in want.items())
    ]


def run(evaluator: GroupEvaluator, cluster: ClusterView) -> list[Sample]:
    return evaluator.samples(cluster, {}, EndOffsetHistory(3600).estimate)


def test_unknown_parts_are_flagged_and_never_given_a_number() -> None:
    # Given one group whose commits could not be read, and one whose partition 1 has no leader
    broken = GroupView(
        "billing", EMPTY, 0, errors=["cannot read committed offsets: Coordinator not available"]
    )
    partial = GroupView(
        "search", EMPTY, 0, committed={("orders", 0): 90, ("orders", 1): 10, ("audit", 0): 5}
    )
    healthy = GroupView("fraud", EMPTY, 0, committed={("orders", 0): 100})
    ends = {("orders", 0): 100, ("audit", 0): 7}
    errors = {("orders", 1): "cannot list offsets of orders[1]: Broker: Leader not available"}
    samples = run(
        GroupEvaluator("main", 600, Thresholds(), 86400),
        view(1000.0, [broken, partial, healthy], ends, errors),
    )

    # Then the broken group is unknown, with the error, and has no status or lag
    flag = pick(samples, "lagwatch_kafka_group_unknown", group="billing")
    assert flag[0].value == 1 and "Coordinator not available" in (flag[0].note or "")
    assert not pick(samples, "lagwatch_kafka_group_status", group="billing")
    assert not pick(samples, "lagwatch_kafka_group_lag_messages", group="billing")

    # The partial group reports what it knows and nothing that would miss a partition
    unknown = pick(
        samples, "lagwatch_kafka_partition_unknown", group="search", topic="orders", partition=1
    )
    assert unknown[0].value == 1 and "Leader not available" in (unknown[0].note or "")
    assert not pick(
        samples,
        "lagwatch_kafka_partition_lag_messages",
        group="search",
        topic="orders",
        partition=1,
    )
    assert (
        pick(
            samples,
            "lagwatch_kafka_partition_lag_messages",
            group="search",
            topic="orders",
            partition=0,
        )[0].value
        == 10
    )
    assert not pick(
        samples, "lagwatch_kafka_group_topic_lag_messages", group="search", topic="orders"
    )
    assert (
        pick(samples, "lagwatch_kafka_group_topic_lag_messages", group="search", topic="audit")[
            0
        ].value
        == 2
    )
    assert not pick(samples, "lagwatch_kafka_group_lag_messages", group="search")
    status = pick(samples, "lagwatch_kafka_group_status", group="search")[0]
    assert "1 partition(s) unknown" in (status.note or "")
    assert pick(samples, "lagwatch_kafka_group_unknown", group="search")[0].value == 1

    # And the healthy group is reported in full
    assert pick(samples, "lagwatch_kafka_group_lag_messages", group="fraud")[0].value == 0
    assert pick(samples, "lagwatch_kafka_group_unknown", group="fraud")[0].value == 0


def test_a_rebalancing_group_keeps_its_last_verdict() -> None:
    # Given a stuck consumer judged STALL after a full window
    evaluator = GroupEvaluator("main", 60, Thresholds(), 86400)
    tp = ("orders", 0)
    for t in range(0, 71, 10):
        group = GroupView("search", STABLE, members=1, assigned={tp: "c1"}, committed={tp: 5})
        samples = run(evaluator, view(float(t), [group], {tp: 10 + t}))
    assert pick(samples, "lagwatch_kafka_group_status", group="search")[0].value == Status.STALL

    # When the group rebalances (nobody assigned for a moment)
    group = GroupView("search", REBALANCING, members=1, committed={tp: 5})
    samples = run(evaluator, view(80.0, [group], {tp: 90}))

    # Then it keeps STALL, saying it is held, rather than flipping to STOP
    status = pick(samples, "lagwatch_kafka_group_status", group="search")[0]
    assert status.value == Status.STALL and "held while the group rebalances" in (status.note or "")

    # And once the rebalance ends with nobody assigned, the verdict moves on
    group = GroupView("search", EMPTY, committed={tp: 5})
    samples = run(evaluator, view(90.0, [group], {tp: 100}))
    assert pick(samples, "lagwatch_kafka_group_status", group="search")[0].value == Status.STOP


def test_a_rebalance_that_lasts_too_long_is_a_stall_and_a_short_one_is_not() -> None:
    from lagwatch.collectors.kafka.verdict import Cadence

    tp = ("orders", 0)

    def judged(rebalance_for: float) -> list[tuple[float, float, str]]:
        # A consumer committing every cycle, then its group rebalances with nothing committed
        evaluator = GroupEvaluator("main", 600, Thresholds(), 86400, Cadence(10.0))
        out = []
        for t in range(0, 200, 10):
            end = 2 * t
            if t <= 60 or t > 60 + rebalance_for:
                group = GroupView("g", STABLE, 1, {tp: "c1"}, {tp: end})
            else:
                group = GroupView("g", REBALANCING, 1, {}, {tp: 120})
            status = pick(run(evaluator, view(float(t), [group], {tp: end})),
                          "lagwatch_kafka_group_status")[0]  # fmt: skip
            out.append((float(t), status.value, status.note or ""))
        return out

    # 40 s of rebalancing (under the 1m limit): held OK, then the commits move again
    assert {value for _, value, _ in judged(40)} == {Status.OK}
    # 100 s: STALL once it has rebalanced a minute with messages waiting on the commit
    long = judged(100)
    first = next((t, note) for t, value, note in long if value == Status.STALL)
    assert first[0] == 130 and "STALL (rebalance)" in first[1]
    assert "rebalancing for 1m" in first[1]
    assert long[-1][1] == Status.OK  # and the commit moving ends it


def test_every_partition_series_has_the_four_bounded_labels() -> None:
    group = GroupView("search", EMPTY, committed={("orders", 0): 1})
    samples = run(
        GroupEvaluator("main", 600, Thresholds(), 86400), view(5.0, [group], {("orders", 0): 3})
    )
    for sample in samples:
        per_topic = (
            "lagwatch_kafka_partition_log_end_offset",
            "lagwatch_kafka_partition_earliest_offset",
        )
        if sample.name.startswith("lagwatch_kafka_partition_") and sample.name not in per_topic:
            assert set(sample.label_dict) == {"cluster", "group", "topic", "partition"}, sample


def test_a_partition_keeps_a_bounded_window_that_still_shows_every_rewind() -> None:
    # Given one observation a second for 20 minutes with a 10 minute window, and one rewind
    track = PartitionTrack(0.0)
    for t in range(1200):
        committed = t * 10 if t != 1100 else 5
        track.observe(float(t), committed, t * 10 + 50, True, 600)
    # Then the window holds about one point per slice, spans the window, and kept the drop
    assert len(track.points) <= SLICES_PER_WINDOW + 4
    times = [ts for ts, _, _ in track.points]
    committed = [c for _, c, _ in track.points]
    assert times[0] <= 1199 - 600 < times[1]
    assert times[-1] == 1199
    assert 5 in committed
    assert 10990 in committed, "the peak before the drop is kept"


PARTITION_SERIES = (
    "lagwatch_kafka_partition_unknown",
    "lagwatch_kafka_partition_no_committed_offset",
    "lagwatch_kafka_partition_committed_below_earliest",
    "lagwatch_kafka_partition_committed_offset",
    "lagwatch_kafka_partition_lag_messages",
    "lagwatch_kafka_partition_lag_method",
    "lagwatch_kafka_partition_lag_seconds",
    "lagwatch_kafka_partition_status",
    "lagwatch_kafka_partition_last_commit_age_seconds",
    "lagwatch_kafka_partition_log_end_offset",
    "lagwatch_kafka_partition_earliest_offset",
)


def partitions_written(samples: list[Sample]) -> set[tuple[str, str]]:
    return {
        (s.label_dict["topic"], s.label_dict["partition"])
        for s in samples
        if s.name in PARTITION_SERIES
    }


def test_problems_only_writes_the_partitions_that_are_not_ok_and_a_last_ok_one() -> None:
    # Given a group reading 50 partitions, all caught up, with partition_series: problems
    tps = [("orders", p) for p in range(50)]
    evaluator = GroupEvaluator("main", 60, Thresholds(), 86400, problems_only=True)
    full = GroupEvaluator("main", 60, Thresholds(), 86400)
    ends = dict.fromkeys(tps, 100)
    commits = dict.fromkeys(tps, 100)

    def cycle(now: float) -> tuple[list[Sample], list[Sample]]:
        group = GroupView(
            "indexer", STABLE, 1, committed=dict(commits), assigned=dict.fromkeys(tps, "c1")
        )
        return run(evaluator, view(now, [group], ends)), run(full, view(now, [group], ends))

    # The first cycle writes every partition (the store may hold values from before a restart)
    first, everything = cycle(0.0)
    assert partitions_written(first) == partitions_written(everything)
    assert len(partitions_written(first)) == 50

    # When all are OK, no partition series is written; the group and topic series still are
    quiet, everything = cycle(10.0)
    assert partitions_written(quiet) == set()
    assert pick(quiet, "lagwatch_kafka_group_status", group="indexer")[0].value == Status.OK
    assert pick(quiet, "lagwatch_kafka_group_topic_lag_messages", topic="orders")[0].value == 0
    assert len(everything) - len(quiet) == 50 * len(PARTITION_SERIES)

    # When partition 7's consumer stops committing while messages wait, only it is written
    ends[("orders", 7)] = 500
    for t in range(20, 121, 10):
        stuck, everything = cycle(float(t))
        ends[("orders", 7)] += 10
    assert partitions_written(stuck) == {("orders", "7")}
    status = pick(stuck, "lagwatch_kafka_partition_status", partition=7)[0]
    assert status.value == Status.STALL
    assert pick(stuck, "lagwatch_kafka_partition_log_end_offset", partition=7)
    # and its group's figures are those of the full mode
    lag = pick(stuck, "lagwatch_kafka_group_lag_messages", group="indexer")[0].value
    assert lag == pick(everything, "lagwatch_kafka_group_lag_messages", group="indexer")[0].value

    # When it catches up, it is written once more, OK, so no STALL stays its latest value
    commits[("orders", 7)] = ends[("orders", 7)]
    back, _ = cycle(130.0)
    assert partitions_written(back) == {("orders", "7")}
    assert pick(back, "lagwatch_kafka_partition_status", partition=7)[0].value == Status.OK
    assert pick(back, "lagwatch_kafka_partition_lag_messages", partition=7)[0].value == 0
    after, _ = cycle(140.0)
    assert partitions_written(after) == set()


def test_problems_only_rewrites_a_partition_once_its_offsets_are_read_again() -> None:
    # Given partition 1 of two had no leader for a cycle (written as unknown)
    tps = [("orders", 0), ("orders", 1)]
    evaluator = GroupEvaluator("main", 60, Thresholds(), 86400, problems_only=True)
    group = GroupView(
        "indexer", STABLE, 1, committed=dict.fromkeys(tps, 5), assigned=dict.fromkeys(tps, "c1")
    )
    run(evaluator, view(0.0, [group], dict.fromkeys(tps, 5)))
    errors = {("orders", 1): "cannot list offsets of orders[1]: Broker: Leader not available"}
    lost = run(evaluator, view(10.0, [group], {("orders", 0): 5}, errors))
    assert pick(lost, "lagwatch_kafka_partition_unknown", partition=1)[0].value == 1
    assert partitions_written(lost) == {("orders", "1")}

    # When its offsets come back and it is OK, its unknown flag is written back to 0
    found = run(evaluator, view(20.0, [group], dict.fromkeys(tps, 5)))
    assert pick(found, "lagwatch_kafka_partition_unknown", partition=1)[0].value == 0
    assert partitions_written(found) == {("orders", "1")}
    assert partitions_written(run(evaluator, view(30.0, [group], dict.fromkeys(tps, 5)))) == set()
