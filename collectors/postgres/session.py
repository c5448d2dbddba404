"""The one way lagwatch opens a PostgreSQL connection to a source, and its error text."""

from __future__ import annotations

from typing import Any

import psycopg
from pydantic import SecretStr

from lagwatch.collectors.base import SourceUnreachable


def error_text(exc: BaseException) -> str:
    """Return a driver error as one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def connect(
    dsn: str,
    timeout: float,
    *,
    application_name: str = "lagwatch",
    read_only: bool = False,
    statement_timeout: bool = True,
) -> psycopg.Connection[Any]:
    """Return an autocommit connection; its statements stop after ``timeout`` unless told not to.

    A replication stream (the tap) passes ``statement_timeout=False``: it holds one
    statement open for as long as it streams.
    """
    options = []
    if statement_timeout:
        options.append(f"-c statement_timeout={max(1, int(timeout * 1000))}")
    if read_only:
        options.append("-c default_transaction_read_only=on")
    return psycopg.connect(
        dsn,
        connect_timeout=max(1, int(timeout)),
        options=" ".join(options),
        autocommit=True,
        application_name=application_name,
    )


def connect_source(dsn: SecretStr, timeout: float, source: str) -> psycopg.Connection[Any]:
    """Return a read-only connection to source ``source``, or raise SourceUnreachable."""
    try:
        return connect(dsn.get_secret_value(), timeout, read_only=True)
    except psycopg.Error as exc:
        raise SourceUnreachable(
            f"source {source}: cannot connect to PostgreSQL: {error_text(exc)}; "
            "check the dsn and that the server is up"
        ) from None
