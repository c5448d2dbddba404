"""Kafka lag state saved as records and restored: same verdict inputs, stale or bad state left out."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from lagwatch.collectors.kafka import state as kafka_state
from lagwatch.collectors.kafka.groups import GroupEvaluator
from lagwatch.collectors.kafka.read import EMPTY, GroupView
from lagwatch.collectors.kafka.state import NAMESPACE, StateKeeper, group_key, history_key
from lagwatch.collectors.kafka.timelag import EndOffsetHistory
from lagwatch.collectors.kafka.track import GroupTrack
from lagwatch.collectors.kafka.verdict import Status, Thresholds
from lagwatch.store import Record, Sample
from lagwatch.store.sqlite import SqliteStore
from tests.unit.test_kafka_groups import pick, view

WINDOW = 30.0
TP0, TP1 = ("t", 0), ("t", 1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "state.db"))
    yield s
    s.close()


class Cluster:
    """A GroupEvaluator, its log-end history and state keeper, as the collector holds them."""

    def __init__(
        self, store: SqliteStore | None, window: float = WINDOW, save: bool = True
    ) -> None:
        self.save = save
        self.evaluator = GroupEvaluator("c", window, Thresholds(), 3600.0)
        self.history = EndOffsetHistory(3600)
        self.keeper = StateKeeper("c", window, store)
        self.store = store
        self.written: list[Record] = []

    def cycle(self, now: float, groups: list[GroupView], ends: dict) -> list[Sample]:
        """One cycle: restore (first time), observe, judge, and write the records as the runner would."""
        cv = view(now, groups, ends)
        self.keeper.restore(self.evaluator.groups, self.history, now)
        for tp, end in ends.items():
            self.history.observe(tp, end, now)
        samples = self.evaluator.samples(cv, {}, self.history.estimate)
        records = self.written = list(self.keeper.records(self.evaluator.groups, self.history, now))
        if self.store is not None and self.save:
            self.store.put_records(records)
        return samples


def stopped_group(committed: dict, state: int = EMPTY) -> GroupView:
    return GroupView("g", state, committed=dict(committed))


def status(samples: list[Sample], tp: tuple[str, int] = TP0) -> Status:
    return Status(int(pick(samples, "lagwatch_kafka_partition_status", partition=tp[1])[0].value))


def inputs(track: GroupTrack) -> dict:
    """What the verdict rules read about a group's partitions, and the expiry clock."""
    return {
        "last_commit_seen": track.last_commit_seen,
        "commits": track.commits,
        "partitions": {
            tp: (
                list(pt.points),
                pt.watched_since,
                pt.committed,
                pt.committed_since,
                pt.waiting_since,
                pt.lagging_since,
                pt.verdict,
            )
            for tp, pt in track.partitions.items()
        },
    }


def test_state_round_trips_to_the_same_verdict_inputs(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kafka_state, "HISTORY_EVERY", 0.0)
    # Given a collector that watched a group commit, then stop, with messages arriving
    before = Cluster(store)
    for t in range(0, 40, 2):
        committed = min(t, 20)
        before.cycle(1000.0 + t, [stopped_group({TP0: committed, TP1: 5})], {TP0: t + 3, TP1: 5})
    # When a new collector restores from the store at once
    after = Cluster(store)
    after.keeper.restore(after.evaluator.groups, after.history, 1038.0)
    # Then every input of the rules, and the log-end history, is what it was
    assert inputs(after.evaluator.groups["g"]) == inputs(before.evaluator.groups["g"])
    assert after.history.rows(TP0) == before.history.rows(TP0)
    assert after.history.estimate(TP0, 21, 1040.0) == before.history.estimate(TP0, 21, 1040.0)
    # And both judge the next cycle alike
    nxt = [stopped_group({TP0: 20, TP1: 5})], {TP0: 42, TP1: 5}
    assert before.cycle(1040.0, *nxt) == after.cycle(1040.0, *nxt)


def test_a_stop_comes_after_the_rest_of_the_window_not_a_whole_window_after_restart(
    store: SqliteStore,
) -> None:
    # Given a consumer that stopped at t=10 with messages waiting, watched until t=20
    before = Cluster(store)
    for t in range(0, 22, 2):
        before.cycle(float(t), [stopped_group({TP0: min(t, 10)})], {TP0: t + 1})
    # When lagwatch is down from t=20 to t=26 and a new collector starts from the store
    after = Cluster(store)
    fresh = Cluster(None)
    first_stop = None
    for t in range(26, 80, 2):
        samples = after.cycle(float(t), [stopped_group({TP0: 10})], {TP0: t + 1})
        fresh.cycle(float(t), [stopped_group({TP0: 10})], {TP0: t + 1})
        if status(samples) == Status.STOP:
            first_stop = t
            break
    # Then STOP comes one window after the messages began to wait (t=12), not 30 s after restart
    assert first_stop == 10 + WINDOW
    assert fresh.evaluator.groups["g"].partitions[TP0].waiting_since == 26.0


def test_a_commit_that_reached_the_old_log_end_across_the_gap_restarts_the_lagging_clock(
    store: SqliteStore,
) -> None:
    before = Cluster(store)
    for t in range(0, 12, 2):
        before.cycle(float(t), [stopped_group({TP0: t})], {TP0: t + 5})
    after = Cluster(store, save=False)
    # Behind the old end (15): lagged all through the gap, the clock goes on
    after.cycle(14.0, [stopped_group({TP0: 14})], {TP0: 30})
    assert after.evaluator.groups["g"].partitions[TP0].lagging_since == 0.0
    # Past it: it may have caught up while nobody looked, the clock starts now
    again = Cluster(store, save=False)
    again.cycle(16.0, [stopped_group({TP0: 20})], {TP0: 30})
    pt = again.evaluator.groups["g"].partitions[TP0]
    assert (pt.lagging_since, pt.committed_since) == (16.0, 16.0)


def test_state_older_than_the_window_keeps_its_clocks_and_drops_old_observations(
    store: SqliteStore,
) -> None:
    # Given a stopped group watched for a while
    before = Cluster(store)
    for t in range(0, 10, 2):
        before.cycle(float(t), [stopped_group({TP0: 3})], {TP0: 9})
    # When a collector restores the record long after the window
    after = Cluster(store)
    after.keeper.restore(after.evaluator.groups, after.history, 8.0 + WINDOW + 1)
    track = after.evaluator.groups["g"]
    # Then the expiry clock, the commit and waiting clocks and the verdict go on (offsets only
    # grow: an equal commit did not move), and only the newest observation is kept
    assert (track.last_commit_seen, track.commits) == (0.0, {TP0: 3})
    pt = track.partitions[TP0]
    assert (pt.committed, pt.committed_since, pt.waiting_since, pt.resumed) == (3, 0.0, 0.0, True)
    assert list(pt.points) == [(8.0, 3, 9)]
    # So the stopped group is STOP at the first cycle after the restart, not a window later
    samples = after.cycle(8.0 + WINDOW + 1, [stopped_group({TP0: 3})], {TP0: 12})
    assert status(samples) == Status.STOP
    # A different window keeps them too: observations mean the same whatever the window
    other = Cluster(store, window=WINDOW * 2)
    other.keeper.restore(other.evaluator.groups, other.history, 9.0)
    assert other.evaluator.groups["g"].partitions[TP0].committed_since == 0.0


def test_a_partition_whose_log_went_back_is_observed_afresh(store: SqliteStore) -> None:
    before = Cluster(store)
    for t in range(0, 10, 2):
        before.cycle(float(t), [stopped_group({TP0: 3})], {TP0: 900})
    after = Cluster(store)
    after.cycle(12.0, [stopped_group({TP0: 3})], {TP0: 8})  # the topic was recreated
    pt = after.evaluator.groups["g"].partitions[TP0]
    assert (pt.watched_since, len(pt.points), pt.resumed) == (12.0, 1, False)


def test_a_malformed_record_is_ignored_with_a_warning(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    before = Cluster(store)
    before.cycle(
        0.0,
        [stopped_group({TP0: 3}), GroupView("h", EMPTY, committed={TP1: 1})],
        {
            TP0: 9,
            TP1: 4,
        },
    )
    good = store.get_record(NAMESPACE, group_key("c", "h"))
    assert good is not None
    broken = dict(good.body, partitions=[["t", 1, 0.0, 1, 0.0, None, None, [0.0, 1], None]])
    store.put_records(
        [
            Record(NAMESPACE, group_key("c", "g"), 1.0, {"v": 1, "ts": "soon"}),
            Record(NAMESPACE, group_key("c", "h"), 1.0, broken),
            Record(NAMESPACE, history_key("c"), 1.0, {"v": 1, "partitions": [["t", 0, [2, 1]]]}),
            Record(NAMESPACE, group_key("other", "g"), 1.0, {"garbage": True}),
        ]
    )
    after = Cluster(store)
    with caplog.at_level(logging.WARNING, logger="lagwatch.kafka"):
        samples = after.cycle(2.0, [stopped_group({TP0: 3})], {TP0: 9, TP1: 4})
    assert status(samples) == Status.OK
    assert after.evaluator.groups["g"].partitions[TP0].watched_since == 2.0
    warned = " ".join(r.getMessage() for r in caplog.records)
    for key in (group_key("c", "g"), group_key("c", "h"), history_key("c")):
        assert repr(key) in warned
    assert "other/" not in warned  # another cluster's records are not this collector's to read


def test_tracks_are_saved_every_cycle_and_the_log_end_history_once_a_minute() -> None:
    cluster = Cluster(None)
    keys = []
    for t in range(0, 130, 10):
        cluster.cycle(float(t), [stopped_group({TP0: 3})], {TP0: 9 + t})
        keys.append(sorted(r.key for r in cluster.written))
    assert [len(k) for k in keys].count(2) == 3  # t = 0, 60, 120
    assert all(group_key("c", "g") in k for k in keys)
