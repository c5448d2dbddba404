"""MySQL / MariaDB source: binlog retention and CDC readers (grows in its own issue)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import pymysql
from pydantic import SecretStr

from collectors.base import CollectorContext, SourceBase, SourceUnreachable
from store import Sample


class MysqlSource(SourceBase):
    """`sources: - kind: mysql`: a MySQL or MariaDB server with its binlog on."""

    kind: Literal["mysql"]
    dsn: SecretStr


def connect_args(dsn: str, timeout: float) -> dict[str, Any]:
    """Return PyMySQL connect arguments for mysql://user:password@host:port/db."""
    url = urlsplit(dsn)
    if url.scheme not in ("mysql", "mariadb"):
        raise SourceUnreachable("dsn must look like mysql://USER:PASSWORD@HOST:PORT/DATABASE")
    return {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 3306,
        "user": unquote(url.username or ""),
        "password": unquote(url.password or ""),
        "database": url.path.lstrip("/") or None,
        "connect_timeout": max(1, int(timeout)),
        "read_timeout": max(1, int(timeout)),
        "write_timeout": max(1, int(timeout)),
        "autocommit": True,
    }


class MysqlCollector:
    """Reads one MySQL/MariaDB server over one kept connection."""

    def __init__(self, config: MysqlSource) -> None:
        self.config = config
        self.name = f"mysql:{config.name}"
        self.interval = config.interval
        self.timeout = config.timeout
        self._conn: pymysql.connections.Connection[Any] | None = None

    def _connection(self) -> pymysql.connections.Connection[Any]:
        if self._conn is None or not self._conn.open:
            try:
                self._conn = pymysql.connect(
                    **connect_args(self.config.dsn.get_secret_value(), self.timeout)
                )
            except pymysql.Error as exc:
                raise SourceUnreachable(
                    f"source {self.config.name}: cannot connect to MySQL/MariaDB: {exc.args[-1]}; "
                    "check the dsn and that the server is up"
                ) from None
        return self._conn

    def collect(self) -> Iterable[Sample]:
        try:
            with self._connection().cursor() as cur:
                cur.execute("SHOW BINARY LOGS")
                files = cur.fetchall()
        except pymysql.OperationalError:
            self.close()
            raise
        now = time.time()
        yield Sample.of("lagwatch_mysql_binlog_files", len(files), now, source=self.config.name)

    def check(self) -> None:
        with self._connection().cursor() as cur:
            cur.execute("SELECT 1")

    def close(self) -> None:
        if self._conn is not None and self._conn.open:
            self._conn.close()
        self._conn = None


def build(config: MysqlSource, context: CollectorContext) -> list[MysqlCollector]:
    return [MysqlCollector(config)]
