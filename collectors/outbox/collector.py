"""Outbox tables on PostgreSQL or MySQL/MariaDB: backlog, oldest pending row, publish rate.

A polling relay marks rows it has published (a ``published_at`` column, a
``status`` column) or deletes them; what stays pending is the backlog. Each
table is read with one statement per cycle. Names from the config are quoted
as identifiers by the database's own rules and values go as parameters, so
no configured text is ever part of the SQL.

Use from a source kind (one line in its ``build``)::

    *outbox.build(config, outbox.MYSQL, lambda: pymysql.connect(**connect_args(...)))

where ``config`` has ``name``, ``interval``, ``timeout`` and
``outbox: list[OutboxTable]``, and the callable opens a new connection.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lagwatch.collectors.base import SourceUnreachable
from lagwatch.collectors.outbox.config import OutboxTable
from lagwatch.collectors.outbox.read import Dialect, OutboxReading, outbox_query
from lagwatch.store import Sample
from lagwatch.store.contracts import origin


@dataclass
class _Previous:
    ts: float
    total: float | None
    published: float | None


class OutboxCollector:
    """Reads every outbox table of one source over one kept connection, one statement per table."""

    def __init__(
        self,
        source: str,
        tables: Sequence[OutboxTable],
        dialect: Dialect,
        connect: Callable[[], Any],
        interval: float,
        timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.tables = list(tables)
        self.dialect = dialect
        self.connect = connect
        self.name = f"outbox:{source}"
        self.origins: tuple[str, ...] = (origin("source", source),)
        self.interval = interval
        self.timeout = timeout
        self.clock = clock
        self._conn: Any = None
        self._previous: dict[str, _Previous] = {}

    def _connection(self) -> Any:
        if self._conn is None or not self.dialect.alive(self._conn):
            self.close()
            conn = self.connect()
            try:
                self.dialect.prepare(conn, self.timeout)
            except self.dialect.errors as exc:
                conn.close()
                raise SourceUnreachable(
                    f"source {self.source}: cannot set up the outbox connection: {exc}"
                ) from None
            self._conn = conn
        return self._conn

    def read(self, table: OutboxTable) -> OutboxReading:
        """Return one reading of one table (one statement)."""
        query, params = outbox_query(self.dialect, table)
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                row = cur.fetchone()
        except self.dialect.errors as exc:
            if not self.dialect.alive(conn):
                self.close()
                raise SourceUnreachable(
                    f"source {self.source}: lost the connection while reading outbox "
                    f"{table.label}: {exc}"
                ) from None
            raise
        return OutboxReading.from_row(row, table.count_cap)

    def collect(self) -> Iterable[Sample]:
        out: list[Sample] = []
        for table in self.tables:
            labels = {"source": self.source, "table": table.label}
            try:
                reading = self.read(table)
            except self.dialect.errors as exc:
                # don't raise: one missing table or grant must not hide the others
                note = self.dialect.explain(exc, table)
                out.append(Sample.of("lagwatch_outbox_up", 0, self.clock(), note=note, **labels))
                continue
            now = self.clock()
            out.append(Sample.of("lagwatch_outbox_up", 1, now, **labels))
            out.extend(self._samples(table, reading, now, labels))
        return out

    def _samples(
        self, table: OutboxTable, reading: OutboxReading, now: float, labels: dict[str, str]
    ) -> Iterable[Sample]:
        cap = table.count_cap
        more = f"more than {cap} pending rows; counting stops at count_cap"
        yield Sample.of(
            "lagwatch_outbox_backlog_rows",
            min(reading.backlog, cap),
            now,
            note=more if reading.capped else None,
            **labels,
        )
        yield Sample.of("lagwatch_outbox_backlog_capped", 1 if reading.capped else 0, now, **labels)
        if reading.oldest_age is None:
            yield Sample.of(
                "lagwatch_outbox_oldest_age_seconds", 0, now, note="no pending rows", **labels
            )
        else:
            yield Sample.of(
                "lagwatch_outbox_oldest_age_seconds", max(0.0, reading.oldest_age), now, **labels
            )
        if reading.stuck is not None:
            yield Sample.of(
                "lagwatch_outbox_stuck_rows",
                min(reading.stuck, cap),
                now,
                note=f"pending rows with {table.attempts} >= {table.max_attempts}"
                + ("; " + more if reading.stuck > cap else ""),
                **labels,
            )
        # Rows published so far = rows ever written - rows still pending; unknown when capped.
        published = (
            None if reading.total is None or reading.capped else reading.total - reading.backlog
        )
        before = self._previous.get(table.label)
        self._previous[table.label] = _Previous(now, reading.total, published)
        if before is None or now <= before.ts:
            return
        elapsed = now - before.ts
        if reading.total is not None and before.total is not None and reading.total >= before.total:
            yield Sample.of(
                "lagwatch_outbox_created_per_second",
                (reading.total - before.total) / elapsed,
                now,
                **labels,
            )
        if published is not None and before.published is not None:
            delta = published - before.published
            yield Sample.of(
                "lagwatch_outbox_published_per_second",
                max(0.0, delta) / elapsed,
                now,
                note=None
                if delta >= 0
                else "published count went down (rows re-queued, or statistics reset): shown as 0",
                **labels,
            )

    def check(self) -> None:
        for table in self.tables:
            try:
                self.read(table)
            except self.dialect.errors as exc:
                raise SourceUnreachable(
                    f"source {self.source}: {self.dialect.explain(exc, table)}"
                ) from None

    def close(self) -> None:
        if self._conn is not None:
            # A connection that already died may raise on close; there is nothing left to keep.
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None


def build(config: Any, dialect: Dialect, connect: Callable[[], Any]) -> list[OutboxCollector]:
    """Return one outbox collector for a source with ``outbox:`` tables, none without.

    ``config`` is the source's model (``name``, ``interval``, ``timeout``,
    ``outbox``); ``dialect`` is POSTGRES or MYSQL; ``connect`` opens a new
    DB-API connection to that source.
    """
    tables = list(getattr(config, "outbox", None) or [])
    if not tables:
        return []
    return [OutboxCollector(config.name, tables, dialect, connect, config.interval, config.timeout)]
