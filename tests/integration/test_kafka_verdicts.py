"""Kafka verdicts and time lag against the devstack broker, with real consumers and a short window."""

from __future__ import annotations

import time

import pytest

from lagwatch.collectors.kafka.timelag import LagMethod
from lagwatch.collectors.kafka.verdict import Status
from tests.integration.kafka_lag_helpers import (
    KafkaScratch,
    background,
    commit_each,
    consume_exactly,
    consume_loop,
    find,
    kafka_scratch,  # noqa: F401 - the kafka fixture
    one,
    produce,
    produce_every,
    value,
    wait_until,
)

pytestmark = pytest.mark.integration

WINDOW = 20.0
INTERVAL = 2.0


def group_status(samples: list, group: str) -> tuple[Status | None, str]:
    found = find(samples, "lagwatch_kafka_group_status", group=group)
    return (Status(int(found[0].value)), found[0].note or "") if found else (None, "")


def test_stopped_consumer_is_stop_within_one_window_and_its_time_lag_is_exact(
    kafka: KafkaScratch,
) -> None:
    # Given a topic written once a second and a consumer keeping up with it
    topic = kafka.topic("ticks", 1)
    group = kafka.group("ticker")
    exact = kafka.collector(window=f"{WINDOW:g}s")
    estimated = kafka.collector(window=f"{WINDOW:g}s", time_lag={"exact": False})
    labels = {"group": group, "topic": topic, "partition": 0}
    with background(produce_every, kafka.producer(), topic, 1.0):
        consumer = kafka.consumer(group)
        consumer.subscribe([topic])
        commit_each(consumer, 5, estimated.collect)
        # When the consumer stops right after a message
        commit_each(consumer, 1)
        consumer.close()
        stopped = time.time()

        # Then STOP comes once a window has passed with messages waiting, not before
        first_stop: float | None = None
        while time.time() < stopped + 60:
            samples = list(exact.collect())
            list(estimated.collect())
            status, note = group_status(samples, group)
            if status == Status.STOP and first_stop is None:
                first_stop = time.time()
                assert "no commit for" in note and "messages wait" in note, note
            if status is not None and first_stop is None:
                assert status == Status.OK, note
            time.sleep(max(0.0, min(INTERVAL, stopped + 60 - time.time())))
        assert first_stop is not None, "no STOP within 60 s"
        assert WINDOW <= first_stop - stopped <= WINDOW + 2 * INTERVAL + 3

        # And after 60 s the exact time lag reads 60 s ± 2 s, the estimate is close too
        samples = list(exact.collect())
        elapsed = time.time() - stopped
        assert value(samples, "lagwatch_kafka_partition_lag_method", **labels) == LagMethod.EXACT
        lag = value(samples, "lagwatch_kafka_partition_lag_seconds", **labels)
        assert abs(lag - elapsed) <= 2, (lag, elapsed)
        assert abs(lag - 60) <= 2, lag
        guess = list(estimated.collect())
        assert value(guess, "lagwatch_kafka_partition_lag_method", **labels) == LagMethod.ESTIMATED
        assert abs(value(guess, "lagwatch_kafka_partition_lag_seconds", **labels) - elapsed) <= 3
        assert group_status(samples, group)[0] == Status.STOP
        assert value(samples, "lagwatch_kafka_group_max_lag_method", group=group) == LagMethod.EXACT


def test_slow_consumer_warns_stuck_consumer_stalls_healthy_one_stays_ok(
    kafka: KafkaScratch,
) -> None:
    # Given a topic written 20 times a second and three groups reading it:
    # one keeps up, one processes 10 messages a second, one stops committing but stays in the group
    topic = kafka.topic("clicks", 1)
    healthy, slow, stuck = kafka.group("healthy"), kafka.group("slow"), kafka.group("stuck")
    collector = kafka.collector(window=f"{WINDOW:g}s")
    with (
        background(produce_every, kafka.producer(), topic, 0.05),
        background(consume_loop, kafka.consumer(healthy), topic, 0.0),
        background(consume_loop, kafka.consumer(slow), topic, 0.1),
        background(consume_loop, kafka.consumer(stuck), topic, 0.0, 20),
    ):
        # When we collect every interval
        seen: dict[str, set[Status]] = {healthy: set(), slow: set(), stuck: set()}
        notes: dict[str, str] = {}

        def settled() -> bool:
            samples = list(collector.collect())
            for group in seen:
                status, note = group_status(samples, group)
                if status is not None:
                    seen[group].add(status)
                    notes[group] = note
            return Status.WARN in seen[slow] and Status.STALL in seen[stuck]

        wait_until(settled, 3 * WINDOW, f"WARN and STALL, saw {seen}", every=INTERVAL)

    # Then the slow group is WARN (falling behind), the stuck one STALL, the healthy one only ever OK
    assert "falling-behind" in notes[slow] and "consumed while" in notes[slow], notes[slow]
    assert seen[slow] <= {Status.OK, Status.WARN}, seen[slow]
    assert "a consumer is assigned" in notes[stuck], notes[stuck]
    assert seen[healthy] == {Status.OK}, (seen[healthy], notes.get(healthy))


def test_offsets_moved_backwards_are_rewind(kafka: KafkaScratch) -> None:
    # Given a group that consumed all 50 messages of a partition
    topic = kafka.topic("refunds", 2)
    group = kafka.group("refunder")
    produce(kafka.producer(), topic, {0: 50, 1: 50})
    consumer = kafka.consumer(group)
    consume_exactly(consumer, topic, {0: 50, 1: 50})
    consumer.close()
    collector = kafka.collector(window=f"{WINDOW:g}s")
    samples = list(collector.collect())
    assert group_status(samples, group)[0] == Status.OK

    # When an operator moves partition 1 back to offset 10
    kafka.commit(group, (topic, 1, 10))
    samples = list(collector.collect())

    # Then partition 1 and the group are REWIND, and the note says by how much
    status = one(samples, "lagwatch_kafka_partition_status", group=group, topic=topic, partition=1)
    assert status.value == Status.REWIND
    assert "moved back from 50 to 10" in (status.note or "")
    assert (
        value(samples, "lagwatch_kafka_partition_status", group=group, topic=topic, partition=0)
        == Status.OK
    )
    verdict, note = group_status(samples, group)
    assert verdict == Status.REWIND and note.startswith(f"REWIND (rewind): {topic}[1]: "), note
    assert (
        value(
            samples, "lagwatch_kafka_partition_lag_messages", group=group, topic=topic, partition=1
        )
        == 40
    )
