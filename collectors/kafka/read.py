"""Kafka offsets: groups, their members and commits, and the log ends, read in a few batched admin calls.

Failure policy, per step:
- listing groups fails outright: raise SourceUnreachable (nothing else can be read);
  a broker that answers with an error: keep the groups the others returned, and the
  groups seen before that are missing now (state unknown), and note it.
- describing a group fails: keep its commits, note the error; its assignment is unknown.
- fetching one group's commits fails: that group is unknown this cycle, the rest go on.
- listing one partition's offsets fails (no leader, deleted topic): that partition is
  unknown for every group, the rest go on.
- reading topic configs fails: the compacted flag keeps its last known value.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from queue import SimpleQueue
from typing import Any

from confluent_kafka import (
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, OffsetSpec, ResourceType

from lagwatch.collectors.base import SourceUnreachable

TP = tuple[str, int]

# Group states, numbered as Kafka's admin client numbers them (librdkafka
# rd_kafka_consumer_group_state_t); the group_state series holds these values.
GROUP_STATES = {
    ConsumerGroupState.UNKNOWN: 0,
    ConsumerGroupState.PREPARING_REBALANCING: 1,
    ConsumerGroupState.COMPLETING_REBALANCING: 2,
    ConsumerGroupState.STABLE: 3,
    ConsumerGroupState.DEAD: 4,
    ConsumerGroupState.EMPTY: 5,
}
REBALANCING = {1, 2}
MAX_METADATA_REFRESH = 20
UNLISTED = "not in this cycle's group listing"  # a known group's error when the listing failed
EMPTY = 5


@dataclass
class GroupView:
    """One consumer group as read this cycle."""

    group_id: str
    state: int
    members: int | None = None  # None: not described (empty, or the describe failed)
    assigned: dict[TP, str] = field(default_factory=dict)  # partition → client id
    committed: dict[TP, int | None] | None = None  # None: the commit fetch failed
    partition_errors: dict[TP, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def partitions(self) -> set[TP]:
        """Return every partition the group owns or has committed to."""
        return set(self.assigned) | set(self.committed or ())


@dataclass
class ClusterView:
    """Everything one cycle read from a cluster."""

    taken_at: float
    brokers: int | None
    groups: dict[str, GroupView]
    log_end: dict[TP, int]
    earliest: dict[TP, int]
    offset_errors: dict[TP, str]
    compacted: dict[str, bool]
    listing_errors: list[str]


def in_part(group_id: str, part: tuple[int, int]) -> bool:
    """True if the group belongs to part k of n: a stable hash of its name, modulo n."""
    k, n = part
    return n == 1 or zlib.crc32(group_id.encode()) % n == k


def error_text(exc: BaseException) -> str:
    """Return a one-line description of a Kafka (or other) error."""
    if isinstance(exc, KafkaException) and exc.args:
        err = exc.args[0]
        text = err.str() if hasattr(err, "str") else str(err)
    else:
        text = str(exc)
    return text.strip().replace("\n", " ") or type(exc).__name__


def bounded(
    submit: Callable[[str], dict[str, Future[Any]]], keys: Iterable[str], limit: int
) -> Iterator[tuple[str, Future[Any]]]:
    """Yield (key, finished future) in completion order, keeping at most ``limit`` calls in flight."""
    waiting = list(keys)
    waiting.reverse()
    done: SimpleQueue[tuple[str, Future[Any]]] = SimpleQueue()
    flying = 0
    while waiting or flying:
        while waiting and flying < limit:
            key = waiting.pop()
            for future in submit(key).values():
                flying += 1
                future.add_done_callback(partial(_put, done, key))
        yield done.get()
        flying -= 1


def _put(queue: SimpleQueue[tuple[str, Future[Any]]], key: str, future: Future[Any]) -> None:
    queue.put((key, future))


class OffsetReader:
    """Reads groups, commits and log ends of one cluster through an AdminClient it is given."""

    def __init__(
        self,
        admin: AdminClient,
        include: Sequence[str],
        exclude: Sequence[str],
        request_timeout: float,
        concurrency: int = 32,
        describe_chunk: int = 50,
        topic_config_ttl: float = 600.0,
        part: tuple[int, int] = (0, 1),
    ) -> None:
        self.admin = admin
        # (k, n): only the groups whose name hashes to k of n (a cluster split over n collectors).
        self.part = part
        self.listed = 0  # groups of the last listing the filters match, in every part
        self.include = [re.compile(p) for p in include]
        self.exclude = [re.compile(p) for p in exclude]
        self.request_timeout = request_timeout
        self.concurrency = concurrency
        self.describe_chunk = describe_chunk
        self.topic_config_ttl = topic_config_ttl
        self._compacted: dict[str, tuple[bool, float]] = {}
        self._known: set[str] = set()

    def wanted(self, group_id: str) -> bool:
        return self.matches(group_id) and in_part(group_id, self.part)

    def matches(self, group_id: str) -> bool:
        return any(p.fullmatch(group_id) for p in self.include) and not any(
            p.fullmatch(group_id) for p in self.exclude
        )

    def read(self) -> ClusterView:
        """Return this cycle's view of the cluster; raise SourceUnreachable if nothing can be read."""
        timeout = self.request_timeout
        cluster = self.admin.describe_cluster(request_timeout=timeout)
        try:
            listing = self.admin.list_consumer_groups(request_timeout=timeout).result(timeout + 1)
        except Exception as exc:
            raise SourceUnreachable(f"cannot list consumer groups: {error_text(exc)}") from None
        taken_at = time.time()
        groups: dict[str, GroupView] = {}
        self.listed = sum(1 for listed in listing.valid if self.matches(listed.group_id))
        for listed in listing.valid:
            if self.wanted(listed.group_id):
                state = GROUP_STATES.get(listed.state, 0)
                members = 0 if state == EMPTY else None
                groups[listed.group_id] = GroupView(listed.group_id, state, members)
        listing_errors = [error_text(e) for e in listing.errors]
        if listing_errors:
            # A broker that did not answer hides the groups it coordinates: keep
            # asking for the ones seen before rather than let them vanish.
            missing = f"{UNLISTED} ({'; '.join(listing_errors)})"
            for group_id in self._known - set(groups):
                groups[group_id] = GroupView(group_id, 0, errors=[missing])
        self._known = set(groups)

        # Describe only groups with members: an empty group has no assignment to show.
        live = [g for g, v in groups.items() if v.state != EMPTY]
        described: dict[str, Future[Any]] = {}
        for i in range(0, len(live), self.describe_chunk):
            described.update(
                self.admin.describe_consumer_groups(
                    live[i : i + self.describe_chunk], request_timeout=timeout
                )
            )
        for group_id, future in bounded(self._fetch_commits, groups, self.concurrency):
            self._take_commits(groups[group_id], future)
        for group_id, future in described.items():
            self._take_description(groups[group_id], future)

        partitions = set().union(*(g.partitions() for g in groups.values())) if groups else set()
        log_end, earliest, errors = self._list_offsets(partitions)
        if errors:
            self._refresh_metadata(sorted({t for t, _ in errors}))
        compacted = self._topic_compaction({t for t, _ in partitions}, listing_errors)
        try:
            brokers: int | None = len(cluster.result(timeout + 1).nodes)
        except Exception as exc:
            brokers = None
            listing_errors.append(f"describe cluster: {error_text(exc)}")
        return ClusterView(
            taken_at, brokers, groups, log_end, earliest, errors, compacted, listing_errors
        )

    def _fetch_commits(self, group_id: str) -> dict[str, Future[Any]]:
        return self.admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group_id)], request_timeout=self.request_timeout
        )

    def _take_commits(self, group: GroupView, future: Future[Any]) -> None:
        try:
            result = future.result(self.request_timeout + 1)
        except Exception as exc:
            group.errors.append(f"cannot read committed offsets: {error_text(exc)}")
            return
        committed: dict[TP, int | None] = {}
        for tp in result.topic_partitions or ():
            key = (tp.topic, tp.partition)
            if tp.error is not None:
                group.partition_errors[key] = error_text(KafkaException(tp.error))
                committed[key] = None
            else:
                committed[key] = tp.offset if tp.offset >= 0 else None
        group.committed = committed

    def _take_description(self, group: GroupView, future: Future[Any]) -> None:
        try:
            description = future.result(self.request_timeout + 1)
        except Exception as exc:
            group.errors.append(f"cannot describe the group: {error_text(exc)}")
            return
        group.state = GROUP_STATES.get(description.state, 0)
        group.members = len(description.members)
        for member in description.members:
            assignment = member.assignment.topic_partitions if member.assignment else []
            for tp in assignment:
                group.assigned[(tp.topic, tp.partition)] = member.client_id or member.member_id

    def _list_offsets(
        self, partitions: set[TP]
    ) -> tuple[dict[TP, int], dict[TP, int], dict[TP, str]]:
        """Return the log end and earliest offset of every partition (two calls in flight at once)."""
        if not partitions:
            return {}, {}, {}
        # Read committed: "latest" is the last stable offset, so records of an
        # open transaction do not count as lag until it commits.
        calls = [
            self.admin.list_offsets(
                {TopicPartition(t, p): spec for t, p in partitions},
                isolation_level=IsolationLevel.READ_COMMITTED,
                request_timeout=self.request_timeout,
            )
            for spec in (OffsetSpec.latest(), OffsetSpec.earliest())
        ]
        found: list[dict[TP, int]] = [{}, {}]
        errors: dict[TP, str] = {}
        for offsets, futures in zip(found, calls, strict=True):
            for tp, future in futures.items():
                key = (tp.topic, tp.partition)
                try:
                    offset = future.result(self.request_timeout + 1).offset
                except Exception as exc:
                    offset, text = -1, error_text(exc)
                else:
                    # Seen when the leader died: no error, offset -1001. Not a number to use.
                    text = f"no offset returned ({offset}); is the partition's leader up?"
                if offset >= 0:
                    offsets[key] = offset
                else:
                    errors.setdefault(
                        key, f"cannot list offsets of {tp.topic}[{tp.partition}]: {text}"
                    )
        return found[0], found[1], errors

    def _refresh_metadata(self, topics: list[str]) -> None:
        """Re-read the metadata of topics whose offsets failed, for the next cycle.

        Don't raise: this cycle already reports them unknown. Without it, the
        admin client may keep a dead leader's stale epoch after the broker is
        back ("Leader epoch is older than broker epoch") and never recover.
        """
        for topic in topics[:MAX_METADATA_REFRESH]:
            try:
                self.admin.list_topics(topic=topic, timeout=self.request_timeout)
            except Exception:
                continue

    def _topic_compaction(self, topics: set[str], problems: list[str]) -> dict[str, bool]:
        now = time.monotonic()
        stale = [t for t in topics if t not in self._compacted or self._compacted[t][1] < now]
        if stale:
            futures = self.admin.describe_configs(
                [ConfigResource(ResourceType.TOPIC, t) for t in stale],
                request_timeout=self.request_timeout,
            )
            for resource, future in futures.items():
                try:
                    entries = future.result(self.request_timeout + 1)
                except Exception as exc:
                    problems.append(
                        f"cannot read config of topic {resource.name}: {error_text(exc)}"
                    )
                    continue
                policy = entries.get("cleanup.policy")
                value = policy.value if policy is not None else ""
                self._compacted[resource.name] = (
                    "compact" in (value or ""),
                    now + self.topic_config_ttl,
                )
        for topic in [t for t in self._compacted if t not in topics]:
            del self._compacted[topic]
        return {t: self._compacted[t][0] for t in topics if t in self._compacted}
