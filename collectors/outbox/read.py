"""The one statement that reads an outbox table, for PostgreSQL and for MySQL/MariaDB.

The statement is written once (``_TEMPLATE``); a ``Dialect`` supplies how a
name is quoted, how a parameter is written and the few expressions that
differ. Identifiers are quoted, never pasted: psycopg's ``sql.Identifier`` on
PostgreSQL, backticks with embedded backticks doubled on MySQL. Values
(pending statuses, caps, thresholds) always travel as parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import psycopg
import pymysql
from psycopg import sql

if TYPE_CHECKING:
    from lagwatch.collectors.outbox.config import OutboxTable

# Rows counted are capped: a billion-row backlog is reported as "more than cap", not scanned.
_TEMPLATE = (
    "SELECT (SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {pending} LIMIT {limit}) AS b)"
    " AS backlog,"
    " (SELECT {age} FROM {table} WHERE {pending}) AS oldest_age,"
    " {total} AS total,"
    " {stuck} AS stuck"
)


@dataclass(frozen=True)
class Dialect:
    """How one database family writes names, parameters and the expressions that differ."""

    name: str
    ident: Callable[..., Any]
    text: Callable[[str], Any]
    param: Callable[[str], Any]
    render: Callable[..., Any]
    age: str  # seconds since the oldest {col}, as a float
    inserted: str | None  # rows ever inserted into {rel} when no id column is set
    join: Callable[[Sequence[Any]], Any]  # a comma-separated list of parts
    errors: tuple[type[Exception], ...]
    message: Callable[[BaseException], str]  # the driver error as one line
    prepare: Callable[[Any, float], None]
    alive: Callable[[Any], bool]

    def explain(self, exc: BaseException, table: OutboxTable) -> str:
        """Return a sentence naming the table, the database's error and the usual fix."""
        return (
            f"cannot read outbox table {table.label}: {self.message(exc)}; check that the table and "
            "columns exist and that the monitoring role may SELECT from the table"
        )


def quote_mysql(name: str) -> str:
    """Return ``name`` as a MySQL identifier: in backticks, embedded backticks doubled."""
    return "`" + name.replace("`", "``") + "`"


def _pg_ident(*names: str) -> sql.Composable:
    # psycopg quotes the name but leaves "%" alone, and the statement is then scanned for
    # %(name)s placeholders, so a "%" inside a quoted name must be doubled like any other.
    return sql.SQL(sql.Identifier(*names).as_string(None).replace("%", "%%"))


def _mysql_ident(*names: str) -> str:
    # PyMySQL applies "statement % parameters", so "%" inside a quoted name is doubled too.
    return ".".join(quote_mysql(n) for n in names).replace("%", "%%")


def _quote_pg_text(name: str) -> str:
    # Text for a regclass parameter: the server parses it as a quoted identifier.
    return '"' + name.replace('"', '""') + '"'


def _pg_prepare(conn: Any, timeout: float) -> None:
    """Nothing to do: the PostgreSQL connect options already set the timeouts."""


def _mysql_prepare(conn: Any, timeout: float) -> None:
    with conn.cursor() as cur:
        cur.execute("SET SESSION TRANSACTION READ ONLY")
        try:  # MariaDB: seconds, any statement
            cur.execute("SET SESSION max_statement_time = %s", (float(timeout),))
        except pymysql.err.OperationalError:  # MySQL: milliseconds, SELECT only
            cur.execute("SET SESSION max_execution_time = %s", (max(1, int(timeout * 1000)),))


def _pg_message(exc: BaseException) -> str:
    # PostgreSQL adds LINE and caret lines under the message; the first line says it all.
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _mysql_message(exc: BaseException) -> str:
    # PyMySQL errors are (code, message).
    return str(exc.args[-1]) if exc.args else type(exc).__name__


def _mysql_render(template: str, **parts: Any) -> str:
    # Every part is a backtick-quoted identifier, a fixed expression or a %(name)s placeholder.
    return template.format(**parts)


POSTGRES = Dialect(
    name="postgres",
    ident=_pg_ident,
    text=sql.SQL,
    param=sql.Placeholder,
    render=lambda template, **parts: sql.SQL(template).format(**parts),
    age="extract(epoch FROM clock_timestamp() - min({col}))::float8",
    inserted="pg_stat_get_tuples_inserted(to_regclass({rel}))",
    join=sql.SQL(", ").join,
    errors=(psycopg.Error,),
    message=_pg_message,
    prepare=_pg_prepare,
    alive=lambda conn: not (conn.closed or conn.broken),
)

MYSQL = Dialect(
    name="mysql",
    ident=_mysql_ident,
    text=str,
    param=lambda name: f"%({name})s",
    render=_mysql_render,
    age="TIMESTAMPDIFF(MICROSECOND, MIN({col}), NOW(6)) / 1000000",
    inserted=None,
    join=", ".join,
    errors=(pymysql.Error,),
    message=_mysql_message,
    prepare=_mysql_prepare,
    alive=lambda conn: bool(conn.open),
)


def outbox_query(d: Dialect, table: OutboxTable) -> tuple[Any, dict[str, Any]]:
    """Return the statement and its parameters reading backlog, oldest age, total and stuck rows."""
    params: dict[str, Any] = {"limit": table.count_cap + 1}
    if table.published_at is not None:
        pending = d.render("{col} IS NULL", col=d.ident(table.published_at))
    elif table.status is not None:
        names = [f"pending_{i}" for i in range(len(table.pending_values))]
        params.update(zip(names, table.pending_values, strict=True))
        pending = d.render(
            "{col} IN ({values})",
            col=d.ident(table.status),
            values=d.join([d.param(n) for n in names]),
        )
    else:
        pending = d.text("TRUE")
    relation = d.ident(*table.name_parts)
    if table.id_column is not None:
        total = d.render(
            "(SELECT max({col}) FROM {table})", col=d.ident(table.id_column), table=relation
        )
    elif d.inserted is not None:
        params["rel"] = ".".join(_quote_pg_text(n) for n in table.name_parts)
        total = d.render(d.inserted, rel=d.param("rel"))
    else:
        total = d.text("NULL")
    if table.attempts is not None:
        params["max_attempts"] = table.max_attempts
        stuck = d.render(
            "(SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {pending} AND {col} >= {max}"
            " LIMIT {limit}) AS s)",
            table=relation,
            pending=pending,
            col=d.ident(table.attempts),
            max=d.param("max_attempts"),
            limit=d.param("limit"),
        )
    else:
        stuck = d.text("NULL")
    query = d.render(
        _TEMPLATE,
        table=relation,
        pending=pending,
        limit=d.param("limit"),
        age=d.render(d.age, col=d.ident(table.created_at)),
        total=total,
        stuck=stuck,
    )
    return query, params


def _number(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, Decimal | float | int) else float(str(value))


@dataclass(frozen=True)
class OutboxReading:
    """One table's reading: pending rows (up to cap + 1), oldest age, rows ever written, stuck rows."""

    backlog: int
    capped: bool
    oldest_age: float | None
    total: float | None
    stuck: int | None

    @classmethod
    def from_row(cls, row: Sequence[Any], cap: int) -> OutboxReading:
        backlog, oldest_age, total, stuck = row
        return cls(
            backlog=int(backlog),
            capped=int(backlog) > cap,
            oldest_age=_number(oldest_age),
            total=_number(total),
            stuck=None if stuck is None else int(stuck),
        )
