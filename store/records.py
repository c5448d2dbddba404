"""Keyed JSON records (alert state, silences, outbox, traces), the same SQL on both backends."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from lagwatch.store.sample import Record
from lagwatch.store.schema import CHUNK, MS, to_ms


class SqlRecords:
    """The record half of the Store protocol; mixed into SqlStore, which supplies the cursor."""

    placeholder: str

    def _sql(self, sql: str) -> str:
        raise NotImplementedError

    def _cursor(self, commit: bool = False) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def put_records(self, records: Sequence[Record]) -> None:
        if not records:
            return
        with self._cursor(commit=True) as cur:
            cur.executemany(
                self._sql(
                    "INSERT INTO records (namespace, key, ts, body) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (namespace, key) DO UPDATE SET ts = excluded.ts, body = excluded.body"
                ),
                [(r.namespace, r.key, to_ms(r.ts), json.dumps(r.body)) for r in records],
            )

    def get_record(self, namespace: str, key: str) -> Record | None:
        with self._cursor() as cur:
            cur.execute(
                self._sql("SELECT ts, body FROM records WHERE namespace = ? AND key = ?"),
                (namespace, key),
            )
            row = cur.fetchone()
        return None if row is None else Record(namespace, key, row[0] / MS, json.loads(row[1]))

    def list_records(
        self,
        namespace: str,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Record]:
        sql = "SELECT key, ts, body FROM records WHERE namespace = ?"
        params: list[Any] = [namespace]
        if since is not None:
            sql += " AND ts >= ?"
            params.append(to_ms(since))
        if until is not None:
            sql += " AND ts <= ?"
            params.append(to_ms(until))
        sql += " ORDER BY ts DESC, key DESC" if newest_first else " ORDER BY ts, key"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._cursor() as cur:
            cur.execute(self._sql(sql), params)
            rows = cur.fetchall()
        return [Record(namespace, k, ts / MS, json.loads(body)) for k, ts, body in rows]

    def delete_records(
        self, namespace: str, keys: Sequence[str] = (), older_than: float | None = None
    ) -> int:
        deleted = 0
        with self._cursor(commit=True) as cur:
            for i in range(0, len(keys), CHUNK):
                part = list(keys[i : i + CHUNK])
                marks = ",".join([self.placeholder] * len(part))
                cur.execute(
                    self._sql(f"DELETE FROM records WHERE namespace = ? AND key IN ({marks})"),  # noqa: S608 - only placeholders
                    [namespace, *part],
                )
                deleted += max(cur.rowcount, 0)
            if older_than is not None:
                cur.execute(
                    self._sql("DELETE FROM records WHERE namespace = ? AND ts < ?"),
                    (namespace, to_ms(older_than)),
                )
                deleted += max(cur.rowcount, 0)
        return deleted
