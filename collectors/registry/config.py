"""`registries: - name: …`: one schema registry, the Kafka topics whose messages it vouches for,
how they are sampled, and the policy its subjects are held to."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from lagwatch.collectors.filters import NameFilter, regexes
from lagwatch.store.types import Duration

Strategy = Literal["topic", "record", "topic_record"]
Level = Literal[
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
]
LEVELS: tuple[str, ...] = Level.__args__  # type: ignore[attr-defined]


class TopicFilter(NameFilter):
    """Which topics to sample: a topic is watched when its whole name matches an include and no
    exclude. Kafka's own topics (names starting with ``__``) are never sampled."""

    def watches(self, name: str) -> bool:
        return not name.startswith("__") and super().watches(name)


class SampleConfig(BaseModel):
    """How the sampling consumer reads the watched topics."""

    model_config = ConfigDict(extra="forbid")

    max_per_second: int = Field(
        2000, ge=1, description="messages checked per second at most, over each interval"
    )
    backfill: int = Field(
        1000, ge=0, description="on first start, check this many messages before each log end"
    )


class PolicyConfig(BaseModel):
    """What every subject is held to, whatever the registry's own settings say."""

    model_config = ConfigDict(extra="forbid")

    compatibility: Level = Field(
        "BACKWARD_TRANSITIVE", description="level every new version is checked at"
    )
    naming: Literal["past_tense", "none"] = Field(
        "past_tense", description="event names: past tense with an entity (OrderShipped)"
    )
    version_field: bool | str = Field(
        True,
        description="true: a record must have a field named version, schema_version, "
        "event_version or v; a string: that field; false: no rule",
    )
    max_payload_bytes: int = Field(1048576, ge=1, description="larger messages are oversized")

    @field_validator("version_field")
    @classmethod
    def _field_name(cls, value: bool | str) -> bool | str:
        if isinstance(value, str) and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"{value!r} is not a field name; give true, false or a field name")
        return value


class RegistryConfig(BaseModel):
    """`registries: - name: …`: one Confluent-API schema registry and the topics it serves."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$", description="the `registry` label")
    url: SecretStr = Field(
        description="the Confluent-compatible API: http(s)://host:port[/apis/ccompat/v7]; "
        "may hold user:password@"
    )
    kafka: str = Field(description="the `kafka:` cluster whose topics are sampled")
    interval: Duration = 30.0
    timeout: Duration = 25.0
    request_timeout: Duration = Field(5.0, description="timeout of each registry request")
    topics: TopicFilter = TopicFilter()
    subject_strategy: Strategy = "topic"
    sample: SampleConfig = SampleConfig()
    policy: PolicyConfig = PolicyConfig()
    owners: dict[str, str] = Field(
        default_factory=dict, description="topic or subject regex → owning team"
    )

    @field_validator("url")
    @classmethod
    def _http(cls, url: SecretStr) -> SecretStr:
        text = url.get_secret_value()
        if not re.match(r"^https?://[^/\s]+", text):
            raise ValueError(
                "url must start with http:// or https:// and name a host, "
                "e.g. http://127.0.0.1:8081/apis/ccompat/v7"
            )
        return SecretStr(text.rstrip("/"))

    @field_validator("owners")
    @classmethod
    def _owner_regexes(cls, owners: dict[str, str]) -> dict[str, str]:
        regexes(list(owners))
        return owners

    @model_validator(mode="after")
    def _timeouts_fit(self) -> RegistryConfig:
        if self.request_timeout * 2 >= self.timeout:
            raise ValueError(
                f"timeout ({self.timeout:g}s) must exceed two request timeouts "
                f"({2 * self.request_timeout:g}s); raise timeout or lower request_timeout"
            )
        return self

    def owner(self, *names: str) -> str | None:
        """Return the team of the first owners regex that matches one of ``names`` whole."""
        for pattern, team in self.owners.items():
            if any(re.fullmatch(pattern, n) for n in names if n):
                return team
        return None
