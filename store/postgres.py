"""PostgreSQL backend: a team store several daemons may write to at once.

Samples and 1-minute rollups live in tables range-partitioned by day on their
millisecond timestamp, so retention drops whole partitions instead of deleting
rows, and a range query reads only the days it covers. The writer creates the
partitions it needs (today and the next days ahead at each maintenance, and
any day a batch of late samples falls into) and ingests with binary COPY.

A store created before partitioning (plain ``samples`` and ``rollup_1m``
tables) is converted when a writer first opens it: the old table becomes the
partition of everything before the day after its newest row, so nothing is
copied and nothing is lost; it is dropped by retention like any other
partition once its newest row is older than the retention.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any, cast

import psycopg
from psycopg import sql

from lagwatch.store.config import Retention
from lagwatch.store.copy_rows import Newest, copy_rows
from lagwatch.store.protocol import Aggregation, StoreUnavailable
from lagwatch.store.sample import Sample, labels_key
from lagwatch.store.schema import MS, SCHEMA, to_ms
from lagwatch.store.sql import SqlStore

DAY_MS = 86_400_000
AHEAD_DAYS = 2
"""Days past today whose partitions the writer creates at each maintenance."""

ANALYZE_EVERY = 3600.0
"""Seconds between the writer's ANALYZE runs of one rollup partition."""

VACUUM_PAUSES = (0.0, 0.0, 0.2, 0.5, 1.0, 2.0)
"""Seconds before each pass of VACUUM over a rollup partition until its pages are marked."""

SCHEMA_LOCK = 4242001
"""Advisory lock key serialising schema changes (tables, partitions) between writers."""

LATEST_FILLFACTOR = 70
"""Percent of each ``latest`` page filled by inserts: the rest holds rows' next versions."""

CHANGES_KEEP_MS = 15 * 60_000
"""How long the change log keeps a write's entry; an older cursor reads every series."""

SCAN_SHARE = 8
"""latest_since scans latest once the series written since the cursor are 1/SCAN_SHARE of it."""

CHANGES_FLOOR = "latest_changes_floor"
"""meta key: the lowest change mark the log still answers for."""

# Partitioned tables: name -> (time column, the columns after series_id and time,
# the columns the primary key index also carries).
PARTITIONED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "samples": ("ts", "value DOUBLE PRECISION NOT NULL", ()),
    # Rollup rows of one series are spread over as many heap pages as it has
    # buckets (each maintenance writes one minute of every series); a covering
    # key lets a range query read them by an index-only scan instead.
    "rollup_1m": (
        "bucket",
        "vmin DOUBLE PRECISION NOT NULL, vmax DOUBLE PRECISION NOT NULL, "
        "vsum DOUBLE PRECISION NOT NULL, vcount BIGINT NOT NULL",
        ("vmin", "vmax", "vsum", "vcount"),
    ),
}
DAY_PARTITION = re.compile(r"_d(\d+)$")
NEW_INDEX = re.compile(r"CREATE INDEX IF NOT EXISTS (\w+) ON")


def _partition_name(table: str, day: int) -> str:
    """Return the partition holding day number ``day`` (days since the epoch)."""
    return f"{table}_d{day}"


class PostgresStore(SqlStore):
    """Same contract as SQLite; creates (or converts) its own schema on first use."""

    placeholder = "%s"
    id_type = "BIGSERIAL PRIMARY KEY"
    errors = (psycopg.OperationalError, psycopg.InterfaceError)

    def __init__(
        self, dsn: str, retention: Retention | None = None, read_only: bool = False
    ) -> None:
        super().__init__(retention, read_only)
        self._dsn = dsn
        self._lock_conn: Any = None
        # Days known to have a partition (or to be covered by a converted table), per table.
        self._days: dict[str, set[int]] = {t: set() for t in PARTITIONED}
        self._floor: dict[str, int] = {}
        self._rolled_days: set[int] = set()
        self._analyzed: dict[str, float] = {}
        self._unsettled: set[str] = set()

    def __repr__(self) -> str:
        return "PostgresStore(dsn=***)"

    def _connect(self) -> Any:
        conn = psycopg.connect(
            self._dsn, connect_timeout=5, options="-c statement_timeout=30000", autocommit=False
        )
        if self.read_only:
            conn.read_only = True
        else:
            # Several writers may create the schema at the same moment.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        return conn

    # -- schema ----------------------------------------------------------------

    def _create_schema(self, cur: Any) -> None:
        for statement in SCHEMA:
            if any(f"TABLE IF NOT EXISTS {t} " in statement for t in PARTITIONED):
                continue
            if any(f" ON {t} (" in statement and "INDEX" in statement for t in PARTITIONED):
                continue
            index = NEW_INDEX.match(statement)
            if index and self._exists(cur, index.group(1)):
                continue
            cur.execute(statement.format(id=self.id_type, without_rowid=""))
        for table, (tcol, cols, include) in PARTITIONED.items():
            cur.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (table,))
            row = cur.fetchone()
            kind = None if row is None else (row[0] if isinstance(row[0], str) else row[0].decode())
            if kind == "r":
                self._convert(cur, table, tcol, cols, include)
            elif kind is None:
                self._create_partitioned(cur, table, tcol, cols, include)
        self._days = {t: set() for t in PARTITIONED}
        self._floor = {}
        cur.execute("SELECT key, value FROM meta WHERE key LIKE 'partition_floor:%%'")
        for key, value in cur.fetchall():
            self._floor[key.split(":", 1)[1]] = int(value)

    @staticmethod
    def _exists(cur: Any, relation: str) -> bool:
        """Tell whether ``relation`` exists.

        Checked before each CREATE INDEX IF NOT EXISTS: that statement takes its share
        lock on the table before it looks, so a daemon starting would wait for every
        write under way on another.
        """
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (relation,))
        return bool(cur.fetchone()[0])

    def _create_partitioned(
        self, cur: Any, table: str, tcol: str, cols: str, include: tuple[str, ...]
    ) -> None:
        name, col = sql.Identifier(table), sql.Identifier(tcol)
        covering = (
            sql.SQL(" INCLUDE ({})").format(sql.SQL(", ").join(map(sql.Identifier, include)))
            if include
            else sql.SQL("")
        )
        cur.execute(
            sql.SQL(
                "CREATE TABLE {} (series_id BIGINT NOT NULL, {} BIGINT NOT NULL, {}, "
                "PRIMARY KEY (series_id, {}){}) PARTITION BY RANGE ({})"
            ).format(name, col, sql.SQL(cols), col, covering, col)  # cols: our constant list
        )
        # Rows arrive in time order, so a BRIN index finds a time range (rollups,
        # first-timestamp lookups) at a fraction of a btree's size and insert cost.
        cur.execute(
            sql.SQL("CREATE INDEX {} ON {} USING brin ({})").format(
                sql.Identifier(f"{table}_{tcol}_brin"), name, col
            )
        )

    def _convert(
        self, cur: Any, table: str, tcol: str, cols: str, include: tuple[str, ...]
    ) -> None:
        """Turn an unpartitioned table of an older store into the first partition of a new one."""
        name, col = sql.Identifier(table), sql.Identifier(tcol)
        cur.execute("SET LOCAL statement_timeout = 0")  # one scan of a possibly large table
        cur.execute(sql.SQL("SELECT MAX({}) FROM {}").format(col, name))
        newest = cur.fetchone()[0]
        legacy = f"{table}_legacy"
        cur.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype = 'p'",
            (table,),
        )
        keys = [r[0] for r in cur.fetchall()]
        cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(name, sql.Identifier(legacy)))
        for key in keys:
            if include:  # the old key does not carry the columns: ATTACH builds the new one
                statement = "ALTER TABLE {} DROP CONSTRAINT {}"
            else:  # index names are per schema: free the new table's names
                statement = "ALTER TABLE {} RENAME CONSTRAINT {} TO {}"
            cur.execute(
                sql.SQL(statement).format(
                    sql.Identifier(legacy), sql.Identifier(key), sql.Identifier(f"{legacy}_pkey")
                )
            )
        self._create_partitioned(cur, table, tcol, cols, include)
        if newest is None:
            cur.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(legacy)))
            return
        floor = (int(newest) // DAY_MS + 1) * DAY_MS
        # A validated CHECK lets ATTACH skip its own scan; the old table is attached as is.
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} < {})").format(
                sql.Identifier(legacy), sql.Identifier(f"{legacy}_bound"), col, sql.Literal(floor)
            )
        )
        cur.execute(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM (MINVALUE) TO ({})").format(
                name, sql.Identifier(legacy), sql.Literal(floor)
            )
        )
        cur.execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (f"partition_floor:{table}", floor),
        )

    def _ensure_days(self, cur: Any, table: str, days: set[int]) -> None:
        """Create the missing day partitions of ``table``, committed in their own transaction."""
        floor = self._floor.get(table)
        if floor is not None:
            days = {d for d in days if d * DAY_MS >= floor}
        missing = days - self._days[table]
        if not missing:
            return
        conn = cur.connection
        conn.commit()  # nothing written yet: keep DDL locks out of the data transaction
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        for day in sorted(missing):
            cur.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                ).format(
                    sql.Identifier(_partition_name(table, day)),
                    sql.Identifier(table),
                    sql.Literal(day * DAY_MS),
                    sql.Literal((day + 1) * DAY_MS),
                )
            )
        conn.commit()
        self._days[table] |= missing

    def _partitions(self, cur: Any, table: str) -> list[tuple[str, int]]:
        """Return (partition, exclusive upper bound in ms) of every partition of ``table``."""
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            (table,),
        )
        out = []
        for (part,) in cur.fetchall():
            match = DAY_PARTITION.search(part)
            if match:
                out.append((part, (int(match.group(1)) + 1) * DAY_MS))
            elif part == f"{table}_legacy" and table in self._floor:
                out.append((part, self._floor[table]))
        return out

    # -- writing ---------------------------------------------------------------

    def _add_series(self, cur: Any, samples: Sequence[Sample]) -> None:
        """Create and look up, in bulk, the series of ``samples`` this writer has no id for.

        One at a time a new series costs two round trips to a server: a first cycle of
        20,000 series, or a fleet daemon taking over a shard, spent seconds here holding the
        write lock (5,000 new series: 2.8 s one by one, 0.3 s in bulk). Keys go in sorted
        order, so writers adding the same new series never deadlock.
        """
        known = self._series_ids
        new = sorted(
            {(s.name, labels_key(s.labels)) for s in samples if (s.name, s.labels) not in known}
        )
        if not new:
            return
        cur.executemany(
            "INSERT INTO series (name, labels) VALUES (%s, %s) ON CONFLICT DO NOTHING", new
        )
        for name, group in groupby(new, key=itemgetter(0)):
            cur.execute(
                "SELECT id, labels FROM series WHERE name = %s AND labels = ANY(%s)",
                (name, [text for _, text in group]),
            )
            for sid, text in cur.fetchall():
                labels = tuple(sorted(json.loads(text).items()))
                known[(name, labels)] = int(sid)
                self._series_by_id[int(sid)] = (name, labels)

    def write(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        with self._cursor(commit=True) as cur:
            known = self._series_ids.get
            sids = [known((s.name, s.labels)) for s in samples]
            if None in sids:  # new series: add all of them at once
                self._add_series(cur, samples)
                sids = [
                    known((s.name, s.labels)) or self._series_id(cur, s.name, s.labels)
                    for s in samples
                ]
            rows = copy_rows(samples, cast(list[int], sids))
            days = set(range(rows.first_ms // DAY_MS, rows.last_ms // DAY_MS + 1))
            self._insert_rows(cur, rows.payload, days, rows.newest)

    def _insert_rows(
        self,
        cur: Any,
        payload: bytes,
        days: set[int],
        newest: Newest,
    ) -> None:
        """Store one binary COPY payload of (series_id, ts, value) rows and move latest forward."""
        self._ensure_days(cur, "samples", days)
        # New points (the daemon's every cycle) go straight in by COPY; a batch
        # that repeats a stored point (a retried write) is merged through a
        # temporary table with an upsert instead.
        cur.execute("SAVEPOINT copy_samples")
        try:
            try:
                self._copy_payload(cur, "samples (series_id, ts, value)", payload)
            except psycopg.errors.CheckViolation:
                # No partition for a row: another writer's retention dropped a day we
                # had seen. Forget what we knew and create the missing days again.
                cur.execute("ROLLBACK TO SAVEPOINT copy_samples")
                self._days["samples"].clear()
                self._ensure_days(cur, "samples", days)
                cur.execute("SAVEPOINT copy_samples")
                self._copy_payload(cur, "samples (series_id, ts, value)", payload)
            cur.execute("RELEASE SAVEPOINT copy_samples")
        except psycopg.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT copy_samples")
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS samples_in (n BIGSERIAL, "
                "series_id BIGINT, ts BIGINT, value DOUBLE PRECISION) ON COMMIT DELETE ROWS"
            )
            self._copy_payload(cur, "samples_in (series_id, ts, value)", payload)
            cur.execute(  # a point given twice in the batch: the later one wins
                "INSERT INTO samples (series_id, ts, value) "
                "SELECT DISTINCT ON (series_id, ts) series_id, ts, value FROM samples_in "
                "ORDER BY series_id, ts, n DESC "
                "ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value"
            )
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS latest_in "
            "(series_id BIGINT, ts BIGINT, value DOUBLE PRECISION, note TEXT) ON COMMIT DELETE ROWS"
        )
        # In series order: the update below locks the rows of latest in that order, so
        # writers sharing series (a fleet's daemons) wait for each other, never deadlock.
        ids = sorted(newest)
        self._copy(
            cur,
            "latest_in (series_id, ts, value, note)",
            ["int8", "int8", "float8", "text"],
            [(sid, *newest[sid]) for sid in ids],
        )
        # A plain UPDATE of the rows that exist, each found by its key from latest_in's
        # rows in their order (a hash join would read all of latest and lock in its
        # order). seq is not indexed, so the update stays on its page (HOT): no index
        # entry per row and no bloat. A point already stored as it is (a retried
        # write) leaves its row alone.
        cur.execute("SET LOCAL enable_hashjoin = off")  # until the commit just after
        cur.execute("SET LOCAL enable_mergejoin = off")
        cur.execute(
            "UPDATE latest SET ts = i.ts, value = i.value, note = i.note, "
            "seq = (SELECT pg_current_xact_id()::text::bigint) FROM latest_in i "
            "WHERE latest.series_id = i.series_id AND i.ts >= latest.ts AND (i.ts > latest.ts "
            "OR i.value IS DISTINCT FROM latest.value OR i.note IS DISTINCT FROM latest.note)"
        )
        if cur.rowcount < len(ids):  # new series (or older points, or unchanged ones)
            cur.execute(
                "INSERT INTO latest (series_id, ts, value, note, seq) "
                "SELECT series_id, ts, value, note, pg_current_xact_id()::text::bigint "
                "FROM latest_in i WHERE NOT EXISTS "
                "(SELECT 1 FROM latest l WHERE l.series_id = i.series_id) ORDER BY series_id "
                "ON CONFLICT (series_id) DO UPDATE SET ts = excluded.ts, "
                "value = excluded.value, note = excluded.note, seq = excluded.seq "
                "WHERE excluded.ts >= latest.ts"
            )
        # The change log latest_since reads: one row per write, the series it wrote.
        cur.execute(
            "INSERT INTO latest_changes (seq, at, ids) "
            "SELECT pg_current_xact_id()::text::bigint, %s, array_agg(series_id) FROM latest_in",
            (to_ms(time.time()),),
        )

    @staticmethod
    def _copy_payload(cur: Any, target: str, payload: bytes) -> None:
        # target: one of our constant "table (columns)" strings above.
        with cur.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(payload)

    @staticmethod
    def _copy(cur: Any, target: str, types: list[str], rows: Sequence[tuple[Any, ...]]) -> None:
        # target: one of our constant "table (columns)" strings above.
        statement = f"COPY {target} FROM STDIN (FORMAT BINARY)"
        with cur.copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    # -- maintenance -----------------------------------------------------------

    def _before_rollup(self, cur: Any, table: str, begin: int, end: int) -> None:
        if table in PARTITIONED:
            days = set(range(begin // DAY_MS, (end - 1) // DAY_MS + 1))
            self._ensure_days(cur, table, days)
            if table == "rollup_1m":
                self._rolled_days |= days

    def maintain(self, now: float) -> None:
        today = to_ms(now) // DAY_MS
        with self._cursor(commit=True) as cur:
            for table in PARTITIONED:
                self._ensure_days(cur, table, set(range(today, today + AHEAD_DAYS + 1)))
        self._rolled_days = set()
        super().maintain(now)
        # Mark the rollup pages just written all-visible (so range queries stay
        # index-only) and refresh the planner's view of the new rows. VACUUM
        # reads only the pages changed since its last run.
        floor = self._floor.get("rollup_1m", 0)
        parts = {  # a converted old table is left to autovacuum
            _partition_name("rollup_1m", day) for day in self._rolled_days if day * DAY_MS >= floor
        }
        parts |= self._unsettled  # partitions a busy server kept from being marked last time
        if parts:
            try:
                with psycopg.connect(self._dsn, connect_timeout=5, autocommit=True) as conn:
                    for part in sorted(parts):
                        self._vacuum(conn, part)
            except self.errors as exc:
                raise StoreUnavailable(f"{type(self).__name__}: {exc}".strip()) from exc

    def _vacuum(self, conn: Any, part: str) -> None:
        name = sql.Identifier(part)
        # A page is marked all-visible only once no snapshot of this database can still
        # miss its rows: right after the rollup, an autovacuum ANALYZE of the samples
        # just written (or any reader) may hold one for a while on a busy server.
        for pause in VACUUM_PAUSES:
            time.sleep(pause)
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (part,)).fetchone()
            if row is None or not row[0]:  # dropped by retention since
                self._unsettled.discard(part)
                return
            conn.execute(sql.SQL("VACUUM {}").format(name))
            row = conn.execute(
                "SELECT relallvisible >= relpages FROM pg_class WHERE oid = to_regclass(%s)",
                (part,),
            ).fetchone()
            if row is None or row[0]:
                self._unsettled.discard(part)
                break
        else:
            self._unsettled.add(part)  # tried again at the next maintenance
        # Planner statistics for a partition still filling up: at most hourly per partition.
        now = time.monotonic()
        if now - self._analyzed.get(part, -ANALYZE_EVERY) >= ANALYZE_EVERY:
            conn.execute(sql.SQL("ANALYZE {}").format(name))
            self._analyzed[part] = now

    def _apply_retention(self, cur: Any, now_ms: int) -> None:
        keep = self.retention
        for table, seconds in (("samples", keep.raw), ("rollup_1m", keep.minute)):
            cutoff = now_ms - to_ms(seconds)
            old = [part for part, upper in self._partitions(cur, table) if upper <= cutoff]
            if not old:
                continue
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            for part in old:
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(part)))
                match = DAY_PARTITION.search(part)
                if match:
                    self._days[table].discard(int(match.group(1)))
                else:
                    self._floor.pop(table, None)
                    cur.execute("DELETE FROM meta WHERE key = %s", (f"partition_floor:{table}",))
        cur.execute("DELETE FROM rollup_1h WHERE bucket < %s", (now_ms - to_ms(keep.hour),))
        # A reader whose cursor is older than what is trimmed reads every series again.
        cur.execute(
            "WITH gone AS (DELETE FROM latest_changes WHERE at < %s RETURNING seq) "
            "INSERT INTO meta (key, value) SELECT %s, MAX(seq) + 1 FROM gone HAVING COUNT(*) > 0 "
            "ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value, excluded.value)",
            (now_ms - CHANGES_KEEP_MS, CHANGES_FLOOR),
        )

    # -- reading ---------------------------------------------------------------

    def _points(
        self,
        cur: Any,
        plan: list[tuple[str, int, int, int]],
        ids: list[int],
        step_ms: int,
        agg: Aggregation,
    ) -> dict[int, list[tuple[float, float]]]:
        # One query per level; the database buckets and aggregates, and each
        # series comes back as one row of two arrays (seconds, values) read by
        # an index scan of its own, so no sort of the whole range is needed.
        points: dict[int, list[tuple[float, float]]] = {i: [] for i in ids}
        for table, width, lower, upper in plan:
            raw = table == "samples"
            tcol = sql.Identifier("ts" if raw else "bucket")
            if raw:
                value = {"avg": "AVG(value)", "min": "MIN(value)", "max": "MAX(value)"}[agg]
            elif step_ms == width:
                value = {"avg": "vsum / vcount", "min": "vmin", "max": "vmax"}[agg]
            else:
                value = {"avg": "SUM(vsum) / SUM(vcount)", "min": "MIN(vmin)", "max": "MAX(vmax)"}[
                    agg
                ]
            grouped = step_ms != width or raw
            # One bucket per row already: the time column itself, in index order (no sort).
            bucket = (
                sql.SQL("({t} / {step}) * {step}").format(t=tcol, step=sql.Literal(step_ms))
                if grouped
                else tcol
            )
            inner = sql.SQL(
                "SELECT {bucket} AS b, {value} AS v FROM {table} "
                "WHERE series_id = s.id AND {t} >= {lower} AND {t} < {upper}{group} ORDER BY 1"
            ).format(
                bucket=bucket,
                t=tcol,
                value=sql.SQL(value),  # one of the constant expressions above
                table=sql.Identifier(table),
                lower=sql.Literal(lower),
                upper=sql.Literal(upper),
                group=sql.SQL(" GROUP BY 1" if grouped else ""),
            )
            query = sql.SQL(
                "SELECT s.id, p.b, p.v FROM unnest(%s::bigint[]) AS s(id) CROSS JOIN LATERAL "
                "(SELECT array_agg(q.b::float8 / {ms}) AS b, array_agg(q.v::float8) AS v "
                "FROM ({inner}) q) p WHERE p.b IS NOT NULL"
            ).format(ms=sql.Literal(MS), inner=inner)
            cur.execute(query, (ids,), binary=True)
            for sid, seconds, values in cur.fetchall():
                points[sid].extend(zip(seconds, values, strict=True))
        return points

    # -- change cursor ---------------------------------------------------------

    def _after_schema(self, cur: Any) -> None:
        cur.execute(
            "SELECT c.reloptions, "
            "EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'seq' "
            "AND NOT a.attisdropped), to_regclass('latest_seq') IS NOT NULL "
            "FROM pg_class c WHERE c.oid = to_regclass('latest')"
        )
        options, has_seq, seq_index = cur.fetchone()
        if not has_seq:  # stores before seq
            cur.execute("ALTER TABLE latest ADD COLUMN seq BIGINT")
        if seq_index:  # stores before the change log: the index made every update non-HOT
            cur.execute("DROP INDEX latest_seq")
        if f"fillfactor={LATEST_FILLFACTOR}" not in (options or []):
            # Room on each page for the next version of its rows: updates stay HOT.
            cur.execute(
                sql.SQL("ALTER TABLE latest SET (fillfactor = {})").format(
                    sql.Literal(LATEST_FILLFACTOR)
                )
            )
        cur.execute(
            "CREATE TABLE IF NOT EXISTS latest_changes "
            "(seq BIGINT NOT NULL, at BIGINT NOT NULL, ids BIGINT[] NOT NULL)"
        )
        if not self._exists(cur, "latest_changes_seq"):
            cur.execute("CREATE INDEX latest_changes_seq ON latest_changes (seq)")
        # lz4 packs a write's ids at a tenth of pglz's CPU (1.5 against 13 ms per 10,000).
        cur.execute(
            "SELECT 'lz4' = ANY(s.enumvals) AND a.attcompression <> 'l' "
            "FROM pg_settings s, pg_attribute a WHERE s.name = 'default_toast_compression' "
            "AND a.attrelid = to_regclass('latest_changes') AND a.attname = 'ids'"
        )
        row = cur.fetchone()
        if row is not None and row[0]:
            cur.execute("ALTER TABLE latest_changes ALTER COLUMN ids SET COMPRESSION lz4")

    def _changed_rows(self, cur: Any, cursor: int) -> list[tuple[Any, ...]]:
        cur.execute(
            "SELECT (SELECT COALESCE(SUM(cardinality(ids)), 0) FROM latest_changes "
            "WHERE seq >= %s), (SELECT reltuples FROM pg_class WHERE oid = 'latest'::regclass)",
            (cursor,),
        )
        written, rows_estimate = cur.fetchone()
        if rows_estimate < 0 or written * SCAN_SHARE >= rows_estimate:
            # A large share of the series changed: one pass over the table (each row
            # carries its last write's mark) beats a key lookup per series.
            cur.execute("SELECT series_id, ts, value, note FROM latest WHERE seq >= %s", (cursor,))
            return list(cur.fetchall())
        cur.execute(
            "SELECT series_id, ts, value, note FROM latest WHERE series_id = ANY(ARRAY("
            "SELECT unnest(ids) FROM latest_changes WHERE seq >= %s))",
            (cursor,),
        )
        rows = list(cur.fetchall())
        # Read after the rows: a trim that removed entries they were read from is seen
        # here (its floor is committed with the delete), and everything is read.
        cur.execute("SELECT value FROM meta WHERE key = %s", (CHANGES_FLOOR,))
        floor = cur.fetchone()
        if floor is not None and cursor < int(floor[0]):
            cur.execute("SELECT series_id, ts, value, note FROM latest")
            rows = list(cur.fetchall())
        return rows

    # Several daemons write at once, and commit out of the order they started in: a
    # sequence would let a reader skip a write that commits late. A row instead carries
    # the id of the transaction that wrote it, and a reader's cursor is the oldest
    # transaction still running when it read (its snapshot's xmin): any write it could
    # not see has an id at or above that.
    def _write_seq(self, cur: Any) -> int:
        cur.execute("SELECT pg_current_xact_id()::text::bigint")
        return int(cur.fetchone()[0])

    def _change_floor(self, cur: Any) -> int:
        cur.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        return int(cur.fetchone()[0])

    # -- locks -----------------------------------------------------------------

    def try_lock(self, name: str) -> bool:
        if self._lock_conn is not None and not self._lock_conn.closed:
            return True
        conn = psycopg.connect(self._dsn, connect_timeout=5, autocommit=True)
        key = zlib.crc32(name.encode()) & 0x7FFFFFFF
        got = conn.execute("SELECT pg_try_advisory_lock(4242, %s)", (key,)).fetchone()
        if got and got[0]:
            self._lock_conn = conn
            return True
        conn.close()
        return False

    def close(self) -> None:
        super().close()
        if self._lock_conn is not None:
            self._lock_conn.close()
            self._lock_conn = None
