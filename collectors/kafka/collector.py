"""Kafka cluster: consumer-group lag in messages and seconds, and a verdict per partition and group.

One cycle: read groups, commits and log ends (``read.py``), look up the
timestamps of the oldest unread records of lagging partitions
(``timelag.py``), judge every partition over a time window
(``verdict.py``) and yield the samples (``groups.py``, ``samples.py``). With a
store, it also yields the state those need as records and restores it on its
first cycle after a restart (``state.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from confluent_kafka.admin import AdminClient

from lagwatch.collectors.base import CollectorContext, SourceUnreachable
from lagwatch.collectors.kafka.config import KafkaCluster
from lagwatch.collectors.kafka.groups import GroupEvaluator, start_offset
from lagwatch.collectors.kafka.read import TP, UNLISTED, ClusterView, OffsetReader, error_text
from lagwatch.collectors.kafka.state import NAMESPACE, StateKeeper, retention
from lagwatch.collectors.kafka.timelag import EndOffsetHistory, Found, RecordTimestamps
from lagwatch.store import Record, Sample, Store
from lagwatch.store.contracts import origin

TIMESTAMP_GROUP = "lagwatch-timestamps"
# What the cluster has once, whichever part reads it: with `split`, part #0 alone writes them.
CLUSTER_ONLY = frozenset({"lagwatch_kafka_groups", "lagwatch_kafka_brokers"})


class ClusterJudge:
    """What a cycle does with what it read: log-end history, verdicts, samples and state records.

    The collector feeds it each cycle's ClusterView and record timestamps; the
    replay tests feed it recorded ones, so both run the same code.
    """

    def __init__(
        self, config: KafkaCluster, store: Store | None = None, key: str | None = None
    ) -> None:
        self.history = EndOffsetHistory(config.time_lag.history)
        self.evaluator = GroupEvaluator(
            config.name,
            config.trend_window,
            config.thresholds.rules(),
            config.empty_group_expiry,
            config.cadence(),
            config.interval,
            problems_only=config.partition_series == "problems",
        )
        # Without a store (lagwatch check, tests) there is nowhere to keep state: no records.
        self.state = StateKeeper(key or config.name, config.trend_window, store) if store else None

    def judge(self, view: ClusterView, exact: dict[tuple[TP, int], Found]) -> list[Sample | Record]:
        if self.state is not None:
            self.state.restore(self.evaluator.groups, self.history, view.taken_at)
        for tp, end in view.log_end.items():
            self.history.observe(tp, end, view.taken_at)
        self.history.forget(set(view.log_end) | set(view.offset_errors))
        out: list[Sample | Record] = []
        out += self.evaluator.samples(view, exact, self.history.estimate)
        if self.state is not None:
            out += self.state.records(self.evaluator.groups, self.history, view.taken_at)
        return out


class KafkaCollector:
    """Watches the consumer groups of one Kafka cluster."""

    def __init__(
        self,
        config: KafkaCluster,
        admin: AdminClient | None = None,
        store: Store | None = None,
        part: int = 0,
    ) -> None:
        self.config = config
        self.part = part
        # Split over several collectors (`split: N`), each is `kafka:NAME#k` with its own state.
        key = config.name if config.split == 1 else f"{config.name}#{part}"
        self.name = f"kafka:{key}"
        self.origins: tuple[str, ...] = (origin("cluster", config.name),)
        self.interval = config.interval
        self.timeout = config.timeout
        settings = config.client_settings()
        self._settings = settings
        self._own_admin = admin is None  # one given (tests) is the caller's to keep
        self._admin = admin or AdminClient(settings)
        self.reader = OffsetReader(
            self._admin,
            config.groups.include,
            [*config.groups.exclude, re.escape(TIMESTAMP_GROUP)],
            config.request_timeout,
            concurrency=config.concurrency,
            part=(part, config.split),
        )
        self.timestamps = RecordTimestamps({**settings, "group.id": TIMESTAMP_GROUP})
        self.judge = ClusterJudge(config, store, key)
        self.history, self.evaluator = self.judge.history, self.judge.evaluator
        self.record_retention = {NAMESPACE: retention(config.trend_window)} if store else {}

    def collect(self) -> Iterable[Sample | Record]:
        try:
            view = self.reader.read()
        except SourceUnreachable as exc:
            raise SourceUnreachable(
                f"kafka {self.config.name}: {exc}; check bootstrap ({self.config.bootstrap}) "
                "and that the brokers are up"
            ) from None
        if (
            self._own_admin
            and view.groups
            and all(g.committed is None for g in view.groups.values())
        ):
            self._renew_admin()
            if view.listing_errors and all(
                any(e.startswith(UNLISTED) for e in g.errors) for g in view.groups.values()
            ):
                # No group listed, none of the known ones readable: no broker answers.
                raise SourceUnreachable(
                    f"kafka {self.config.name}: no broker answers: "
                    f"{'; '.join(view.listing_errors)}; check bootstrap "
                    f"({self.config.bootstrap}) and that the brokers are up"
                )
        exact, problem = self._exact(view)
        if problem:
            view.listing_errors.append(problem)
        samples = self.judge.judge(view, exact)
        if self.config.split > 1:
            samples = self._one_part(samples)
        return samples

    def _renew_admin(self) -> None:
        """A new AdminClient for the next cycle: no group's commits could be read this one.

        librdkafka's admin client does not get its group-coordinator requests answered
        again after the broker restarts (they time out for good, while a new client is
        answered at once), so a collector that kept its client would never recover."""
        self._admin = AdminClient(self._settings)
        self.reader.admin = self._admin

    def _one_part(self, samples: list[Sample | Record]) -> list[Sample | Record]:
        """Part #0 writes the cluster's own series (the group count for every part); others don't."""
        if self.part != 0:
            return [s for s in samples if not (isinstance(s, Sample) and s.name in CLUSTER_ONLY)]
        return [
            replace(s, value=float(self.reader.listed))
            if isinstance(s, Sample) and s.name == "lagwatch_kafka_groups"
            else s
            for s in samples
        ]

    def _exact(self, view: ClusterView) -> tuple[dict[tuple[TP, int], Found], str | None]:
        """Return record timestamps at the start offset of every lagging partition (best effort)."""
        if not self.config.time_lag.exact:
            return {}, None
        wanted: dict[TP, set[int]] = {}
        for group in view.groups.values():
            for tp, committed in (group.committed or {}).items():
                end, earliest = view.log_end.get(tp), view.earliest.get(tp)
                if end is None or earliest is None:
                    continue
                start = start_offset(committed, earliest)
                if start is not None and start < end:
                    wanted.setdefault(tp, set()).add(start)
        if not wanted:
            return {}, None
        try:
            return self.timestamps.lookup(
                wanted, view.log_end, self.config.time_lag.lookup_timeout
            ), None
        except Exception as exc:  # don't raise: offsets and the estimate are still right
            return {}, f"exact time lag unavailable this cycle: {error_text(exc)}"

    def check(self) -> None:
        list(self.collect())

    def close(self) -> None:
        self.timestamps.close()


def build(config: KafkaCluster, context: CollectorContext) -> list[KafkaCollector]:
    return [KafkaCollector(config, store=context.store, part=k) for k in range(config.split)]
