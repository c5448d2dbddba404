"""The whole config: each package's own section, composed and cross-checked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from lagwatch.alerts.config import AlertsConfig
from lagwatch.collectors.connect import ConnectCluster, check_connect
from lagwatch.collectors.kafka import KafkaCluster
from lagwatch.collectors.kinds import SOURCE_KINDS, SourceConfig
from lagwatch.collectors.probe.config import PipelineConfig, ProbeConfig
from lagwatch.collectors.probe.pipeline import Problem, check_pipelines
from lagwatch.collectors.registry import RegistryConfig
from lagwatch.dashboard.config import DashboardConfig
from lagwatch.loader import ConfigError, load_config, register_tags
from lagwatch.store import StoreConfig
from lagwatch.store.types import Duration

register_tags(list(SOURCE_KINDS))


class DaemonConfig(BaseModel):
    """How `lagwatch run` behaves."""

    model_config = ConfigDict(extra="forbid")

    metrics_listen: str | None = Field(
        "127.0.0.1:9465", description="host:port for /metrics; null turns it off"
    )
    jitter: Duration = 1.0
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")


class LagwatchConfig(BaseModel):
    """The config file: store, sources, kafka, connect, registries, pipelines, probes, alerts,
    dashboard, daemon."""

    model_config = ConfigDict(extra="forbid")

    store: StoreConfig = StoreConfig()
    sources: list[SourceConfig] = []
    kafka: list[KafkaCluster] = []
    connect: list[ConnectCluster] = []
    registries: list[RegistryConfig] = []
    pipelines: list[PipelineConfig] = []
    probes: list[ProbeConfig] = []
    alerts: AlertsConfig = AlertsConfig()
    dashboard: DashboardConfig = DashboardConfig()
    daemon: DaemonConfig = DaemonConfig()

    @model_validator(mode="after")
    def _unique_names(self) -> LagwatchConfig:
        for section, names in (
            ("sources", [s.name for s in self.sources]),
            ("kafka", [k.name for k in self.kafka]),
            ("connect", [c.name for c in self.connect]),
            ("registries", [r.name for r in self.registries]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{section}: names must be unique, repeated: {', '.join(dupes)}")
        return self

    def cross_problems(self) -> list[Problem]:
        """Return each hop a pipeline or probe names that the other sections do not define."""
        problems = check_pipelines(
            self.pipelines, self.probes, self.sources, self.kafka, self.connect
        )
        problems += check_connect(self.connect, self.sources, self.kafka)
        clusters = [k.name for k in self.kafka]
        for i, registry in enumerate(self.registries):
            if registry.kafka not in clusters:
                named = ", ".join(clusters) if clusters else "none defined; add one under kafka:"
                problems.append(
                    (
                        ("registries", i, "kafka"),
                        f"no kafka cluster named {registry.kafka!r}; name one of the kafka: "
                        f"entries ({named})",
                    )
                )
        return problems

    def cluster(self, name: str) -> KafkaCluster:
        """Return the `kafka:` entry called ``name`` (the config was cross-checked)."""
        return next(k for k in self.kafka if k.name == name)

    def secrets(self) -> list[str]:
        """Return every secret value in the config, and the passwords inside URLs."""
        found: list[str] = []
        for value in _walk(self):
            if isinstance(value, SecretStr):
                text = value.get_secret_value()
                if text:
                    found.append(text)
                    password = _url_password(text)
                    if password:
                        found.append(password)
        return found


def _url_password(text: str) -> str | None:
    try:
        return urlsplit(text).password
    except ValueError:
        return None


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)


def load(path: str | os.PathLike[str]) -> LagwatchConfig:
    """Return the config at ``path`` or raise ConfigError naming file, line and key."""
    config = load_config(path, LagwatchConfig)
    assert isinstance(config, LagwatchConfig)
    return config


__all__ = ["ConfigError", "LagwatchConfig", "load"]
