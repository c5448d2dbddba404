"""`sources: - kind: mysql`: a MySQL or MariaDB server and the CDC readers of its binlog."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from lagwatch.collectors.base import SourceBase
from lagwatch.collectors.outbox import OutboxTable


class BinlogReader(BaseModel):
    """`readers: - name: …`: one CDC reader of this server's binlog.

    ``kind`` may be left out: a reader with ``connect`` (a ``connect:`` cluster's name) or
    ``connect_url`` is a Debezium connector, one with ``query`` a SQL reader.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$", description="reader name, used as a label")
    kind: Literal["debezium", "sql", "tap"] | None = None
    connect: str | None = Field(
        None, description="name of the connect: cluster running the connector (debezium)"
    )
    connect_url: str | None = Field(None, description="Kafka Connect REST URL (debezium)")
    connector: str | None = Field(None, description="connector name on Kafka Connect (debezium)")
    username: str | None = Field(None, description="Kafka Connect basic-auth user (debezium)")
    password: SecretStr | None = Field(None, description="Kafka Connect basic-auth password")
    query: str | None = Field(None, description="SQL returning file, pos and/or gtid (sql)")

    @model_validator(mode="after")
    def _fits_kind(self) -> BinlogReader:
        if self.kind is None:
            if self.connect is not None or self.connect_url is not None:
                self.kind = "debezium"
            elif self.query is not None:
                self.kind = "sql"
            else:
                raise ValueError(
                    "say which kind of reader this is: give connect (a connect: cluster) and "
                    "connector, or connect_url and connector (Debezium), query (SQL), or kind: tap"
                )
        keys = ("connect", "connect_url", "connector", "username", "password", "query")
        given = {k for k in keys if getattr(self, k) is not None}
        if self.kind == "debezium":
            if self.connect is not None and self.connect_url is not None:
                raise ValueError(
                    "give either connect (a connect: cluster) or connect_url, not both"
                )
            via = "connect" if self.connect is not None or "connect_url" not in given else ""
            wanted = {"connect", "connector"} if via else {"connect_url", "connector"}
            # The cluster's own username/password apply to a reader naming it.
            allowed = wanted | (set() if via else {"username", "password"})
        else:
            wanted = {"sql": {"query"}, "tap": set()}[self.kind]
            allowed = wanted
        missing = sorted(wanted - given)
        if missing:
            raise ValueError(f"a {self.kind} reader needs {' and '.join(missing)}")
        extra = sorted(given - allowed)
        if extra:
            raise ValueError(
                f"{', '.join(extra)} does not apply to a {self.kind} reader; remove it"
            )
        if self.connect_url is not None and not self.connect_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError("connect_url must start with http:// or https://")
        return self


class MysqlSource(SourceBase):
    """`sources: - kind: mysql`: a MySQL or MariaDB server with its binlog on, and its CDC readers."""

    kind: Literal["mysql"]
    dsn: SecretStr
    readers: list[BinlogReader] = Field(
        default_factory=list, description="CDC readers of this server's binlog"
    )
    outbox: list[OutboxTable] = Field(
        default_factory=list, description="outbox tables to watch on this server"
    )

    @model_validator(mode="after")
    def _unique_readers(self) -> MysqlSource:
        names = [r.name for r in self.readers]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"readers: names must be unique, repeated: {', '.join(repeated)}")
        return self
