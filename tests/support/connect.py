"""Real Debezium connectors on the devstack's Kafka Connect worker, made and removed by tests.

Each helper makes uniquely named objects (table, publication, slot, connector,
topics) and ``remove`` takes them down in the order the devstack README gives:
stop, wait for STOPPED, delete the offsets, delete the connector, drop the slot,
delete the topics. Nothing here stubs Connect: every call is a real REST call.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pymysql
from confluent_kafka.admin import AdminClient

from lagwatch.collectors.mysql.session import connect_args
from lagwatch.collectors.probe.table import backtick
from lagwatch.devstack import devstack_env

ENV = devstack_env()
PG_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
MARIADB_CLASS = "io.debezium.connector.mariadb.MariaDbConnector"
FILE_SOURCE_CLASS = "org.apache.kafka.connect.file.FileStreamSourceConnector"


def env(key: str) -> str:
    return os.environ.get(f"LAGWATCH_{key}") or ENV[f"LAGWATCH_{key}"]


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, step: float = 0.25) -> Any:
    """Return the first truthy value of ``predicate()``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:g}s waiting for {predicate}")
        time.sleep(step)


class Rest:
    """Kafka Connect's REST API at ``url``, raising on answers it does not expect."""

    def __init__(self, url: str | None = None) -> None:
        self.url = (url or env("CONNECT_URL")).rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=60.0)

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = ()) -> Any:
        response = self.http.request(method, path, json=body)
        if response.status_code >= 400 and response.status_code not in ok:
            raise AssertionError(
                f"{method} {path} → HTTP {response.status_code}: {response.text[:500]}"
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def create(self, name: str, config: dict[str, str]) -> None:
        self.call("POST", "/connectors", {"name": name, "config": config})

    def status(self, name: str) -> dict[str, Any]:
        return self.call("GET", f"/connectors/{name}/status", ok=(404,))  # type: ignore[no-any-return]

    def state(self, name: str) -> str | None:
        status = self.status(name)
        return status.get("connector", {}).get("state") if "connector" in status else None

    def task_states(self, name: str) -> list[str]:
        return [t["state"] for t in self.status(name).get("tasks", [])]

    def offsets(self, name: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/connectors/{name}/offsets")["offsets"]  # type: ignore[no-any-return]

    def wait_state(self, name: str, state: str, timeout: float = 90.0) -> None:
        wait_for(lambda: self.state(name) == state, timeout)

    def wait_running(self, name: str, tasks: int = 1, timeout: float = 90.0) -> None:
        wait_for(
            lambda: self.state(name) == "RUNNING" and self.task_states(name) == ["RUNNING"] * tasks,
            timeout,
        )

    def stop(self, name: str) -> None:
        self.call("PUT", f"/connectors/{name}/stop")
        self.wait_state(name, "STOPPED")

    def remove(self, name: str) -> None:
        """Stop, delete offsets, delete the connector; quietly if it is already gone."""
        if self.state(name) is None:
            return
        with suppress(AssertionError):
            self.stop(name)
            self.call("DELETE", f"/connectors/{name}/offsets", ok=(400, 404))
        self.call("DELETE", f"/connectors/{name}", ok=(404,))

    def close(self) -> None:
        self.http.close()


def delete_topics(names: list[str], prefix: str | None = None) -> None:
    """Delete the named topics and every topic starting with ``prefix``; ignore missing ones."""
    admin = AdminClient({"bootstrap.servers": env("KAFKA_BOOTSTRAP")})
    found = set(admin.list_topics(timeout=20).topics)
    doomed = sorted(
        {n for n in names if n in found} | {t for t in found if prefix and t.startswith(prefix)}
    )
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=30).values():
            with suppress(Exception):
                future.result(timeout=30)


# -- PostgreSQL ------------------------------------------------------------------------


def pg(dsn: str | None = None) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn or env("PG_ADMIN_DSN"), autocommit=True)


@dataclass
class PgConnector:
    """A Debezium PostgreSQL connector on its own table, publication and slot."""

    suffix: str
    rest: Rest
    host: str = "127.0.0.1"
    port: int = 5432
    dbname: str = "lagwatch_test"
    admin_dsn: str = field(default_factory=lambda: env("PG_ADMIN_DSN"))
    password: str = field(default_factory=lambda: env("DEBEZIUM_PASSWORD"))
    snapshot: str = "no_data"
    extra: dict[str, str] = field(default_factory=dict)
    publish: bool = True
    """Make the publication for its table; False leaves it to Debezium
    (``publication.autocreate.mode`` in ``extra``)."""

    @property
    def name(self) -> str:
        return f"lw-pg-{self.suffix}"

    @property
    def table(self) -> str:
        return f"cx_{self.suffix}"

    @property
    def slot(self) -> str:
        return f"cx_slot_{self.suffix}"

    @property
    def publication(self) -> str:
        return f"cx_pub_{self.suffix}"

    @property
    def prefix(self) -> str:
        return f"cxpg{self.suffix}"

    def config(self) -> dict[str, str]:
        return {
            "connector.class": PG_CLASS,
            "tasks.max": "1",
            "database.hostname": self.host,
            "database.port": str(self.port),
            "database.user": env("DEBEZIUM_USER"),
            "database.password": self.password,
            "database.dbname": self.dbname,
            "topic.prefix": self.prefix,
            "plugin.name": "pgoutput",
            "slot.name": self.slot,
            "publication.name": self.publication,
            "publication.autocreate.mode": "disabled",
            "table.include.list": f"public.{self.table}",
            "snapshot.mode": self.snapshot,
            **self.extra,
        }

    def create_table(self, rows: int = 0) -> None:
        with pg(self.admin_dsn) as conn:
            conn.execute(
                psycopg.sql.SQL("CREATE TABLE public.{} (id int PRIMARY KEY, note text)").format(
                    psycopg.sql.Identifier(self.table)
                )
            )
            if rows:
                conn.execute(
                    psycopg.sql.SQL(
                        "INSERT INTO public.{} SELECT g, repeat('x', 100) FROM generate_series(1, %s) g"
                    ).format(psycopg.sql.Identifier(self.table)),
                    (rows,),
                )
            if self.publish:
                conn.execute(
                    psycopg.sql.SQL("CREATE PUBLICATION {} FOR TABLE public.{}").format(
                        psycopg.sql.Identifier(self.publication),
                        psycopg.sql.Identifier(self.table),
                    )
                )

    def start(self, wait: bool = True) -> None:
        self.rest.create(self.name, self.config())
        if wait:
            self.rest.wait_running(self.name)
            wait_for(lambda: self.slot_active(), 90)

    def slot_active(self) -> bool:
        with pg(self.admin_dsn) as conn:
            row = conn.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (self.slot,)
            ).fetchone()
        return bool(row and row[0])

    def insert(self, first: int, count: int = 1) -> None:
        with pg(self.admin_dsn) as conn:
            conn.execute(
                psycopg.sql.SQL(
                    "INSERT INTO public.{} SELECT g, 'n' FROM generate_series(%s::int, %s::int) g"
                ).format(psycopg.sql.Identifier(self.table)),
                (first, first + count - 1),
            )

    def offset(self) -> dict[str, Any] | None:
        entries = self.rest.offsets(self.name)
        return entries[0]["offset"] if entries else None

    def remove(self) -> None:
        self.rest.remove(self.name)
        self.drop()

    def drop(self) -> None:
        """Drop the slot (once no reader holds it), publication, table and topics; what
        ``remove`` does after the connector is gone, and all a killed worker leaves."""
        with pg(self.admin_dsn) as conn:
            wait_for(lambda: not self.slot_active(), 60)
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = %s",
                (self.slot,),
            )
            conn.execute(
                psycopg.sql.SQL("DROP PUBLICATION IF EXISTS {}").format(
                    psycopg.sql.Identifier(self.publication)
                )
            )
            conn.execute(
                psycopg.sql.SQL("DROP TABLE IF EXISTS public.{}").format(
                    psycopg.sql.Identifier(self.table)
                )
            )
        delete_topics([], prefix=f"{self.prefix}.")


@contextmanager
def pg_connector(suffix: str, rest: Rest, rows: int = 0, **options: Any) -> Iterator[PgConnector]:
    """A running PostgreSQL connector for the block, removed afterwards."""
    connector = PgConnector(suffix, rest, **options)
    connector.create_table(rows)
    try:
        connector.start()
        yield connector
    finally:
        connector.remove()


# -- MariaDB ---------------------------------------------------------------------------


def mariadb(dsn: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(**connect_args(dsn or env("MYSQL_ADMIN_DSN"), 10))


def server_id(suffix: str) -> str:
    """A replication server id of its own per connector (the server itself is 1)."""
    return str(200000 + zlib.crc32(suffix.encode()) % 4_000_000)


@dataclass
class MariaDbConnector:
    """A Debezium MariaDB connector on its own table (on the devstack's MariaDB, or on the
    server ``host``/``port`` whose admin login is ``admin_dsn``)."""

    suffix: str
    rest: Rest
    extra: dict[str, str] = field(default_factory=dict)
    host: str = field(default_factory=lambda: env("MYSQL_HOST"))
    port: int = field(default_factory=lambda: int(env("MYSQL_PORT")))
    admin_dsn: str = field(default_factory=lambda: env("MYSQL_ADMIN_DSN"))

    @property
    def name(self) -> str:
        return f"lw-my-{self.suffix}"

    @property
    def table(self) -> str:
        return f"cx_{self.suffix}"

    @property
    def prefix(self) -> str:
        return f"cxmy{self.suffix}"

    @property
    def history_topic(self) -> str:
        return f"{self.prefix}.schema-history"

    def config(self) -> dict[str, str]:
        database = env("MYSQL_DATABASE")
        return {
            "connector.class": MARIADB_CLASS,
            "tasks.max": "1",
            "database.hostname": self.host,
            "database.port": str(self.port),
            "database.user": env("DEBEZIUM_USER"),
            "database.password": env("DEBEZIUM_PASSWORD"),
            "database.server.id": server_id(self.suffix),
            "topic.prefix": self.prefix,
            "database.include.list": database,
            "table.include.list": f"{database}.{self.table}",
            "schema.history.internal.kafka.bootstrap.servers": env("KAFKA_BOOTSTRAP"),
            "schema.history.internal.kafka.topic": self.history_topic,
            "include.schema.changes": "false",
            "snapshot.mode": "no_data",
            **self.extra,
        }

    def execute(self, sql: str, args: Any = None) -> None:
        conn = mariadb(self.admin_dsn)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
        finally:
            conn.close()

    def create_table(self) -> None:
        self.execute(f"CREATE TABLE {backtick(self.table)} (id int PRIMARY KEY, note text)")

    def start(self) -> None:
        self.rest.create(self.name, self.config())
        self.rest.wait_running(self.name)
        wait_for(self.reading, 90)

    def reading(self) -> bool:
        """True once the connector's binlog dump thread is connected."""
        conn = mariadb(self.admin_dsn)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                    "WHERE USER = %s AND COMMAND LIKE %s",
                    (env("DEBEZIUM_USER"), "Binlog Dump%"),
                )
                row = cur.fetchone()
        finally:
            conn.close()
        return bool(row and row[0])

    def insert(self, first: int, count: int = 1, note: str = "n") -> None:
        """Insert ``count`` rows in one statement (one transaction)."""
        marks = ",".join(["(%s, %s)"] * count)
        args = [v for i in range(first, first + count) for v in (i, note)]
        self.execute(f"INSERT INTO {backtick(self.table)} VALUES {marks}", args)  # noqa: S608 - quoted name, bound values

    def offset(self) -> dict[str, Any] | None:
        entries = self.rest.offsets(self.name)
        return entries[0]["offset"] if entries else None

    def remove(self) -> None:
        self.rest.remove(self.name)
        self.execute(f"DROP TABLE IF EXISTS {backtick(self.table)}")
        delete_topics([self.history_topic], prefix=f"{self.prefix}.")


@contextmanager
def mariadb_connector(suffix: str, rest: Rest, **options: Any) -> Iterator[MariaDbConnector]:
    connector = MariaDbConnector(suffix, rest, **options)
    connector.create_table()
    try:
        connector.start()
        yield connector
    finally:
        connector.remove()


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
