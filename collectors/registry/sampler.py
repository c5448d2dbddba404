"""The sampling consumer: reads the watched topics without a consumer group and checks each message.

It assigns partitions itself and seeks (never subscribes, never commits, so
no group of its own ever appears in lag), from the position it stopped at,
kept in the ``registry.state`` record with the counters, or on first start
from ``backfill`` messages before the log end. Each cycle reads at most
``max_per_second`` × the time since the last cycle (at most two intervals'
worth), until every partition reached the log end it had when the cycle began,
or the cycle's time is up.

A lookup the registry cannot answer stops the cycle at that message: it is
checked next cycle, so a registry that is down never turns into violations.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, TopicPartition

from lagwatch.collectors.base import SourceUnreachable
from lagwatch.collectors.rate import RateWindow
from lagwatch.collectors.registry.check import (
    HEADERS,
    Lookup,
    check_part,
    schema_id_of,
    subject_for,
)
from lagwatch.collectors.registry.config import RegistryConfig
from lagwatch.collectors.registry.samples import (
    BEHIND,
    PRODUCED,
    SUBJECTS_KEPT,
    TopicCounts,
    Violation,
    ViolationLog,
    counter_samples,
    head_hex,
)
from lagwatch.collectors.registry.session import RegistryError, RegistryUnavailable
from lagwatch.store import Record, Sample, Store, StoreUnavailable
from lagwatch.store.contracts import Namespace

log = logging.getLogger("lagwatch.registry")

GROUP_ID = "lagwatch-registry-sampler"
"""librdkafka wants a group.id; this one never joins a group and never commits."""
FORMAT = 1
BATCH = 500
RATE_WINDOW = 300.0

TP = tuple[str, int]


@dataclass
class CycleResult:
    """What one cycle read: messages checked, and whether it stopped early and why."""

    checked: int = 0
    stopped: str | None = None
    behind: dict[str, int] = field(default_factory=dict)


class Sampler:
    """One registry's sampling consumer on its Kafka cluster."""

    def __init__(
        self,
        config: RegistryConfig,
        cluster: str,
        settings: dict[str, Any],
        request_timeout: float,
        consumer: Consumer | None = None,
    ) -> None:
        self.config = config
        self.cluster = cluster
        self.request_timeout = request_timeout
        self._settings = {
            **settings,
            "group.id": GROUP_ID,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
        }
        self._consumer = consumer
        self.positions: dict[TP, int] = {}
        self.counts: dict[str, TopicCounts] = {}
        self.rates: dict[str, RateWindow] = {}
        self.violations = ViolationLog(config.name)
        self.restored = False
        self._last_cycle: float | None = None
        self.behind: dict[str, int] = {}

    @property
    def consumer(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(self._settings)
        return self._consumer

    # -- state --------------------------------------------------------------------------

    def restore(self, store: Store | None) -> None:
        """Take positions, counters and kept violations from the store, once; never raises."""
        if self.restored:
            return
        self.restored = True
        if store is None:
            return
        name = self.config.name
        try:
            record = store.get_record(Namespace.REGISTRY_STATE, name)
            kept = store.list_records(Namespace.REGISTRY_VIOLATIONS)
        except StoreUnavailable as exc:
            log.warning(
                "registry %s: cannot read the sampler's state, starting afresh: %s", name, exc
            )
            return
        self.violations.load(kept)
        if record is None:
            return
        try:
            body = record.body
            if body.get("v") != FORMAT:
                raise ValueError(f"format {body.get('v')!r}, expected {FORMAT}")
            for topic, counts in dict(body["topics"]).items():
                self.counts[str(topic)] = TopicCounts.from_json(counts)
            if body.get("cluster") == self.cluster:
                for topic, partition, offset in body["positions"]:
                    self.positions[(str(topic), int(partition))] = int(offset)
                for topic, (ts, end) in dict(body.get("ends", {})).items():
                    self.rates.setdefault(str(topic), RateWindow(RATE_WINDOW)).add(
                        float(ts), float(end)
                    )
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("registry %s: ignoring the saved sampler state (%s)", name, exc)
            self.positions.clear()

    def state_record(self, now: float) -> Record:
        body = {
            "v": FORMAT,
            "ts": now,
            "cluster": self.cluster,
            "positions": [[t, p, o] for (t, p), o in sorted(self.positions.items())],
            "topics": {t: c.as_json() for t, c in sorted(self.counts.items())},
            # The newest log end per topic, so the produce rate has a point across a restart.
            "ends": {t: list(w.last) for t, w in sorted(self.rates.items()) if w.last},
        }
        return Record(Namespace.REGISTRY_STATE, self.config.name, now, body)

    # -- reading --------------------------------------------------------------------------

    def _partitions(self) -> dict[TP, tuple[int, int]]:
        """Return (low, high) watermarks of every watched partition."""
        try:
            metadata = self.consumer.list_topics(timeout=self.request_timeout)
        except KafkaException as exc:
            raise SourceUnreachable(f"cannot read topic metadata: {exc.args[0]}") from None
        found: dict[TP, tuple[int, int]] = {}
        for topic, meta in metadata.topics.items():
            if meta.error is not None or not self.config.topics.watches(topic):
                continue
            for partition in meta.partitions:
                tp = TopicPartition(topic, partition)
                try:
                    low, high = self.consumer.get_watermark_offsets(
                        tp, timeout=self.request_timeout, cached=False
                    )
                except KafkaException as exc:
                    raise SourceUnreachable(
                        f"cannot read the offsets of {topic}[{partition}]: {exc.args[0]}"
                    ) from None
                found[(topic, partition)] = (low, high)
        return found

    def budget(self, now: float) -> int:
        interval = self.config.interval
        elapsed = interval if self._last_cycle is None else now - self._last_cycle
        return max(1, int(self.config.sample.max_per_second * min(max(elapsed, 0.0), 2 * interval)))

    def cycle(self, lookup: Lookup, deadline: float, now: float | None = None) -> CycleResult:
        """Check messages from every watched partition's position; raises SourceUnreachable
        when Kafka cannot be read."""
        now = time.time() if now is None else now
        budget = self.budget(now)
        self._last_cycle = now
        marks = self._partitions()
        result = CycleResult()
        pending: dict[TP, int] = {}
        for tp, (low, high) in marks.items():
            pos = self.positions.get(tp)
            if pos is None or pos > high:  # new, or the topic was made anew
                pos = max(low, high - self.config.sample.backfill)
            pos = max(pos, low)
            self.positions[tp] = pos
            self.counts.setdefault(tp[0], TopicCounts())
            if pos < high:
                pending[tp] = high
        for tp in [tp for tp in self.positions if tp not in marks]:
            del self.positions[tp]
        watched = {tp[0] for tp in marks}
        for topic in [t for t in self.counts if t not in watched]:
            del self.counts[topic]
            self.rates.pop(topic, None)
        for topic in watched:
            end = sum(high for (t, _), (_, high) in marks.items() if t == topic)
            self.rates.setdefault(topic, RateWindow(RATE_WINDOW)).add(now, end)
        if pending:
            result = self._read(pending, lookup, budget, deadline)
        self.behind = {topic: 0 for topic in watched}
        for tp, (_, high) in marks.items():
            self.behind[tp[0]] += max(0, high - self.positions.get(tp, high))
        result.behind = dict(self.behind)
        return result

    def _read(
        self, pending: dict[TP, int], lookup: Lookup, budget: int, deadline: float
    ) -> CycleResult:
        result = CycleResult()
        consumer = self.consumer
        consumer.assign([TopicPartition(t, p, self.positions[(t, p)]) for t, p in pending])
        idle_since: float | None = None
        try:
            while pending and budget > 0 and time.monotonic() < deadline:
                messages = consumer.consume(num_messages=min(BATCH, budget), timeout=0.2)
                if not messages:
                    self._drop_done(pending)
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > max(5.0, 2 * self.request_timeout):
                        result.stopped = "no messages arrived for the offsets still to read"
                        break
                    continue
                idle_since = None
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            log.warning("registry %s: fetch error: %s", self.config.name, error)
                        continue
                    tp: TP = (str(message.topic()), message.partition() or 0)
                    offset = message.offset() or 0
                    if tp not in self.positions:
                        continue
                    try:
                        self._check(message, lookup)
                    except (RegistryUnavailable, RegistryError) as exc:
                        self.positions[tp] = offset
                        result.stopped = f"paused at {tp[0]}[{tp[1]}] offset {offset}: {exc}"
                        return result
                    self.positions[tp] = offset + 1
                    result.checked += 1
                    budget -= 1
                    if tp in pending and self.positions[tp] >= pending[tp]:
                        del pending[tp]
            if pending and budget <= 0:
                result.stopped = "the cycle's message budget (sample.max_per_second) is used"
        finally:
            consumer.unassign()
        return result

    def _drop_done(self, pending: dict[TP, int]) -> None:
        """Forget partitions whose fetch position passed their mark (transaction markers, gaps)."""
        try:
            positions = self.consumer.position([TopicPartition(t, p) for t, p in pending])
        except KafkaException:
            return
        for tp in positions:
            key = (tp.topic, tp.partition)
            if tp.offset != OFFSET_INVALID and tp.offset >= pending.get(key, tp.offset + 1):
                self.positions[key] = max(self.positions.get(key, 0), tp.offset)
                pending.pop(key, None)

    def _check(self, message: Any, lookup: Lookup) -> None:
        """Check one message's value and key; all lookups first, so a failure counts nothing."""
        topic = message.topic()
        value: bytes | None = message.value()
        key: bytes | None = message.key()
        headers: Sequence[tuple[str, bytes | None]] | None = message.headers()
        policy = self.config.policy
        strategy = self.config.subject_strategy
        findings = []
        if value is not None:
            findings += [
                ("value", f)
                for f in check_part(
                    value, headers, topic, "value", lookup, strategy, policy.max_payload_bytes
                )
            ]
        if key is not None and self._key_is_checked(key, headers, topic, lookup):
            findings += [
                ("key", f)
                for f in check_part(
                    key, headers, topic, "key", lookup, strategy, policy.max_payload_bytes
                )
            ]
        counts = self.counts.setdefault(topic, TopicCounts())
        counts.checked += 1
        if value is None:
            counts.tombstones += 1
        else:
            counts.sizes.append(len(value))
            if strategy != "topic" and not findings and len(counts.subjects) < SUBJECTS_KEPT:
                schema_id, _ = schema_id_of(value, headers, "value")
                schema = lookup.schema(schema_id) if schema_id is not None else None
                subject = subject_for(strategy, topic, "value", schema)
                if subject:
                    counts.subjects.add(subject)
        if not findings:
            return
        kind_of_ts, ms = message.timestamp()
        ts = ms / 1000.0 if kind_of_ts and ms >= 0 else None
        for part, finding in findings:
            counts.violations[finding.kind] += 1
            data = value if part == "value" else key
            self.violations.add(
                topic,
                finding.kind,
                Violation(
                    message.partition(), message.offset(), ts, part, head_hex(data), finding.reason
                ),
            )

    def _key_is_checked(
        self,
        key: bytes,
        headers: Sequence[tuple[str, bytes | None]] | None,
        topic: str,
        lookup: Lookup,
    ) -> bool:
        """A key is checked when it carries a schema id, or when its topic has a key subject."""
        if len(key) >= 5 and key[0] == 0:
            return True
        if any(name == HEADERS["key"] for name, _ in headers or ()):
            return True
        return self.config.subject_strategy == "topic" and lookup.has_subject(f"{topic}-key")

    # -- series ---------------------------------------------------------------------------

    def samples(self, started: float, now: float) -> list[Sample]:
        name = self.config.name
        out = counter_samples(name, self.counts, started, now)
        for topic, behind in self.behind.items():
            out.append(Sample.of(BEHIND, behind, now, registry=name, topic=topic))
        for topic, window in self.rates.items():
            rate = window.rate()
            if rate is not None:
                out.append(Sample.of(PRODUCED, max(0.0, rate), now, registry=name, topic=topic))
        return out

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
