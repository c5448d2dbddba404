"""Kafka lag in messages against the devstack broker: exact counts, transactions, compaction, empty groups."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from confluent_kafka import OFFSET_STORED, ConsumerGroupTopicPartitions, TopicPartition

from lagwatch.collectors.kafka.timelag import LagMethod
from lagwatch.collectors.kafka.verdict import Status
from tests.integration.conftest import ROOT
from tests.integration.kafka_lag_helpers import (
    KafkaScratch,
    consume_exactly,
    find,
    kafka_scratch,  # noqa: F401 - the kafka fixture
    one,
    produce,
    value,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_lag_per_partition_is_exactly_produced_minus_consumed(kafka: KafkaScratch) -> None:
    # Given N messages per partition and a group that consumed and committed M of them
    topic = kafka.topic("orders", 3)
    group = kafka.group("indexer")
    produced = {0: 40, 1: 25, 2: 17}
    consumed = {0: 31, 1: 0, 2: 17}
    produce(kafka.producer(), topic, produced)
    consumer = kafka.consumer(group)
    consume_exactly(consumer, topic, consumed)
    consumer.close()

    # When we collect
    samples = list(kafka.collector().collect())

    # Then each committed partition lags by exactly N − M, counted from its commit
    for p in (0, 2):
        labels = {"group": group, "topic": topic, "partition": p}
        assert (
            value(samples, "lagwatch_kafka_partition_lag_messages", **labels)
            == produced[p] - consumed[p]
        )
        assert value(samples, "lagwatch_kafka_partition_committed_offset", **labels) == consumed[p]
        assert value(samples, "lagwatch_kafka_partition_no_committed_offset", **labels) == 0
        assert (
            value(samples, "lagwatch_kafka_partition_log_end_offset", topic=topic, partition=p)
            == produced[p]
        )
    # partition 1 was never committed: no invented full-log lag, nothing counted
    assert not find(samples, "lagwatch_kafka_partition_lag_messages", group=group, partition=1)
    assert not find(
        samples, "lagwatch_kafka_partition_lag_messages", group=group, topic=topic, partition=1
    )
    assert value(samples, "lagwatch_kafka_group_topic_lag_messages", group=group, topic=topic) == 9
    assert (
        value(samples, "lagwatch_kafka_group_topic_max_lag_messages", group=group, topic=topic) == 9
    )
    assert value(samples, "lagwatch_kafka_group_lag_messages", group=group) == 9
    # the lagging partition's time lag is the age of its oldest unread record, read exactly
    method = one(
        samples, "lagwatch_kafka_partition_lag_method", group=group, topic=topic, partition=0
    )
    assert method.value == LagMethod.EXACT
    seconds = one(
        samples, "lagwatch_kafka_partition_lag_seconds", group=group, topic=topic, partition=0
    )
    assert 0 <= seconds.value < 60
    assert (
        value(
            samples, "lagwatch_kafka_partition_lag_seconds", group=group, topic=topic, partition=2
        )
        == 0
    )
    # an empty group with a lag is not yet judged: less than a window watched
    status = one(samples, "lagwatch_kafka_group_status", group=group)
    assert status.value == Status.OK and "watched for" in (status.note or "")
    assert value(samples, "lagwatch_kafka_group_state", group=group) == 5  # empty
    assert value(samples, "lagwatch_kafka_group_unknown", group=group) == 0


def test_transaction_markers_do_not_leave_lag_stuck(kafka: KafkaScratch) -> None:
    # Given a transactional producer and a read-committed consumer that commits after each message
    topic = kafka.topic("payments", 2)
    group = kafka.group("ledger")
    producer = kafka.producer(**{"transactional.id": f"tx-{kafka.unique}"})
    producer.init_transactions(15)
    for _ in range(3):
        producer.begin_transaction()
        produce(producer, topic, {0: 10, 1: 7})
        producer.commit_transaction(15)
    consumer = kafka.consumer(group)
    consume_exactly(consumer, topic, {0: 30, 1: 21})
    consumer.close()
    committed = kafka.admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[
        group
    ].result()
    # (each commit sits on the last transaction marker, one below the log end: the classic "lag 1")
    assert {tp.partition: tp.offset for tp in committed.topic_partitions} == {0: 32, 1: 23}

    # When we collect, then the lag is 0: only markers remain, nothing to consume
    collector = kafka.collector()
    samples = list(collector.collect())
    for p in (0, 1):
        labels = {"group": group, "topic": topic, "partition": p}
        end = value(samples, "lagwatch_kafka_partition_log_end_offset", topic=topic, partition=p)
        assert end == {0: 33, 1: 24}[p]  # 30/21 records + 3 commit markers
        assert value(samples, "lagwatch_kafka_partition_lag_messages", **labels) == 0
        method = one(samples, "lagwatch_kafka_partition_lag_method", **labels)
        assert method.value == LagMethod.NONE and "transaction markers" in (method.note or "")
    assert value(samples, "lagwatch_kafka_group_lag_messages", group=group) == 0

    # Given a transaction still open with 5 messages, they do not count until committed
    producer.begin_transaction()
    produce(producer, topic, {0: 5})
    samples = list(collector.collect())
    assert (
        value(
            samples, "lagwatch_kafka_partition_lag_messages", group=group, topic=topic, partition=0
        )
        == 0
    )
    producer.commit_transaction(15)
    samples = list(collector.collect())
    # Lag counts offsets: the marker the group sits on, the 5 records and the new commit marker.
    assert (
        value(
            samples, "lagwatch_kafka_partition_lag_messages", group=group, topic=topic, partition=0
        )
        == 7
    )

    # When the consumer reads those 5, the lag is back to 0 although the trailing marker is unread
    consumer = kafka.consumer(group)
    consume_exactly(consumer, topic, {0: 5}, start=OFFSET_STORED)
    consumer.close()
    samples = list(collector.collect())
    assert (
        value(
            samples,
            "lagwatch_kafka_partition_committed_offset",
            group=group,
            topic=topic,
            partition=0,
        )
        == 38
    )
    assert (
        value(
            samples, "lagwatch_kafka_partition_lag_messages", group=group, topic=topic, partition=0
        )
        == 0
    )


def test_compacted_topic_is_flagged_and_timed_past_removed_records(kafka: KafkaScratch) -> None:
    # Given a compacted topic whose early records the cleaner removes
    compact = {
        "cleanup.policy": "compact",
        "segment.ms": "200",
        "min.cleanable.dirty.ratio": "0.001",
        "min.compaction.lag.ms": "0",
        "delete.retention.ms": "0",
    }
    topic = kafka.topic("customers", 1, compact)
    plain = kafka.topic("audit", 1)
    group = kafka.group("crm")
    producer = kafka.producer()
    for i in range(100):
        producer.produce(topic, key=f"k{i % 5}".encode(), value=f"v{i}".encode(), partition=0)
        if i % 20 == 0:
            producer.flush(10)
            time.sleep(0.3)
    producer.produce(plain, value=b"x", partition=0)
    producer.flush(10)
    kafka.commit(group, (topic, 0, 10), (plain, 0, 0))

    def compacted() -> bool:
        # New records roll the segment so the cleaner can take the old ones.
        producer.produce(topic, key=b"roll", value=b"r", partition=0)
        producer.flush(10)
        probe = kafka.consumer(f"probe-{kafka.unique}", **{"enable.partition.eof": True})
        probe.assign([TopicPartition(topic, 0, 10)])
        message = probe.poll(5)
        probe.close()
        return message is not None and not message.error() and (message.offset() or 0) > 10

    wait_until(compacted, 60, "the log cleaner to compact the topic", every=1)

    # When we collect
    samples = list(kafka.collector().collect())

    # Then the topic is flagged, the lag counts offsets from the commit, and the time lag is
    # still exact: it comes from the first record that survived past the commit
    assert value(samples, "lagwatch_kafka_topic_compacted", topic=topic) == 1
    assert value(samples, "lagwatch_kafka_topic_compacted", topic=plain) == 0
    end = value(samples, "lagwatch_kafka_partition_log_end_offset", topic=topic, partition=0)
    labels = {"group": group, "topic": topic, "partition": 0}
    assert value(samples, "lagwatch_kafka_partition_lag_messages", **labels) == end - 10
    assert value(samples, "lagwatch_kafka_partition_lag_method", **labels) == LagMethod.EXACT
    assert 0 < value(samples, "lagwatch_kafka_partition_lag_seconds", **labels) < 120


def test_empty_group_stays_visible_until_its_expiry(kafka: KafkaScratch) -> None:
    # Given two groups with commits and no members, and a 4 s expiry
    topic = kafka.topic("events", 1)
    quiet, busy = kafka.group("quiet"), kafka.group("busy")
    produce(kafka.producer(), topic, {0: 50})

    def commit(group: str, offset: int) -> None:
        kafka.commit(group, (topic, 0, offset))

    commit(quiet, 10)
    commit(busy, 10)
    collector = kafka.collector(empty_group_expiry="4s")

    # When we collect, both empty groups show their lag
    samples = list(collector.collect())
    first_seen = time.time()
    for group in (quiet, busy):
        assert value(samples, "lagwatch_kafka_group_lag_messages", group=group) == 40
        assert value(samples, "lagwatch_kafka_group_members", group=group) == 0

    # When only one of them commits again and the expiry passes for the other
    time.sleep(2)
    commit(busy, 20)
    list(collector.collect())
    time.sleep(max(0.0, first_seen + 4.5 - time.time()))
    samples = list(collector.collect())

    # Then the quiet group is no longer reported, the busy one is
    assert not find(samples, "lagwatch_kafka_group_status", group=quiet)
    assert value(samples, "lagwatch_kafka_group_lag_messages", group=busy) == 30

    # And a new commit brings the quiet group back
    commit(quiet, 11)
    samples = list(collector.collect())
    assert value(samples, "lagwatch_kafka_group_lag_messages", group=quiet) == 39


def test_collect_once_writes_lag_and_verdict_notes_to_the_store(
    kafka: KafkaScratch, tmp_path, devstack_env
) -> None:
    # Given a config with a kafka section and a group lagging by 7
    topic = kafka.topic("cli", 1)
    group = kafka.group("cli")
    produce(kafka.producer(), topic, {0: 10})
    kafka.commit(group, (topic, 0, 3))
    config = tmp_path / "lagwatch.yaml"
    config.write_text(
        f"store: {{url: 'sqlite:///{tmp_path}/lw.db'}}\n"
        "kafka:\n"
        f"  - {{name: cli, bootstrap: '${{LAGWATCH_KAFKA_BOOTSTRAP}}', window: 30s,\n"
        f"     groups: {{include: ['lw-cli-{kafka.unique}']}}}}\n"
    )

    def lagwatch(*args: str) -> str:
        run = subprocess.run(
            [sys.executable, "-m", "lagwatch", *args, "-c", str(config)],
            cwd=ROOT,
            env={**devstack_env, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    # When lagwatch collects once and we read the snapshot
    lagwatch("collect", "--once")
    snapshot = json.loads(lagwatch("snapshot", "--json"))
    values = {(v["name"], v["labels"].get("partition")): v for v in snapshot}

    # Then the lag and the verdict (with its explanation) are in the store
    assert values[("lagwatch_kafka_partition_lag_messages", "0")]["value"] == 7
    status = values[("lagwatch_kafka_group_status", None)]
    assert status["value"] == 0 and "7 messages wait" in status["note"]
