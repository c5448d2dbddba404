"""`pipelines:` and `probes:`: what a pipeline is made of, and the synthetic probe through it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from lagwatch.collectors.probe.table import TableName
from lagwatch.store.types import Duration

NAME = r"^[A-Za-z0-9_.:-]+$"
IDENT = r"^[a-z_][a-z0-9_]*$"


class SloConfig(BaseModel):
    """`pipelines[].slo`: the freshness a consumer may expect, and how often."""

    model_config = ConfigDict(extra="forbid")

    freshness: Duration = Field(description="a change older than this at the consumer is bad")
    objective: float = Field(99.9, gt=0, lt=100, description="percent of good events")


class ConnectorReader(BaseModel):
    """`pipelines[].reader: {connect: …, connector: …}`: the pipeline's CDC reader is a Kafka
    Connect connector (Debezium), watched by that `connect:` cluster's collector."""

    model_config = ConfigDict(extra="forbid")

    connect: str = Field(pattern=NAME, description="a `connect:` cluster's name")
    connector: str = Field(min_length=1, description="the connector's name in that cluster")


class PipelineConfig(BaseModel):
    """`pipelines: - name: …`: one CDC pipeline from a database table to consumer groups."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    source: str = Field(description="a `sources:` entry (postgres or mysql)")
    slot: str | None = Field(None, description="postgres: the CDC reader's replication slot")
    reader: str | ConnectorReader | None = Field(
        None,
        description="mysql: the CDC reader's name in the source; or, for either kind, "
        "{connect: CLUSTER, connector: NAME}: a Debezium connector, whose lag and health are "
        "then the pipeline's reader hop",
    )
    kafka: str | None = Field(None, description="a `kafka:` cluster; default: the only one")
    topic: str = Field(min_length=1)
    groups: list[str] = []
    slo: SloConfig
    interval: Duration = 10.0

    @property
    def connector(self) -> ConnectorReader | None:
        """The Kafka Connect connector reading the source, when `reader:` names one."""
        return self.reader if isinstance(self.reader, ConnectorReader) else None

    @property
    def reader_name(self) -> str | None:
        """The reader's name in a mysql source (`reader: NAME`), when given as a name."""
        return self.reader if isinstance(self.reader, str) else None


class TapConfig(BaseModel):
    """`probes[].tap`: lagwatch's own log reader on the pipeline's source."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.:-]+$", description="default: PIPELINE-tap"
    )
    dsn: SecretStr | None = Field(
        None,
        description="postgres: a REPLICATION role (default: the probe dsn); "
        "mysql: a REPLICATION SLAVE user (default: the source's dsn)",
    )
    publication: str = Field("lagwatch", pattern=IDENT)
    slot: str | None = Field(
        None, pattern=IDENT, description="postgres: a permanent slot; default: temporary"
    )
    server_id: int | None = Field(
        None, ge=1, lt=2**32, description="mysql: replica id; default: from the name"
    )
    relay: bool = Field(False, description="publish the changes it reads to the probe's topic")
    tables: list[str] = Field([], description="more SCHEMA.TABLEs to relay, e.g. an outbox")


class ProbeConfig(BaseModel):
    """`probes: - pipeline: …`: a synthetic probe through one pipeline."""

    model_config = ConfigDict(extra="forbid")

    pipeline: str
    dsn: SecretStr = Field(description="a role that may write the probe table")
    table: str = Field("lagwatch.probe", description="SCHEMA.TABLE (MySQL: DATABASE.TABLE)")
    interval: Duration = 1.0
    timeout: Duration = Field(
        20.0, description="a hop not reached within this counts the probe lost"
    )
    window: Duration = Field(300.0, description="latency quantiles are over this window")
    topic: str | None = Field(
        None, description="where probe rows land; default: the pipeline's topic"
    )
    tap: TapConfig = TapConfig()
    debezium: bool = Field(
        False,
        description="the pipeline's CDC reader is Debezium with the JSON converter: time its "
        "hop from each change event's envelope (source.ts_ms, ts_ms)",
    )
    otlp_endpoint: str | None = Field(None, description="e.g. http://127.0.0.1:4318/v1/traces")
    keep_traces: Duration = 7 * 86400.0

    def table_name(self) -> TableName:
        return TableName.parse(self.table)
