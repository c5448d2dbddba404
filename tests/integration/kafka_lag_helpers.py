"""Helpers for the Kafka lag tests: topics that clean up after themselves, producers, consumers, sample lookups."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from lagwatch.collectors.kafka import KafkaCluster, KafkaCollector
from lagwatch.store import Sample, Store


class KafkaScratch:
    """Creates uniquely named topics and groups on the devstack broker and deletes them afterwards."""

    def __init__(self, bootstrap: str, unique: str) -> None:
        self.bootstrap = bootstrap
        self.unique = unique
        self.admin = AdminClient({"bootstrap.servers": bootstrap})
        self.topics: list[str] = []
        self.groups: list[str] = []
        self.collectors: list[KafkaCollector] = []

    def topic(self, name: str, partitions: int, config: dict[str, str] | None = None) -> str:
        topic = f"lw-{name}-{self.unique}"
        self.admin.create_topics([NewTopic(topic, partitions, 1, config=config or {})])[
            topic
        ].result()
        self.topics.append(topic)
        wait_until(lambda: self._has_leaders(topic, partitions), 20, f"leaders for {topic}")
        return topic

    def _has_leaders(self, topic: str, partitions: int) -> bool:
        meta = self.admin.list_topics(topic, timeout=5).topics.get(topic)
        return (
            meta is not None
            and len(meta.partitions) == partitions
            and all(p.leader >= 0 for p in meta.partitions.values())
        )

    def commit(self, group: str, *offsets: tuple[str, int, int]) -> None:
        """Commit (topic, partition, offset) triples for ``group`` through the admin API."""
        commit_offsets(self.admin, group, [TopicPartition(t, p, o) for t, p, o in offsets])

    def group(self, name: str) -> str:
        group = f"lw-{name}-{self.unique}"
        self.groups.append(group)
        return group

    def collector(self, store: Store | None = None, **overrides: Any) -> KafkaCollector:
        settings: dict[str, Any] = {
            "name": f"it-{self.unique}",
            "bootstrap": self.bootstrap,
            "interval": "2s",
            "window": "20s",
            "groups": {"include": [f"lw-.*-{self.unique}"]},
        }
        settings.update(overrides)
        collector = KafkaCollector(KafkaCluster.model_validate(settings), store=store)
        self.collectors.append(collector)
        return collector

    def producer(self, **settings: Any) -> Producer:
        return Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5, **settings})

    def consumer(self, group: str, **settings: Any) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                **settings,
            }
        )

    def close(self) -> None:
        for collector in self.collectors:
            collector.close()
        if self.groups:
            for future in self.admin.delete_consumer_groups(
                self.groups, request_timeout=10
            ).values():
                with suppress(Exception):  # a group that was never created is fine
                    future.result()
        if self.topics:
            for future in self.admin.delete_topics(self.topics, request_timeout=20).values():
                future.result()


def commit_offsets(admin: AdminClient, group: str, offsets: list[TopicPartition]) -> None:
    """Commit ``offsets`` for ``group`` (as an operator would), retrying while a coordinator loads."""
    request = [ConsumerGroupTopicPartitions(group, offsets)]

    def committed() -> bool:
        done = admin.alter_consumer_group_offsets(request, request_timeout=30)[group].result()
        return all(tp.error is None for tp in done.topic_partitions)

    wait_until(committed, 30, f"the commit of {group}", every=0.5)


def wait_until(check: Any, timeout: float, what: str, every: float = 0.2) -> Any:
    """Return check()'s first truthy value, or fail after ``timeout`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def produce(producer: Producer, topic: str, counts: dict[int, int]) -> None:
    """Write ``counts[partition]`` messages to each partition and wait for them."""
    for partition, count in counts.items():
        for i in range(count):
            producer.produce(topic, value=f"m{i}".encode(), partition=partition)
    producer.flush(10)


def consume_exactly(consumer: Consumer, topic: str, counts: dict[int, int], start: int = 0) -> None:
    """Read and commit exactly ``counts[partition]`` messages of each partition from ``start``.

    ``start`` is an offset, or OFFSET_STORED to go on from the group's commit.
    """
    consumer.assign([TopicPartition(topic, p, start) for p in counts])
    got = dict.fromkeys(counts, 0)
    for p, n in counts.items():
        if n == 0:
            consumer.pause([TopicPartition(topic, p)])
    deadline = time.monotonic() + 30
    while any(got[p] < counts[p] for p in counts):
        assert time.monotonic() < deadline, f"consumed only {got} of {counts}"
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        p = message.partition() or 0
        if got[p] >= counts[p]:
            continue
        got[p] += 1
        consumer.commit(message=message, asynchronous=False)
        if got[p] == counts[p]:
            consumer.pause([TopicPartition(topic, p)])


@contextmanager
def background(target: Any, *args: Any) -> Iterator[threading.Event]:
    """Run ``target(stop_event, *args)`` in a thread for the duration of the block."""
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(stop, *args), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(15)


def produce_every(stop: threading.Event, producer: Producer, topic: str, seconds: float) -> None:
    """Write one message every ``seconds`` until stopped."""
    i = 0
    while not stop.is_set():
        producer.produce(topic, value=f"tick{i}".encode(), partition=0)
        producer.poll(0)
        i += 1
        stop.wait(seconds)
    producer.flush(10)


def commit_each(consumer: Consumer, count: int, after: Any = None) -> None:
    """Read and commit ``count`` messages one by one, calling ``after()`` after each."""
    seen = 0
    while seen < count:
        message = consumer.poll(1.0)
        if message is not None and not message.error():
            seen += 1
            consumer.commit(message=message, asynchronous=False)
            if after is not None:
                after()


def last_message(consumer: Consumer, timeout: float) -> Message | None:
    message = consumer.poll(timeout)
    return None if message is None or message.error() else message


def find(samples: Iterable[Sample], name: str, **labels: object) -> list[Sample]:
    want = {k: str(v) for k, v in labels.items()}
    return [
        s
        for s in samples
        if s.name == name and all(s.label_dict.get(k) == v for k, v in want.items())
    ]


def one(samples: Iterable[Sample], name: str, **labels: object) -> Sample:
    found = find(samples, name, **labels)
    assert len(found) == 1, f"expected one {name} {labels}, got {found}"
    return found[0]


def consume_loop(
    stop: threading.Event,
    consumer: Consumer,
    topic: str,
    per_message: float,
    commit_first: int | None = None,
) -> None:
    """Subscribe and consume until stopped, ``per_message`` seconds each, committing after each.

    With ``commit_first`` the consumer stops committing after that many messages but
    keeps polling: it stays in the group, holding its partitions, stuck.
    """
    consumer.subscribe([topic])
    done = 0
    try:
        while not stop.is_set():
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            done += 1
            if commit_first is not None and done > commit_first:
                continue
            stop.wait(per_message)
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()


def value(samples: Iterable[Sample], name: str, **labels: object) -> float:
    """Return the value of the one sample named ``name`` with ``labels``."""
    return one(samples, name, **labels).value


@pytest.fixture(name="kafka")
def kafka_scratch(kafka_bootstrap: str, unique: str) -> Iterator[KafkaScratch]:
    """Topics, groups and collectors on the devstack broker, removed after the test."""
    scratch = KafkaScratch(kafka_bootstrap, unique)
    try:
        yield scratch
    finally:
        scratch.close()
