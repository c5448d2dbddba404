"""The collector's one way to talk SQL: a batch of statements in one round trip.

The collector takes a ``Session`` as an argument, so the same code reads a
live server (``PyMysqlSession``) or recorded output from ``sample_data/mysql``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import pymysql
from pymysql.constants import CLIENT

from lagwatch.collectors.base import SourceUnreachable

Rows = list[dict[str, Any]]


class Session(Protocol):
    """Runs SQL on one MySQL/MariaDB server."""

    def run(self, statements: Sequence[str]) -> list[Rows]:
        """Return the rows of each statement, all sent in one round trip."""
        ...

    def query(self, sql: str, args: Sequence[Any]) -> Rows:
        """Return the rows of one statement with ``%s`` parameters bound by the driver."""
        ...

    def close(self) -> None: ...


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


class PyMysqlSession:
    """A live server over one PyMySQL connection with multi-statement batches on."""

    def __init__(self, dsn: str, timeout: float) -> None:
        self._conn = pymysql.connect(
            **connect_args(dsn, timeout), client_flag=CLIENT.MULTI_STATEMENTS
        )

    def run(self, statements: Sequence[str]) -> list[Rows]:
        results: list[Rows] = []
        with self._conn.cursor() as cur:
            cur.execute(";\n".join(statements))
            while True:
                results.append(_dicts(cur))
                if not cur.nextset():
                    break
        if len(results) != len(statements):
            # A configured query holding several statements would shift every
            # result after it; refuse rather than read the wrong rows.
            raise ValueError(
                f"expected {len(statements)} result(s) but the server sent {len(results)}; "
                "each query must be exactly one statement"
            )
        return results

    def query(self, sql: str, args: Sequence[Any]) -> Rows:
        with self._conn.cursor() as cur:
            cur.execute(sql, tuple(args))
            return _dicts(cur)

    @property
    def open(self) -> bool:
        return bool(self._conn.open)

    def close(self) -> None:
        if self._conn.open:
            self._conn.close()


def _dicts(cur: Any) -> Rows:
    if cur.description is None:
        return []
    names = [column[0] for column in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def error_text(exc: BaseException) -> str:
    """Return a driver error as one line: "(code) message" for server errors."""
    args: tuple[object, ...] = tuple(getattr(exc, "args", ()))
    if len(args) == 2 and isinstance(args[1], str):
        return f"({args[0]}) {args[1]}"
    return str(exc) or type(exc).__name__
