"""The probe's Kafka side: see probe rows arrive on the topic, and see groups commit past them.

lagwatch's own consumer reads every partition of the pipeline's topic from
the end, without joining or committing for any group, and looks for the
probe id (``lwprobe-`` + 32 hex) in each message value, whatever produced
it: the tap's relay, Debezium's JSON or Avro (strings travel as raw bytes).
With ``debezium`` on, a Debezium JSON event also gives the ``debezium`` hop:
the connector's own ``ts_ms``, after the source's commit time ``source.ts_ms``.
For each consumer group, the committed offset of the probe's partition is
polled while some probe awaits that group; the group's hop is reached when
its committed offset (the next offset it will read) is past the probe's.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from lagwatch.collectors.probe.book import ProbeBook

log = logging.getLogger("lagwatch.probe.kafka")

PROBE_ID = re.compile(rb"lwprobe-[0-9a-f]{32}")
GROUP_POLL = 0.1
"""Seconds between committed-offset polls while a probe awaits a group: the group hop's resolution."""
METADATA_EVERY = 30.0


def debezium_times(value: bytes) -> tuple[float, float] | None:
    """Return (commit, read) of a Debezium JSON change event, in seconds, or None.

    ``source.ts_ms`` is when the change was committed in the source database,
    ``ts_ms`` when the connector handled it; with ``schemas.enable`` the
    envelope sits under ``payload``. A value that is not such an event (Avro,
    a tombstone, another producer) gives None, so its Debezium hop is not
    reached rather than guessed.
    """
    try:
        event = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(event, dict) and isinstance(event.get("payload"), dict) and "schema" in event:
        event = event["payload"]
    if not isinstance(event, dict):
        return None
    source, read = event.get("source"), event.get("ts_ms")
    commit = source.get("ts_ms") if isinstance(source, dict) else None
    if not isinstance(commit, int | float) or not isinstance(read, int | float):
        return None
    return commit / 1000.0, read / 1000.0


class KafkaWatcher:
    """Runs in its own thread: feeds `topic` and `group:NAME` hops into a ProbeBook.

    Failure policy: a broker or admin error is kept in ``error`` and retried
    on the next loop; probes not seen in time are counted lost by the book.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        groups: list[str],
        book: ProbeBook,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        debezium: bool = False,
    ) -> None:
        self.topic = topic
        self.debezium = debezium
        self.groups = groups
        self.book = book
        self.timeout = timeout
        self.clock = clock
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                # Required by the client even though we only assign and never commit.
                "group.id": f"lagwatch-probe-watch-{secrets.token_hex(4)}",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "fetch.wait.max.ms": 50,
                "client.id": "lagwatch-probe",
            }
        )
        self.admin = AdminClient({"bootstrap.servers": bootstrap}) if groups else None
        self.ready = threading.Event()
        self.error: str | None = None
        self.messages = 0
        self._assigned: set[int] = set()

    def run(self, stop: threading.Event) -> None:
        """Watch until ``stop`` is set."""
        next_metadata = 0.0
        next_groups = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                try:
                    if now >= next_metadata:
                        self._assign_new_partitions()
                        next_metadata = now + METADATA_EVERY
                    self._consume()
                    if self.admin is not None and now >= next_groups:
                        self._poll_groups()
                        next_groups = now + GROUP_POLL
                    self.error = None
                except KafkaException as exc:
                    self.error = f"kafka topic {self.topic}: {exc.args[0]}"
                    log.warning(self.error)
                    stop.wait(1.0)
        finally:
            self.consumer.close()

    def _assign_new_partitions(self) -> None:
        metadata = self.consumer.list_topics(self.topic, timeout=self.timeout)
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            raise KafkaException(f"topic {self.topic} not found; create it or fix probes[].topic")
        new = sorted(set(topic.partitions) - self._assigned)
        if not new:
            return
        # Start exactly at today's end: a logical "end" resolved later could skip a probe.
        starts = []
        for partition in new:
            _low, high = self.consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), timeout=self.timeout
            )
            starts.append(TopicPartition(self.topic, partition, high))
        self.consumer.incremental_assign(starts)
        self._assigned.update(new)
        self.ready.set()

    def _consume(self) -> None:
        for message in self.consumer.consume(num_messages=500, timeout=0.05):
            if message.error() is not None:
                raise KafkaException(message.error())
            self.messages += 1
            value = message.value()
            if not value:
                continue
            found = PROBE_ID.search(value)
            if found is None:
                continue
            probe_id = found.group().decode()
            if self.debezium:
                envelope = debezium_times(value)
                if envelope is not None:
                    commit, read = envelope
                    self.book.saw(probe_id, "debezium", read, commit_ts=commit)
            self.book.saw(
                probe_id,
                "topic",
                self.clock(),
                partition=message.partition(),
                offset=message.offset(),
            )

    def _poll_groups(self) -> None:
        waiting = self.book.awaiting_groups()
        if not waiting or self.admin is None:
            return
        partitions = sorted({p.partition for p in waiting if p.partition is not None})
        requests = [
            ConsumerGroupTopicPartitions(group, [TopicPartition(self.topic, p) for p in partitions])
            for group in self.groups
        ]
        futures = {
            group: self.admin.list_consumer_group_offsets([request], request_timeout=self.timeout)[
                group
            ]
            for group, request in zip(self.groups, requests, strict=True)
        }
        for group, future in futures.items():
            try:
                result = future.result(timeout=self.timeout)
            except KafkaException as exc:
                self.error = f"group {group}: {exc.args[0]}"
                continue
            at = self.clock()
            committed = {
                tp.partition: tp.offset
                for tp in result.topic_partitions
                if tp.error is None and tp.offset != OFFSET_INVALID
            }
            for probe in waiting:
                if probe.partition is None or probe.offset is None:
                    continue
                position = committed.get(probe.partition)
                if position is not None and position > probe.offset:
                    self.book.saw(probe.probe_id, f"group:{group}", at)
