"""The SQL shared by both backends; each backend supplies connect, placeholders and errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from itertools import groupby
from operator import itemgetter
from typing import Any

from lagwatch.store.config import Retention
from lagwatch.store.protocol import Aggregation, StoreUnavailable
from lagwatch.store.records import SqlRecords
from lagwatch.store.sample import (
    Labels,
    LatestChanges,
    LatestValue,
    Row,
    Sample,
    Series,
    labels_key,
)
from lagwatch.store.schema import CHUNK, MS, ROLLUPS, SCHEMA, to_ms

# Samples arriving this late still land in their rollup bucket.
LATE_GRACE_MS = 5 * 60_000


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


class SqlStore(SqlRecords):
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

    def _create_schema(self, cur: Any) -> None:
        """Create the tables; a backend may lay out samples and rollups its own way."""
        for statement in SCHEMA:
            cur.execute(statement.format(id=self.id_type, without_rowid=self.without_rowid))

    def _after_schema(self, cur: Any) -> None:
        """Backend-specific setup after the tables exist (and migrations of older stores)."""

    def _write_seq(self, cur: Any) -> int:
        """Return the change mark of this write, for the ``latest`` rows it changes."""
        raise NotImplementedError

    def _change_floor(self, cur: Any) -> int:
        """Return a mark no later write can fall below: the cursor after a read that follows."""
        raise NotImplementedError

    def _changed_rows(self, cur: Any, cursor: int) -> list[tuple[Any, ...]]:
        """Return the (series_id, ts, value, note) rows written at or after change mark ``cursor``."""
        cur.execute(
            self._sql("SELECT series_id, ts, value, note FROM latest WHERE seq >= ?"), (cursor,)
        )
        return list(cur.fetchall())

    def _before_rollup(self, cur: Any, table: str, begin: int, end: int) -> None:
        """Called before buckets in [begin, end) are written to ``table``."""

    def _apply_retention(self, cur: Any, now_ms: int) -> None:
        """Delete what is older than each table's retention."""
        keep = self.retention
        for table, seconds, tcol in (
            ("samples", keep.raw, "ts"),
            ("rollup_1m", keep.minute, "bucket"),
            ("rollup_1h", keep.hour, "bucket"),
        ):
            cur.execute(
                self._sql(f"DELETE FROM {table} WHERE {tcol} < ?"),  # noqa: S608 - our names
                (now_ms - to_ms(seconds),),
            )

    # -- connection ----------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _open(self) -> Any:
        if self._conn is None:
            conn = self._connect()
            if not self.read_only:
                cur = conn.cursor()
                self._create_schema(cur)
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
        """Yield a cursor under the lock; turn driver errors into StoreUnavailable.

        Every use ends its transaction, a reader's too: a reader left idle in a transaction
        holds its table locks for good, and on PostgreSQL a writer that must alter a table
        (a schema migration on connect) waits behind them with every other writer queued
        behind it, until the statement timeout: the whole store stalled 30 s at a time.
        """
        with self._lock:
            try:
                conn = self._open()
                cur = conn.cursor()
                try:
                    yield cur
                    if commit:
                        conn.commit()
                    else:
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
            rows: list[tuple[int, int, float]] = []
            add = rows.append
            newest: dict[int, tuple[int, float, str | None]] = {}
            known = self._series_ids.get
            seen = newest.get
            for s in samples:  # the hot loop of every write: locals only
                sid = known((s.name, s.labels)) or self._series_id(cur, s.name, s.labels)
                ts = int(s.ts * MS)
                add((sid, ts, s.value))
                last = seen(sid)
                if last is None or ts >= last[0]:
                    newest[sid] = (ts, s.value, s.note)
            self._insert(cur, rows, newest)

    def _insert(
        self,
        cur: Any,
        rows: list[tuple[int, int, float]],
        newest: dict[int, tuple[int, float, str | None]],
    ) -> None:
        """Upsert sample rows and move each series' latest value forward."""
        cur.executemany(
            self._sql(
                "INSERT INTO samples (series_id, ts, value) VALUES (?, ?, ?) "
                "ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value"
            ),
            rows,
        )
        seq = self._write_seq(cur)
        cur.executemany(
            self._sql(
                "INSERT INTO latest (series_id, ts, value, note, seq) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (series_id) DO UPDATE SET ts = excluded.ts, "
                "value = excluded.value, note = excluded.note, seq = excluded.seq "
                "WHERE excluded.ts >= latest.ts"
            ),
            [(sid, ts, value, note, seq) for sid, (ts, value, note) in newest.items()],
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

    def latest_since(
        self, cursor: int | None = None, names: Collection[str] | None = None
    ) -> LatestChanges:
        wanted = None if names is None else set(names)
        rows: list[tuple[Any, ...]] = []
        with self._cursor() as cur:
            # The floor is read before the rows: whatever commits after it is read next time.
            floor = self._change_floor(cur)
            if cursor is not None:
                # What changed; the metric is told apart from cached series.
                rows = self._changed_rows(cur, int(cursor))
            elif wanted is None:
                cur.execute("SELECT series_id, ts, value, note FROM latest")
                rows = cur.fetchall()
            else:
                ordered = sorted(wanted)
                for i in range(0, len(ordered), CHUNK):
                    part = ordered[i : i + CHUNK]
                    marks = ",".join([self.placeholder] * len(part))
                    cur.execute(
                        "SELECT l.series_id, l.ts, l.value, l.note FROM latest l "  # noqa: S608 - only placeholders
                        f"JOIN series s ON s.id = l.series_id WHERE s.name IN ({marks})",
                        part,
                    )
                    rows.extend(cur.fetchall())
            # One pass builds the rows: it learns series written by another process since
            # we last looked and, for a cursor read, leaves out the metrics not named.
            named = self._series_by_id
            keep = wanted if cursor is not None else None
            out: list[Row] = []
            add = out.append
            for sid, ts, value, note in rows:
                series = named.get(sid)
                if series is None:
                    self._describe(cur, [r[0] for r in rows])
                    series = named[sid]
                if keep is None or series[0] in keep:
                    add((series[0], series[1], float(value), ts / MS, note))
        return LatestChanges(out, floor)

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
        start_ms, end_ms = to_ms(start), to_ms(end)
        span = max(end_ms - start_ms, 1)
        step_ms = _nice_step(max(to_ms(step), -(-span // max(max_points, 1))))
        with self._cursor() as cur:
            ids = self._matching_ids(cur, name, matchers)
            if not ids:
                return []
            # The coarsest level whose bucket fits the step covers the old part of
            # the range; each finer level covers what the coarser has not rolled
            # up yet, and raw samples cover the rest up to ``end``.
            levels: list[tuple[str, int, int | None]] = [("samples", 1, None)]
            for table, width, _ in ROLLUPS:
                if width <= step_ms:
                    levels.append((table, width, self._watermark(cur, table)))
            plan: list[tuple[str, int, int, int]] = []
            lower = start_ms
            for table, width, mark in reversed(levels):
                if table != "samples" and mark is None:
                    continue  # never rolled up yet: the finer levels cover it
                # A rollup answers up to its watermark rounded down to the step, so
                # no bucket of the answer is split between two levels.
                upper = end_ms + 1 if mark is None else min(end_ms + 1, mark // step_ms * step_ms)
                if upper > lower:
                    plan.append((table, width, lower, upper))
                    lower = upper
            points = self._points(cur, plan, ids, step_ms, agg)
        out = []
        for sid in ids:
            sname, labels = self._series_by_id[sid]
            out.append(Series(sname, labels, points[sid][-max_points:]))
        out.sort(key=lambda s: s.labels)
        return out

    def _points(
        self,
        cur: Any,
        plan: list[tuple[str, int, int, int]],
        ids: list[int],
        step_ms: int,
        agg: Aggregation,
    ) -> dict[int, list[tuple[float, float]]]:
        """Return each series' (ts, value) points from the (table, width, lower, upper) levels."""
        merged: dict[int, list[tuple[float, float, float]]] = {i: [] for i in ids}
        for table, width, lower, upper in plan:
            self._range_rows(cur, table, width, ids, lower, upper, step_ms, agg, merged)
        if agg == "avg":
            return {
                sid: [(b / MS, total / float(count)) for b, total, count in rows]
                for sid, rows in merged.items()
            }
        return {sid: [(b / MS, value) for b, value, _ in rows] for sid, rows in merged.items()}

    def _range_rows(
        self,
        cur: Any,
        table: str,
        width: int,
        ids: list[int],
        lower: int,
        upper: int,
        step_ms: int,
        agg: Aggregation,
        merged: dict[int, list[tuple[float, float, float]]],
    ) -> None:
        """Append (bucket, value, weight) rows per series, merging a bucket two levels share."""
        raw = table == "samples"
        tcol = "ts" if raw else "bucket"
        if raw:
            cols = {"avg": "SUM(value), COUNT(*)", "min": "MIN(value), 1", "max": "MAX(value), 1"}[
                agg
            ]
        else:
            cols = {"avg": "SUM(vsum), SUM(vcount)", "min": "MIN(vmin), 1", "max": "MAX(vmax), 1"}[
                agg
            ]
        if step_ms == width:  # one row per bucket already: no grouping needed
            cols = cols.replace("SUM(", "(").replace("MIN(", "(").replace("MAX(", "(")
            cols = cols.replace("COUNT(*)", "1")
            grouped = f"SELECT series_id, {tcol} AS b, {cols} FROM {table}"  # noqa: S608 - our names
            tail = ""
        else:
            grouped = (
                f"SELECT series_id, ({tcol} / {step_ms}) * {step_ms} AS b, {cols} FROM {table}"  # noqa: S608 - our names and ints
            )
            tail = " GROUP BY series_id, b"
        combine = min if agg == "min" else max
        for i in range(0, len(ids), CHUNK):
            part = ids[i : i + CHUNK]
            marks = ",".join([self.placeholder] * len(part))
            cur.execute(
                f"{grouped} WHERE series_id IN ({marks}) AND {tcol} >= {self.placeholder} "
                f"AND {tcol} < {self.placeholder}{tail} ORDER BY series_id, b",
                [*part, lower, upper],
            )
            for sid, group in groupby(cur.fetchall(), key=itemgetter(0)):
                new = [row[1:] for row in group]
                rows = merged[sid]
                if rows and rows[-1][0] == new[0][0]:
                    (b, value, weight), (_, more, extra) = rows[-1], new.pop(0)
                    if agg == "avg":
                        rows[-1] = (b, value + more, weight + extra)
                    else:
                        rows[-1] = (b, combine(value, more), 1)
                rows.extend(new)

    # -- maintenance ---------------------------------------------------------

    def maintain(self, now: float) -> None:
        now_ms = to_ms(now)
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
                    self._before_rollup(cur, table, begin, end)
                    cur.execute(
                        self._sql(
                            f"INSERT INTO {table} (series_id, bucket, vmin, vmax, vsum, vcount) "  # noqa: S608 - our names
                            f"SELECT series_id, ({tcol} / {width}) * {width} AS b, {cols} "
                            f"FROM {source} WHERE {tcol} >= ? AND {tcol} < ? GROUP BY series_id, b "
                            "ON CONFLICT (series_id, bucket) DO UPDATE SET vmin = excluded.vmin, "
                            "vmax = excluded.vmax, vsum = excluded.vsum, vcount = excluded.vcount "
                            # buckets re-read for late samples are rewritten only if they changed
                            f"WHERE ({table}.vmin, {table}.vmax, {table}.vsum, {table}.vcount) "
                            "<> (excluded.vmin, excluded.vmax, excluded.vsum, excluded.vcount)"
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
            self._apply_retention(cur, now_ms)
