"""A connector's committed source offsets: from the REST API, or from Connect's offsets topic
when the REST API is down.

The workers keep source offsets in ``offset.storage.topic`` (a compacted topic; devstack:
``lagwatch-connect-offsets``), one record per source partition: key
``["<connector>", {<partition>}]`` (for Debezium ``{"server": "<topic.prefix>"}``), value the
offset as JSON, or null once the offsets were deleted. The REST endpoint
``GET /connectors/{c}/offsets`` answers from the same records, so the topic gives the same
answer while no worker does. The reader assigns every partition of the topic to a consumer
that joins no group and commits nothing, reads it once from the start, and after that only
what was added since.

``Endpoint`` is one ``connect:`` cluster as every collector of the process reaches it (the
Connect collector, and MySQL readers that say ``connect: NAME``): one REST session and one
offsets-topic reader, shared and thread-safe.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from lagwatch.collectors.connect.config import ConnectCluster
from lagwatch.collectors.connect.read import OffsetsRead, parse_offsets
from lagwatch.collectors.connect.session import (
    ConnectError,
    ConnectSession,
    connector_path,
    error_text,
    short,
)

EXTRAS_KEY = "connect.endpoints"
"""``CollectorContext.extras`` key holding ``{cluster name: Endpoint}``."""

# A consumer needs a group id, but this one never subscribes or commits: it joins no group.
READER_GROUP = "lagwatch-connect-offsets-reader"


class OffsetsTopicError(Exception):
    """The offsets topic could not be read to its end; the message says why."""


class OffsetsTopic:
    """The latest value of every key of Connect's offsets topic, kept up to date on demand."""

    def __init__(self, settings: Mapping[str, Any], topic: str) -> None:
        self.topic = topic
        self._settings = {
            **settings,
            "group.id": READER_GROUP,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        }
        self._consumer: Consumer | None = None
        self._partitions: list[int] = []
        self._latest: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._lock = threading.Lock()

    def _open(self, timeout: float) -> Consumer:
        if self._consumer is None:
            consumer = Consumer(self._settings)
            try:
                meta = consumer.list_topics(self.topic, timeout=timeout)
                found = meta.topics.get(self.topic)
                if found is None or found.error is not None or not found.partitions:
                    why = found.error.str() if found is not None and found.error else "not found"
                    raise OffsetsTopicError(
                        f"offsets topic {self.topic!r}: {why}; set offsets_topic to the workers' "
                        "offset.storage.topic"
                    )
                self._partitions = sorted(found.partitions)
                consumer.assign(
                    [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in self._partitions]
                )
            except BaseException:
                consumer.close()
                raise
            self._consumer = consumer
            self._latest.clear()
        return self._consumer

    def read(self, timeout: float) -> dict[str, list[dict[str, Any]]]:
        """Return ``{connector: [{"partition": …, "offset": …}]}`` as committed now."""
        with self._lock:
            try:
                self._catch_up(timeout)
            except KafkaException as exc:
                self._reset()
                raise OffsetsTopicError(
                    f"cannot read offsets topic {self.topic!r}: {error_text(exc)}"
                ) from None
            # An OffsetsTopicError (not found, not read to the end in time) keeps what was read:
            # the next call goes on from there.
            out: dict[str, list[dict[str, Any]]] = {}
            for (connector, partition), offset in self._latest.items():
                if offset is not None:
                    out.setdefault(connector, []).append(
                        {"partition": json.loads(partition), "offset": offset}
                    )
            return out

    def _catch_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        consumer = self._open(timeout)
        ends: dict[int, tuple[int, int]] = {}
        for p in self._partitions:
            left = max(0.1, deadline - time.monotonic())
            low, high = consumer.get_watermark_offsets(
                TopicPartition(self.topic, p), timeout=left, cached=False
            )
            ends[p] = (low, high)
        while True:
            positions = consumer.position([TopicPartition(self.topic, p) for p in self._partitions])
            behind = [
                tp.partition
                for tp in positions
                if ends[tp.partition][1] > ends[tp.partition][0]
                and (tp.offset < 0 or tp.offset < ends[tp.partition][1])
            ]
            if not behind:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise OffsetsTopicError(
                    f"offsets topic {self.topic!r} not read to its end within {timeout:g}s "
                    f"(partitions {', '.join(map(str, behind))} behind)"
                )
            for message in consumer.consume(500, min(left, 0.5)):
                error = message.error()
                if error is not None:
                    raise KafkaException(error)
                self._take(message.key(), message.value())

    def _take(self, key: bytes | None, value: bytes | None) -> None:
        try:
            connector, partition = json.loads(key or b"null")
            name = str(connector)
            part = json.dumps(partition, sort_keys=True)
        except (ValueError, TypeError):
            return  # not a source-offset key: skip it
        try:
            offset = json.loads(value) if value is not None else None
        except ValueError:
            return
        self._latest[(name, part)] = offset if isinstance(offset, dict) else None

    def _reset(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            try:
                consumer.close()
            except (KafkaException, RuntimeError):
                pass

    def close(self) -> None:
        with self._lock:
            self._reset()


class Endpoint:
    """One connect: cluster as every collector of this process reaches it."""

    def __init__(self, config: ConnectCluster, kafka_settings: Mapping[str, Any] | None) -> None:
        self.config = config
        self.kafka_settings = dict(kafka_settings) if kafka_settings is not None else None
        self._session: ConnectSession | None = None
        self._topic: OffsetsTopic | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> ConnectSession:
        with self._lock:
            if self._session is None:
                self._session = ConnectSession(self.config)
            return self._session

    @property
    def topic(self) -> OffsetsTopic | None:
        with self._lock:
            if self._topic is None and self.kafka_settings is not None:
                self._topic = OffsetsTopic(self.kafka_settings, self.config.offsets_topic)
            return self._topic

    def topic_offsets(self) -> tuple[dict[str, list[dict[str, Any]]] | None, str | None]:
        """Return every connector's offsets from the topic, or (None, why not)."""
        topic = self.topic
        if topic is None:
            return None, (
                f"no fallback: give connect {self.config.name} its kafka: cluster to read "
                f"{self.config.offsets_topic} when the REST API is down"
            )
        try:
            return topic.read(self.config.request_timeout), None
        except OffsetsTopicError as exc:
            return None, short(str(exc))

    def offsets(self, connector: str) -> OffsetsRead:
        """Return one connector's offsets: REST, else the offsets topic when no worker answers."""
        try:
            body = self.session.get(connector_path(connector, "/offsets"))
            return OffsetsRead(parse_offsets(body))
        except ValueError as exc:
            return OffsetsRead(None, f"offsets of {connector!r} in an unknown shape: {exc}")
        except ConnectError as exc:
            if exc.status is not None:
                return OffsetsRead(None, _answered(connector, exc))
            rest_error = str(exc)
        found, why = self.topic_offsets()
        if found is None:
            return OffsetsRead(None, short(f"{rest_error}; {why}"))
        return OffsetsRead(
            found.get(connector, []),
            via="topic",
            note=short(
                f"REST API down ({rest_error}); offset read from {self.config.offsets_topic}"
            ),
        )

    def close(self) -> None:
        with self._lock:
            session, topic, self._session, self._topic = self._session, self._topic, None, None
        if session is not None:
            session.close()
        if topic is not None:
            topic.close()


def _answered(connector: str, exc: ConnectError) -> str:
    if exc.status == 404:
        return (
            f"{exc}; check the connector name {connector!r} "
            "(the offsets endpoint needs Kafka Connect 3.5 or later)"
        )
    return str(exc)


def endpoints(clusters: Sequence[ConnectCluster], kafka: Sequence[Any]) -> dict[str, Endpoint]:
    """Return an Endpoint per connect: cluster, with its kafka: cluster's client settings."""
    settings = {k.name: k.client_settings() for k in kafka}
    return {c.name: Endpoint(c, settings.get(c.kafka) if c.kafka else None) for c in clusters}
