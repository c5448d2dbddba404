"""`kafka: - name: …`: one Kafka cluster, the groups to watch on it and how to judge them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from lagwatch.collectors.filters import NameFilter
from lagwatch.collectors.kafka.verdict import TREND_WINDOW, Cadence, Thresholds
from lagwatch.store.types import Duration


class GroupFilter(NameFilter):
    """Which consumer groups to watch: a group is watched when its whole name matches an include and no exclude."""


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


class VerdictConfig(BaseModel):
    """How STOP and STALL are judged from what the group shows, when no fixed ``window`` is set."""

    model_config = ConfigDict(extra="forbid")

    gap_factor: float = Field(
        3.0, ge=1.5, description="judge after this many of the partition's usual commit gaps"
    )
    min_wait: Duration = Field(8.0, description="never judge a wait shorter than this")
    unlearned_wait: Duration = Field(
        600.0, description="the wait that judges until the partition's commit gaps are learnt"
    )
    empty_wait: Duration = Field(
        5.0, description="a group with no members: STOP once messages waited this long"
    )
    rebalance_limit: Duration = Field(
        60.0, description="a rebalance longer than this while messages wait: STALL"
    )

    def cadence(self, interval: float) -> Cadence:
        return Cadence(
            interval,
            self.gap_factor,
            self.min_wait,
            self.unlearned_wait,
            self.empty_wait,
            self.rebalance_limit,
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
    window: Duration | None = Field(
        None,
        description="a fixed window: STOP/STALL only after a whole window without a commit "
        "(unset: judged from the group's commit cadence and membership)",
    )
    verdict: VerdictConfig = VerdictConfig()
    thresholds: LagThresholds = LagThresholds()
    empty_group_expiry: Duration = Field(
        604800.0, description="stop reporting an empty group this long after its last commit"
    )
    time_lag: TimeLagConfig = TimeLagConfig()
    concurrency: int = Field(
        32, ge=1, le=1000, description="committed-offset requests in flight at once"
    )
    split: int = Field(
        1,
        ge=1,
        le=64,
        description="collectors the groups are split over by a hash of the group name",
    )
    partition_series: Literal["all", "problems"] = Field(
        "all",
        description="per-partition series for every partition (all), or only for partitions "
        "that are not OK and once more when one turns OK (problems); group and topic "
        "aggregates are always written",
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
        if self.window is not None and self.window < self.interval:
            raise ValueError("window must be at least one interval; raise window or lower interval")
        return self

    @property
    def trend_window(self) -> float:
        """The window the trend rules (falling behind, rewind) look at, and the state keeps."""
        return self.window if self.window is not None else max(TREND_WINDOW, self.interval)

    def cadence(self) -> Cadence | None:
        """The evidence rules' settings, or None when a fixed ``window`` decides."""
        return None if self.window is not None else self.verdict.cadence(self.interval)

    def client_settings(self) -> dict[str, Any]:
        """Return the librdkafka settings shared by the admin client and the timestamp consumer."""
        settings: dict[str, Any] = {k: v.get_secret_value() for k, v in self.client.items()}
        settings["bootstrap.servers"] = self.bootstrap
        settings.setdefault("socket.timeout.ms", int(self.request_timeout * 1000))
        return settings
