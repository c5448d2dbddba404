"""Kafka cluster: consumer-group lag in messages and seconds, and a verdict per partition and group.

One cycle: read groups, commits and log ends (``kafka_offsets``), look up the
timestamps of the oldest unread records of lagging partitions
(``kafka_timelag``), judge every partition over a time window
(``kafka_verdict``) and yield the samples (``kafka_groups``). With a store,
it also yields the state those need as records and restores it on its first
cycle after a restart (``kafka_state``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from confluent_kafka.admin import AdminClient
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from lagwatch.collectors.base import CollectorContext, SourceUnreachable
from lagwatch.collectors.kafka_groups import GroupEvaluator, start_offset
from lagwatch.collectors.kafka_offsets import TP, ClusterView, OffsetReader, error_text
from lagwatch.collectors.kafka_state import NAMESPACE, StateKeeper, retention
from lagwatch.collectors.kafka_timelag import EndOffsetHistory, Found, RecordTimestamps
from lagwatch.collectors.kafka_verdict import Thresholds
from lagwatch.store import Record, Sample, Store
from lagwatch.store.types import Duration


class GroupFilter(BaseModel):
    """Which consumer groups to watch: a group is watched when its whole name matches an include and no exclude."""

    model_config = ConfigDict(extra="forbid")

    include: list[str] = [".*"]
    exclude: list[str] = []

    @field_validator("include", "exclude")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"{pattern!r} is not a valid regular expression ({exc}); fix or quote it"
                ) from None
        return patterns


class LagThresholds(BaseModel):
    """Optional limits that make a slow-but-moving partition WARN or ERR."""

    model_config = ConfigDict(extra="forbid")

    warn_lag_seconds: Duration | None = None
    err_lag_seconds: Duration | None = None
    warn_lag_messages: int | None = Field(None, gt=0)
    err_lag_messages: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _warn_below_err(self) -> LagThresholds:
        for kind in ("seconds", "messages"):
            warn, err = getattr(self, f"warn_lag_{kind}"), getattr(self, f"err_lag_{kind}")
            if warn is not None and err is not None and warn >= err:
                raise ValueError(
                    f"warn_lag_{kind} must be below err_lag_{kind}; lower the warn limit"
                )
        return self

    def rules(self) -> Thresholds:
        return Thresholds(
            self.warn_lag_seconds,
            self.err_lag_seconds,
            self.warn_lag_messages,
            self.err_lag_messages,
        )


class TimeLagConfig(BaseModel):
    """How time lag is measured: exact record timestamps first, then the estimate."""

    model_config = ConfigDict(extra="forbid")

    exact: bool = Field(True, description="read the record at each lagging committed offset")
    lookup_timeout: Duration = Field(
        3.0, description="time a cycle may spend reading record timestamps"
    )
    history: Duration = Field(
        21600.0, description="how far back the log-end history for estimates goes"
    )


class KafkaCluster(BaseModel):
    """`kafka: - name: …`: one Kafka cluster and the groups to watch on it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    bootstrap: str
    interval: Duration = 10.0
    timeout: Duration = 20.0
    request_timeout: Duration = Field(5.0, description="timeout of each admin request")
    groups: GroupFilter = GroupFilter()
    window: Duration = Field(600.0, description="time window the verdict rules look at")
    thresholds: LagThresholds = LagThresholds()
    empty_group_expiry: Duration = Field(
        604800.0, description="stop reporting an empty group this long after its last commit"
    )
    time_lag: TimeLagConfig = TimeLagConfig()
    concurrency: int = Field(
        32, ge=1, le=1000, description="committed-offset requests in flight at once"
    )
    client: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="extra librdkafka settings (security.protocol, sasl.*, ssl.*)",
    )

    @model_validator(mode="after")
    def _timeouts_fit(self) -> KafkaCluster:
        needed = self.request_timeout * 2 + (
            self.time_lag.lookup_timeout if self.time_lag.exact else 0
        )
        if needed >= self.timeout:
            raise ValueError(
                f"timeout ({self.timeout:g}s) must exceed two request timeouts plus the timestamp "
                f"lookup time ({needed:g}s); raise timeout or lower request_timeout/time_lag.lookup_timeout"
            )
        if self.window < self.interval:
            raise ValueError("window must be at least one interval; raise window or lower interval")
        return self

    def client_settings(self) -> dict[str, Any]:
        """Return the librdkafka settings shared by the admin client and the timestamp consumer."""
        settings: dict[str, Any] = {k: v.get_secret_value() for k, v in self.client.items()}
        settings["bootstrap.servers"] = self.bootstrap
        settings.setdefault("socket.timeout.ms", int(self.request_timeout * 1000))
        return settings


TIMESTAMP_GROUP = "lagwatch-timestamps"


class KafkaCollector:
    """Watches the consumer groups of one Kafka cluster."""

    def __init__(
        self, config: KafkaCluster, admin: AdminClient | None = None, store: Store | None = None
    ) -> None:
        self.config = config
        self.name = f"kafka:{config.name}"
        self.interval = config.interval
        self.timeout = config.timeout
        settings = config.client_settings()
        self._admin = admin or AdminClient(settings)
        self.reader = OffsetReader(
            self._admin,
            config.groups.include,
            [*config.groups.exclude, re.escape(TIMESTAMP_GROUP)],
            config.request_timeout,
            concurrency=config.concurrency,
        )
        self.history = EndOffsetHistory(config.time_lag.history)
        self.timestamps = RecordTimestamps({**settings, "group.id": TIMESTAMP_GROUP})
        self.evaluator = GroupEvaluator(
            config.name, config.window, config.thresholds.rules(), config.empty_group_expiry
        )
        # Without a store (lagwatch check, tests) there is nowhere to keep state: no records.
        self.state = StateKeeper(config.name, config.window, store) if store else None
        self.record_retention = {NAMESPACE: retention(config.window)} if store else {}

    def collect(self) -> Iterable[Sample | Record]:
        try:
            view = self.reader.read()
        except SourceUnreachable as exc:
            raise SourceUnreachable(
                f"kafka {self.config.name}: {exc}; check bootstrap ({self.config.bootstrap}) "
                "and that the brokers are up"
            ) from None
        if self.state is not None:
            self.state.restore(self.evaluator.groups, self.history, view.taken_at)
        for tp, end in view.log_end.items():
            self.history.observe(tp, end, view.taken_at)
        self.history.forget(set(view.log_end) | set(view.offset_errors))
        exact, problem = self._exact(view)
        if problem:
            view.listing_errors.append(problem)
        samples: list[Sample | Record] = []
        samples += self.evaluator.samples(view, exact, self.history.estimate)
        if self.state is not None:
            samples += self.state.records(self.evaluator.groups, self.history, view.taken_at)
        return samples

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
    return [KafkaCollector(config, store=context.store)]
