"""`connect: - name: …`: one Kafka Connect cluster (its REST API), and where its offsets live."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from lagwatch.collectors.filters import NameFilter
from lagwatch.store.types import Duration

Problem = tuple[tuple[Any, ...], str]
"""A config path such as ("connect", 0, "kafka") and what is wrong there."""


class ConnectorFilter(NameFilter):
    """Which connectors to watch: a connector is watched when its whole name matches an
    include and no exclude (a worker shared by several teams)."""


class ConnectCluster(BaseModel):
    """`connect: - name: …`: one Kafka Connect cluster, read through its REST API."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$", description="cluster name, used as a label")
    url: str = Field(description="REST URL of any worker, e.g. http://connect:8083")
    interval: Duration = 10.0
    timeout: Duration = Field(20.0, description="time one whole cycle may take")
    request_timeout: Duration = Field(5.0, description="timeout of each REST request")
    reader_stall: Duration = Field(
        180.0,
        description="a connector's position not moving this long while changes wait is "
        "NOT_ADVANCING; above Debezium's offset.flush.interval.ms (60s by default)",
    )
    offsets_timeout: Duration = Field(
        5.0, description="time all of a cycle's offsets requests may take together"
    )
    concurrency: int = Field(8, ge=1, le=64, description="offsets requests in flight at once")
    username: str | None = Field(None, description="basic-auth user of the REST API")
    password: SecretStr | None = Field(None, description="basic-auth password of the REST API")
    offsets: Literal["debezium", "source", "none"] = Field(
        "debezium",
        description="whose source offsets to read each cycle: Debezium connectors, every "
        "source connector, or none",
    )
    kafka: str | None = Field(
        None,
        description="the kafka: cluster holding Connect's internal topics; lets lagwatch read "
        "committed offsets from offsets_topic when the REST API is down",
    )
    offsets_topic: str = Field(
        "connect-offsets", description="the workers' offset.storage.topic", min_length=1
    )
    connectors: ConnectorFilter = Field(
        default_factory=ConnectorFilter,
        description="which connectors to watch (include/exclude regexes, whole names)",
    )
    links: dict[str, str] = Field(
        default_factory=dict,
        description="connector name → the sources: entry it reads, where the automatic match "
        "(by database host, port and name, then by slot name) cannot tell",
    )

    @model_validator(mode="after")
    def _fits(self) -> ConnectCluster:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("url must look like http://HOST:PORT (or https://…)")
        if "@" in parts.netloc:
            raise ValueError(
                "url must not carry credentials; give them as username and password "
                "(password from ${ENV} or password_file)"
            )
        if self.password is not None and self.username is None:
            raise ValueError("password is set but username is not; give both or neither")
        needed = self.request_timeout + self.offsets_timeout
        if needed >= self.timeout:
            raise ValueError(
                f"timeout ({self.timeout:g}s) must exceed request_timeout plus offsets_timeout "
                f"({needed:g}s); raise timeout or lower the other two"
            )
        return self

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")


def check_connect(
    clusters: Sequence[ConnectCluster], sources: Sequence[Any], kafka: Sequence[Any]
) -> list[Problem]:
    """Return each name a connect: entry or a reader's `connect:` gives that the config lacks."""
    problems: list[Problem] = []
    names = [c.name for c in clusters]
    kafka_names = [k.name for k in kafka]
    source_names = [s.name for s in sources]
    seen: set[str] = set()
    for i, cluster in enumerate(clusters):
        at = ("connect", i)
        if cluster.name in seen:
            problems.append(((*at, "name"), f"connect cluster {cluster.name!r} is defined twice"))
        seen.add(cluster.name)
        if cluster.name in kafka_names:
            problems.append(
                (
                    (*at, "name"),
                    f"a kafka: cluster is also named {cluster.name!r}; both would be "
                    f"cluster:{cluster.name} to the alert engine, so rename one",
                )
            )
        if cluster.kafka is not None and cluster.kafka not in kafka_names:
            problems.append(
                (
                    (*at, "kafka"),
                    f"no kafka cluster named {cluster.kafka!r}; name one of ({_list(kafka_names)})",
                )
            )
        for connector, source in cluster.links.items():
            if source not in source_names:
                problems.append(
                    (
                        (*at, "links", connector),
                        f"no source named {source!r}; name one of the sources: entries "
                        f"({_list(source_names)})",
                    )
                )
    for i, source in enumerate(sources):
        for j, reader in enumerate(getattr(source, "readers", None) or ()):
            wanted = getattr(reader, "connect", None)
            if wanted is not None and wanted not in names:
                problems.append(
                    (
                        ("sources", i, "readers", j, "connect"),
                        f"no connect cluster named {wanted!r}; add it under connect: or name "
                        f"one of ({_list(names)})",
                    )
                )
    return problems


def _list(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none defined"
