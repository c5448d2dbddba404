"""`kafka: - name: …`: one Kafka cluster, the groups to watch on it and how to judge them."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from lagwatch.collectors.kafka.verdict import Thresholds
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
    split: int = Field(
        1,
        ge=1,
        le=64,
        description="collectors the groups are split over by a hash of the group name",
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
