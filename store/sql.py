"""The SQL shared by both backends; each backend supplies connect, placeholders and errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from store.config import Retention
from store.protocol import Aggregation, StoreUnavailable
from store.sample import Labels, LatestValue, Record, Sample, Series, labels_key
from store.schema import ROLLUPS, SCHEMA

MS = 1000
# Samples arriving this late still land in their rollup bucket.
LATE_GRACE_MS = 5 * 60_000
CHUNK = 500


def _to_ms(ts: float) -> int:
    return int(round(ts * MS))


# Bucket widths a range query rounds its step up to, so buckets align with clock time.
NICE_STEPS_MS = [
    ms * 1000
    for ms in (
        1,
        2,
        5,
        10,
        15,
        30,
        60,
        120,
        300,
        600,
        900,
        1800,
        3600,
        7200,
        10800,
        21600,
        43200,
        86400,
    )
]


def _nice_step(step_ms: int) -> int:
    if step_ms <= 1:
        return 1
    for nice in NICE_STEPS_MS:
        if step_ms <= nice:
            return nice
    return -(-step_ms // 86_400_000) * 86_400_000


def _matches(labels: Labels, matchers: Mapping[str, str] | None) -> bool:
    if not matchers:
        return True
    have = dict(labels)
    return all(have.get(k) == v for k, v in matchers.items())


class SqlStore:
    """Store logic over a DB-API connection; subclasses adapt it to one database.

    One lock serialises use of the connection, so the object is safe to share
    between the daemon's job threads.
    """

    placeholder = "?"
    id_type = "INTEGER PRIMARY KEY"
    without_rowid = ""
    errors: tuple[type[BaseException], ...] = ()

    def __init__(self, retention: Retention | None = None, read_only: bool = False) -> None:
        self.retention = retention or Retention()
        self.read_only = read_only
        self._lock = threading.RLock()
        self._conn: Any = None
        self._series_ids: dict[tuple[str, Labels], int] = {}
        self._series_by_id: dict[int, tuple[str, Labels]] = {}

    # -- backend hooks -------------------------------------------------------

    def _connect(self) -> Any:
        raise NotImplementedError

    def _after_schema(self, cur: Any) -> None:
        """Backend-specific setup after the tables exist."""

    # -- connection ----------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _open(self) -> Any:
        if self._conn is None:
            conn = self._connect()
            if not self.read_only:
                cur = conn.cursor()
                for statement in SCHEMA:
                    cur.execute(statement.format(id=self.id_type, without_rowid=self.without_rowid))
                self._after_schema(cur)
                conn.commit()
            self._conn = conn
        return self._conn

    def _reset(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                conn.close()

    @contextmanager
    def _cursor(self, commit: bool = False) -> Iterator[Any]:
        """Yield a cursor under the lock; turn driver errors into StoreUnavailable."""
        with self._lock:
            try:
                conn = self._open()
                cur = conn.cursor()
                try:
                    yield cur
                    if commit:
                        conn.commit()
                    elif not self.read_only:
                        conn.rollback()
                finally:
                    cur.close()
            except self.errors as exc:
                self._reset()
                raise StoreUnavailable(f"{type(self).__name__}: {exc}".strip()) from exc

    def close(self) -> None:
        with self._lock:
            self._reset()

    # -- series --------------------------------------------------------------

    def _load_series(self, cur: Any, ids: Sequence[int] | None = None) -> None:
        if ids is None:
            cur.execute("SELECT id, name, labels FROM series")
            rows = cur.fetchall()
        else:
            rows = []
            for i in range(0, len(ids), CHUNK):
                part = list(ids[i : i + CHUNK])
                marks = ",".join([self.placeholder] * len(part))
                cur.execute(f"SELECT id, name, labels FROM series WHERE id IN ({marks})", part)  # noqa: S608 - only placeholders
                rows.extend(cur.fetchall())
        for sid, name, text in rows:
            labels = tuple(sorted(json.loads(text).items()))
            self._series_by_id[sid] = (name, labels)
            self._series_ids[(name, labels)] = sid

    def _series_id(self, cur: Any, name: str, labels: Labels) -> int:
        sid = self._series_ids.get((name, labels))
        if sid is not None:
            return sid
        text = labels_key(labels)
        cur.execute(
            self._sql("INSERT INTO series (name, labels) VALUES (?, ?) ON CONFLICT DO NOTHING"),
            (name, text),
        )
        cur.execute(self._sql("SELECT id FROM series WHERE name = ? AND labels = ?"), (name, text))
        sid = int(cur.fetchone()[0])
        self._series_ids[(name, labels)] = sid
        self._series_by_id[sid] = (name, labels)
        return sid

    def _describe(self, cur: Any, ids: Sequence[int]) -> None:
        missing = [i for i in ids if i not in self._series_by_id]
        if missing:
            self._load_series(cur, missing)

    def _matching_ids(
        self, cur: Any, name: str | None, matchers: Mapping[str, str] | None
    ) -> list[int]:
        if name is None:
            cur.execute("SELECT id FROM series")
        else:
            cur.execute(self._sql("SELECT id FROM series WHERE name = ?"), (name,))
        ids = [int(r[0]) for r in cur.fetchall()]
        self._describe(cur, ids)
        return [i for i in ids if _matches(self._series_by_id[i][1], matchers)]

    # -- writing -------------------------------------------------------------

    def write(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        with self._cursor(commit=True) as cur:
            rows = []
            newest: dict[int, tuple[int, float, str | None]] = {}
            ids = self._series_ids
            for s in samples:
                sid = ids.get((s.name, s.labels)) or self._series_id(cur, s.name, s.labels)
                ts = int(s.ts * MS)
                rows.append((sid, ts, s.value))
                seen = newest.get(sid)
                if seen is None or ts >= seen[0]:
                    newest[sid] = (ts, s.value, s.note)
            cur.executemany(
                self._sql(
                    "INSERT INTO samples (series_id, ts, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value"
                ),
                rows,
            )
            cur.executemany(
                self._sql(
                    "INSERT INTO latest (series_id, ts, value, note) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (series_id) DO UPDATE SET ts = excluded.ts, "
                    "value = excluded.value, note = excluded.note WHERE excluded.ts >= latest.ts"
                ),
                [(sid, ts, value, note) for sid, (ts, value, note) in newest.items()],
            )

    # -- reading -------------------------------------------------------------

    def latest(
        self, name: str | None = None, matchers: Mapping[str, str] | None = None
    ) -> list[LatestValue]:
        with self._cursor() as cur:
            if name is None:
                cur.execute("SELECT series_id, ts, value, note FROM latest")
            else:
                cur.execute(
                    self._sql(
                        "SELECT l.series_id, l.ts, l.value, l.note FROM latest l "
                        "JOIN series s ON s.id = l.series_id WHERE s.name = ?"
                    ),
                    (name,),
                )
            rows = cur.fetchall()
            self._describe(cur, [r[0] for r in rows])
        out = []
        for sid, ts, value, note in rows:
            sname, labels = self._series_by_id[sid]
            if _matches(labels, matchers):
                out.append(LatestValue(sname, labels, float(value), ts / MS, note))
        out.sort(key=lambda v: (v.name, v.labels))
        return out

    def _watermark(self, cur: Any, table: str) -> int | None:
        cur.execute(self._sql("SELECT value FROM meta WHERE key = ?"), (f"watermark:{table}",))
        row = cur.fetchone()
        return int(row[0]) if row else None

    def query_range(
        self,
        name: str,
        matchers: Mapping[str, str] | None,
        start: float,
        end: float,
        step: float = 0.0,
        agg: Aggregation = "avg",
        max_points: int = 2000,
    ) -> list[Series]:
        start_ms, end_ms = _to_ms(start), _to_ms(end)
        span = max(end_ms - start_ms, 1)
        step_ms = _nice_step(max(_to_ms(step), -(-span // max(max_points, 1))))
        # Levels from fine to coarse, each (table, width, watermark): the coarsest
        # level whose width fits the step covers the old part of the range and
        # each finer level covers what the coarser has not rolled up yet.
        with self._cursor() as cur:
            ids = self._matching_ids(cur, name, matchers)
            if not ids:
                return []
            levels: list[tuple[str, int, int | None]] = [("samples", 1, None)]
            for table, width, _ in ROLLUPS:
                if width <= step_ms:
                    levels.append((table, width, self._watermark(cur, table)))
            buckets: dict[tuple[int, int], list[float]] = {}
            lower = start_ms
            for table, _width, mark in reversed(levels):
                if table != "samples" and mark is None:
                    continue  # never rolled up yet: the finer levels cover it
                upper = end_ms + 1 if mark is None else min(end_ms + 1, mark)
                if upper > lower:
                    self._range_rows(cur, table, ids, lower, upper, step_ms, buckets)
                    lower = upper
        series: dict[int, list[tuple[float, float]]] = {i: [] for i in ids}
        for (sid, bucket), (vmin, vmax, vsum, vcount) in sorted(buckets.items()):
            value = vmin if agg == "min" else vmax if agg == "max" else vsum / vcount
            series[sid].append((bucket / MS, value))
        out = []
        for sid in ids:
            sname, labels = self._series_by_id[sid]
            out.append(Series(sname, labels, series[sid][-max_points:]))
        out.sort(key=lambda s: s.labels)
        return out

    def _range_rows(
        self,
        cur: Any,
        table: str,
        ids: list[int],
        lower: int,
        upper: int,
        step_ms: int,
        buckets: dict[tuple[int, int], list[float]],
    ) -> None:
        if table == "samples":
            cols, tcol = "MIN(value), MAX(value), SUM(value), COUNT(*)", "ts"
        else:
            cols, tcol = "MIN(vmin), MAX(vmax), SUM(vsum), SUM(vcount)", "bucket"
        for i in range(0, len(ids), CHUNK):
            part = ids[i : i + CHUNK]
            marks = ",".join([self.placeholder] * len(part))
            sql = (
                f"SELECT series_id, ({tcol} / {step_ms}) * {step_ms} AS b, {cols} "  # noqa: S608 - table and ints are ours
                f"FROM {table} WHERE series_id IN ({marks}) AND {tcol} >= {self.placeholder} "
                f"AND {tcol} < {self.placeholder} GROUP BY series_id, b"
            )
            cur.execute(sql, [*part, lower, upper])
            for sid, b, vmin, vmax, vsum, vcount in cur.fetchall():
                key = (int(sid), int(b))
                have = buckets.get(key)
                if have is None:
                    buckets[key] = [float(vmin), float(vmax), float(vsum), float(vcount)]
                else:
                    have[0] = min(have[0], float(vmin))
                    have[1] = max(have[1], float(vmax))
                    have[2] += float(vsum)
                    have[3] += float(vcount)

    # -- maintenance ---------------------------------------------------------

    def maintain(self, now: float) -> None:
        now_ms = _to_ms(now)
        with self._cursor(commit=True) as cur:
            for table, width, source in ROLLUPS:
                tcol = "ts" if source == "samples" else "bucket"
                cols = (
                    "MIN(value), MAX(value), SUM(value), COUNT(*)"
                    if source == "samples"
                    else "MIN(vmin), MAX(vmax), SUM(vsum), SUM(vcount)"
                )
                end = (now_ms // width) * width
                mark = self._watermark(cur, table)
                if mark is None:
                    cur.execute(f"SELECT MIN({tcol}) FROM {source}")  # noqa: S608 - our names
                    first = cur.fetchone()[0]
                    begin = end if first is None else (int(first) // width) * width
                else:
                    begin = max(0, mark - LATE_GRACE_MS - width)
                    begin = (begin // width) * width
                if begin < end:
                    cur.execute(
                        self._sql(
                            f"INSERT INTO {table} (series_id, bucket, vmin, vmax, vsum, vcount) "  # noqa: S608 - our names
                            f"SELECT series_id, ({tcol} / {width}) * {width} AS b, {cols} "
                            f"FROM {source} WHERE {tcol} >= ? AND {tcol} < ? GROUP BY series_id, b "
                            "ON CONFLICT (series_id, bucket) DO UPDATE SET vmin = excluded.vmin, "
                            "vmax = excluded.vmax, vsum = excluded.vsum, vcount = excluded.vcount"
                        ),
                        (begin, end),
                    )
                cur.execute(
                    self._sql(
                        "INSERT INTO meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                    ),
                    (f"watermark:{table}", end),
                )
            keep = self.retention
            for table, seconds, tcol in (
                ("samples", keep.raw, "ts"),
                ("rollup_1m", keep.minute, "bucket"),
                ("rollup_1h", keep.hour, "bucket"),
            ):
                cur.execute(
                    self._sql(f"DELETE FROM {table} WHERE {tcol} < ?"),  # noqa: S608 - our names
                    (now_ms - _to_ms(seconds),),
                )

    # -- records -------------------------------------------------------------

    def put_records(self, records: Sequence[Record]) -> None:
        if not records:
            return
        with self._cursor(commit=True) as cur:
            cur.executemany(
                self._sql(
                    "INSERT INTO records (namespace, key, ts, body) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (namespace, key) DO UPDATE SET ts = excluded.ts, body = excluded.body"
                ),
                [(r.namespace, r.key, _to_ms(r.ts), json.dumps(r.body)) for r in records],
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
            params.append(_to_ms(since))
        if until is not None:
            sql += " AND ts <= ?"
            params.append(_to_ms(until))
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
                    (namespace, _to_ms(older_than)),
                )
                deleted += max(cur.rowcount, 0)
        return deleted
