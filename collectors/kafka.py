"""Kafka cluster: consumer-group offsets, lag and verdicts (grows in its own issue)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka.admin import AdminClient
from pydantic import BaseModel, ConfigDict, Field

from collectors.base import CollectorContext, SourceUnreachable
from store import Sample
from store.types import Duration


class GroupFilter(BaseModel):
    """Which consumer groups to watch, by regular expression."""

    model_config = ConfigDict(extra="forbid")

    include: list[str] = [".*"]
    exclude: list[str] = []


class KafkaCluster(BaseModel):
    """`kafka: - name: …`: one Kafka cluster and the groups to watch on it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    bootstrap: str
    interval: Duration = 10.0
    timeout: Duration = 10.0
    groups: GroupFilter = GroupFilter()


class KafkaCollector:
    """Reads one Kafka cluster through the admin API."""

    def __init__(self, config: KafkaCluster) -> None:
        self.config = config
        self.name = f"kafka:{config.name}"
        self.interval = config.interval
        self.timeout = config.timeout
        self._admin = AdminClient(
            {"bootstrap.servers": config.bootstrap, "socket.timeout.ms": int(config.timeout * 1000)}
        )

    def collect(self) -> Iterable[Sample]:
        try:
            metadata = self._admin.list_topics(timeout=self.timeout)
        except Exception as exc:
            raise SourceUnreachable(
                f"kafka {self.config.name}: cannot reach {self.config.bootstrap}: {exc}; "
                "check bootstrap and that the brokers are up"
            ) from None
        yield Sample.of(
            "lagwatch_kafka_brokers", len(metadata.brokers), time.time(), cluster=self.config.name
        )

    def check(self) -> None:
        list(self.collect())

    def close(self) -> None:
        pass


def build(config: KafkaCluster, context: CollectorContext) -> list[KafkaCollector]:
    return [KafkaCollector(config)]
