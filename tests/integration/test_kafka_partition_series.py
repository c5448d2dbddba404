"""partition_series: problems on the devstack broker: a 50-partition topic, a real group, one
partition stalled and recovered, and what the runner wrote to the store each cycle."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from lagwatch.collectors.base import Collector
from lagwatch.collectors.kafka.verdict import Status
from lagwatch.collectors.runner import Runner
from lagwatch.store import Store
from lagwatch.store.sample import Labels, LatestValue
from lagwatch.store.sqlite import SqliteStore
from tests.integration.kafka_lag_helpers import (
    KafkaScratch,
    background,
    kafka_scratch,  # noqa: F401 - the kafka fixture
    produce,
    wait_until,
)

pytestmark = pytest.mark.integration

PARTITIONS = 50
STALLED = 7
WINDOW = 10.0
INTERVAL = 2.0
PARTITION_STATUS = "lagwatch_kafka_partition_status"
# The per-partition series a caught-up, committed partition always has.
PER_PARTITION = (
    PARTITION_STATUS,
    "lagwatch_kafka_partition_unknown",
    "lagwatch_kafka_partition_no_committed_offset",
    "lagwatch_kafka_partition_committed_below_earliest",
    "lagwatch_kafka_partition_committed_offset",
    "lagwatch_kafka_partition_lag_messages",
    "lagwatch_kafka_partition_lag_method",
    "lagwatch_kafka_partition_last_commit_age_seconds",
    "lagwatch_kafka_partition_log_end_offset",
    "lagwatch_kafka_partition_earliest_offset",
)
# What a healthy group is always written as, whatever partition_series says.
AGGREGATES = {
    "lagwatch_kafka_group_status",
    "lagwatch_kafka_group_lag_messages",
    "lagwatch_kafka_group_topic_lag_messages",
    "lagwatch_kafka_group_topic_max_lag_messages",
}


class PausableMember:
    """A group member (subscribed, so the coordinator sees it) committing every message it reads,
    in its own thread; ``stall(p)`` pauses partition ``p`` (it stays assigned), ``resume()``
    reads it again."""

    def __init__(self, consumer: Consumer, topic: str) -> None:
        self.consumer = consumer
        self.topic = topic
        self.assigned: set[int] = set()
        self.committed: dict[int, int] = {}
        self._want_paused: set[int] = set()
        self._paused: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.consumer.subscribe([topic], on_assign=self._on_assign)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned = {tp.partition for tp in partitions}
        self._paused = set()  # a new assignment starts unpaused

    def stall(self, partition: int) -> None:
        with self._lock:
            self._want_paused.add(partition)

    def resume(self) -> None:
        with self._lock:
            self._want_paused.clear()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                with self._lock:
                    want = set(self._want_paused)
                if want - self._paused:
                    self.consumer.pause(
                        [TopicPartition(self.topic, p) for p in want - self._paused]
                    )
                if self._paused - want:
                    self.consumer.resume(
                        [TopicPartition(self.topic, p) for p in self._paused - want]
                    )
                self._paused = want
                message = self.consumer.poll(0.1)
                if message is None or message.error() is not None:
                    continue
                self.consumer.commit(message=message, asynchronous=False)
                self.committed[message.partition() or 0] = (message.offset() or 0) + 1
        finally:
            self.consumer.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def feed(stop: threading.Event, kafka: KafkaScratch, topic: str) -> None:
    """Write one message to the stalled partition every 0.2 s: its lag grows while paused."""
    producer = kafka.producer()
    i = 0
    while not stop.is_set():
        producer.produce(topic, value=f"tick{i}".encode(), partition=STALLED)
        producer.poll(0)
        i += 1
        stop.wait(0.2)
    producer.flush(10)


def series_of(store: Store, topic: str, group: str) -> dict[tuple[str, Labels], LatestValue]:
    """The latest value of every series of ``topic`` or of ``group``."""
    found = [*store.latest(None, {"topic": topic}), *store.latest(None, {"group": group})]
    return {(v.name, v.labels): v for v in found}


def written(store: Store, topic: str, group: str, since: float) -> dict[str, set[int]]:
    """Per metric, the partitions whose series got a sample at or after ``since`` (per-partition
    metrics), or {-1} for an aggregate series (group, group and topic) written then."""
    out: dict[str, set[int]] = {}
    for v in series_of(store, topic, group).values():
        if v.ts < since - 0.001:
            continue
        labels = dict(v.labels)
        out.setdefault(v.name, set()).add(int(labels.get("partition", -1)))
    return out


def partitions_of(found: dict[str, set[int]]) -> set[int]:
    return {
        p for name, ps in found.items() if name.startswith("lagwatch_kafka_partition_") for p in ps
    }


def cycle(
    runner: Runner, collector: Collector, store: Store, topic: str, group: str
) -> dict[str, set[int]]:
    """One collection through the runner (the daemon's only writer); what it wrote."""
    since = time.time()
    result = runner.run(collector)
    assert result.ok, result.error
    return written(store, topic, group, since)


def test_problems_only_writes_partition_series_for_the_stalled_partition_alone(
    kafka: KafkaScratch, tmp_path: Path
) -> None:
    # Given a 50-partition topic read by a healthy group that has committed every partition,
    # and a Kafka collector with partition_series: problems writing through the runner
    topic = kafka.topic("wide", PARTITIONS)
    group = kafka.group("wide-reader")
    produce(kafka.producer(), topic, dict.fromkeys(range(PARTITIONS), 1))
    member = PausableMember(kafka.consumer(group, **{"session.timeout.ms": 6000}), topic)
    store = SqliteStore(tmp_path / "lagwatch.db")
    try:
        wait_until(lambda: len(member.committed) == PARTITIONS, 60, "a commit on every partition")
        collector = kafka.collector(
            store=store,
            window=f"{WINDOW:g}s",
            interval=f"{INTERVAL:g}s",
            partition_series="problems",
            groups={"include": [group]},
        )
        runner = Runner(store)

        # When it runs its first cycle and two more
        first = cycle(runner, collector, store, topic, group)
        later = []
        for _ in range(2):
            time.sleep(INTERVAL)
            later.append(cycle(runner, collector, store, topic, group))

        # Then the first cycle wrote every partition's series, 50 of each
        for name in PER_PARTITION:
            assert first.get(name) == set(range(PARTITIONS)), (name, first.get(name))
        statuses = store.latest(PARTITION_STATUS, {"group": group})
        assert len(statuses) == PARTITIONS
        assert {v.value for v in statuses} == {Status.OK}, [v.note for v in statuses]
        series = len(series_of(store, topic, group))
        # and the next cycles only the group and topic aggregates: no partition series at all
        for found in later:
            assert partitions_of(found) == set(), sorted(partitions_of(found))
            assert set(found) >= AGGREGATES, sorted(found)

        # When partition 7 stops being read (paused, still assigned) while messages arrive on it
        member.stall(STALLED)
        history: list[set[int]] = []
        with background(feed, kafka, topic):

            def stalled() -> bool:
                time.sleep(INTERVAL)
                found = cycle(runner, collector, store, topic, group)
                history.append(partitions_of(found))
                return bool(found.get(PARTITION_STATUS)) and not_ok(store, group)

            wait_until(stalled, 4 * WINDOW, f"partition {STALLED} not OK", every=0)

        # Then only partition 7's series were written, and only once it was not OK
        assert all(ps <= {STALLED} for ps in history), history
        assert history[-1] == {STALLED}
        bad = one_status(store, group)
        assert bad.value != Status.OK

        # When it is read again and catches up
        member.resume()
        after: list[set[int]] = []
        statuses_seen: list[float] = []

        def recovered() -> bool:
            time.sleep(INTERVAL)
            found = cycle(runner, collector, store, topic, group)
            after.append(partitions_of(found))
            if STALLED in found.get(PARTITION_STATUS, ()):
                statuses_seen.append(one_status(store, group).value)
            return bool(statuses_seen) and statuses_seen[-1] == Status.OK

        wait_until(recovered, 4 * WINDOW, f"partition {STALLED} OK again", every=0)
        for _ in range(2):
            time.sleep(INTERVAL)
            after.append(partitions_of(cycle(runner, collector, store, topic, group)))

        # Then it was written every cycle until it turned OK, once with OK, and then not again
        assert all(ps == {STALLED} for ps in after[:-2]), after
        assert statuses_seen.count(Status.OK) == 1, statuses_seen
        assert after[-2:] == [set(), set()], after
        assert one_status(store, group).value == Status.OK
        # and no series was ever added past the first cycle's
        assert len(series_of(store, topic, group)) == series
    finally:
        member.close()
        store.close()


def one_status(store: Store, group: str) -> LatestValue:
    [found] = store.latest(PARTITION_STATUS, {"group": group, "partition": str(STALLED)})
    return found


def not_ok(store: Store, group: str) -> bool:
    return one_status(store, group).value != Status.OK
