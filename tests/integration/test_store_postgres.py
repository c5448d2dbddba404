"""The PostgreSQL backend passes the same store contract, and tolerates several writers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from lagwatch.store import Record, Sample
from lagwatch.store.postgres import PostgresStore
from lagwatch.store.sql import SqlStore
from tests.support.store_contract import StoreContract


@pytest.fixture
def fresh_dsn(pg_admin_dsn: str, unique: str) -> Iterator[str]:
    name = f"lagwatch_store_{unique}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    url = urlsplit(pg_admin_dsn)
    yield urlunsplit(url._replace(path=f"/{name}"))
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(psycopg.sql.Identifier(name))
        )


@pytest.fixture
def store(fresh_dsn: str) -> Iterator[PostgresStore]:
    db = PostgresStore(fresh_dsn)
    yield db
    db.close()


@pytest.fixture
def reopen(fresh_dsn: str) -> Iterator[Callable[[], PostgresStore]]:
    opened: list[PostgresStore] = []

    def another() -> PostgresStore:
        opened.append(PostgresStore(fresh_dsn))
        return opened[-1]

    yield another
    for db in opened:
        db.close()


class TestPostgresContract(StoreContract):
    pass


class PausedWriter(PostgresStore):
    """A store whose next write takes its transaction id, then waits to be let go."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn)
        self.has_xid = threading.Event()
        self.go = threading.Event()

    def _insert_rows(self, cur: Any, *args: Any) -> None:
        cur.execute("SELECT pg_current_xact_id()")
        self.has_xid.set()
        assert self.go.wait(30)
        super()._insert_rows(cur, *args)


def writers_at_once(dsn: str, count: int, work: Callable[[int, PostgresStore], None]) -> None:
    """Run ``work(n, store)`` for writers 0 … count-1 in threads at once, each on a store of
    its own (as daemons are), and fail with any writer's error."""
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        db = PostgresStore(dsn)
        try:
            work(n, db)
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_latest_since_never_misses_a_write_that_commits_late(fresh_dsn: str) -> None:
    """Given a writer whose transaction started first but commits after another writer's, a
    reader reading between the two commits still gets the late write at its next read."""
    reader = PostgresStore(fresh_dsn)
    reader.write([Sample.of("m", 0, 1000.0, w="setup"), Sample.of("m", 0, 1000.0, w="slow")])
    cursor = reader.latest_since(None).cursor
    slow = PausedWriter(fresh_dsn)
    late = threading.Thread(target=slow.write, args=([Sample.of("m", 1, 1001.0, w="slow")],))
    late.start()
    assert slow.has_xid.wait(30)
    PostgresStore(fresh_dsn).write([Sample.of("m", 2, 1002.0, w="fast")])
    between = reader.latest_since(cursor)
    assert {v.label_dict["w"] for v in between.values} == {"fast"}
    slow.go.set()
    late.join()
    after = reader.latest_since(between.cursor)
    assert {(v.label_dict["w"], v.value) for v in after.values} >= {("slow", 1.0)}
    assert reader.latest_since(reader.latest_since(after.cursor).cursor).values == []
    slow.close()
    reader.close()


def test_latest_since_reads_everything_when_its_cursor_is_older_than_the_change_log(
    fresh_dsn: str,
) -> None:
    """Given a reader away for longer than the change log keeps writes, its next read answers
    every series (none is missed); a reader keeping up reads only what changed."""
    writer = PostgresStore(fresh_dsn)
    t0 = float(int(time.time()))
    writer.write([Sample.of("m", i, t0, i=str(i)) for i in range(100)])
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("ANALYZE latest")  # a few series changed of many: read by the log
    away = writer.latest_since(None).cursor
    writer.write([Sample.of("m", 10, t0 + 10, i="0")])
    keeping_up = writer.latest_since(away)
    assert [v.label_dict["i"] for v in keeping_up.values] == ["0"]
    writer.write([Sample.of("m", 11, t0 + 20, i="1")])
    writer.maintain(t0 + 3600)  # the log's entries are all past its keep
    again = writer.latest_since(away)
    assert {v.label_dict["i"] for v in again.values} == {str(i) for i in range(100)}
    assert {v.label_dict["i"]: v.value for v in again.values}["1"] == 11
    writer.write([Sample.of("m", 12, t0 + 30, i="2")])
    assert [v.label_dict["i"] for v in writer.latest_since(again.cursor).values] == ["2"]
    writer.close()


def test_daemon_shaped_writes_update_latest_in_place(fresh_dsn: str) -> None:
    """Given a write of every series per cycle, latest's rows are updated on their own pages
    (HOT: no index entry per update) and a retried write of the same points updates none."""
    store = PostgresStore(fresh_dsn)
    for cycle in range(5):
        store.write([Sample.of("m", cycle, 1000.0 + cycle, i=str(i)) for i in range(300)])
    store.write([Sample.of("m", 4, 1004.0, i=str(i)) for i in range(300)])  # a retry
    assert [v.value for v in store.latest("m")] == [4.0] * 300
    store.close()  # its backend ends and hands in its statistics
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        row = None
        for _ in range(50):
            row = conn.execute(
                "SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                "WHERE relname = 'latest'"
            ).fetchone()
            if row is not None and row[0] > 0:
                break
            time.sleep(0.2)
    assert row is not None and row[:2] == (300, 4 * 300), row
    # Most in place already while the pages settle (none with seq indexed, as before).
    assert row[2] >= row[1] / 2, row


def test_several_writers_create_schema_and_write_at_once(fresh_dsn: str) -> None:
    """Given four daemons starting together on one empty database, all their samples land."""

    def work(n: int, db: PostgresStore) -> None:
        for batch in range(5):
            db.write(
                [Sample.of("m", batch, 1000.0 + batch, writer=str(n), i=str(i)) for i in range(50)]
            )
            db.write([Sample.of("shared", n, 1000.0 + n * 10 + batch)])

    writers_at_once(fresh_dsn, 4, work)
    reader = PostgresStore(fresh_dsn, read_only=True)
    assert len(reader.latest("m")) == 200
    [shared] = reader.query_range("shared", None, 999, 1100, max_points=10**5)
    assert len(shared.points) == 20
    reader.close()


def test_only_one_holder_of_a_named_lock(fresh_dsn: str) -> None:
    a, b = PostgresStore(fresh_dsn), PostgresStore(fresh_dsn)
    assert a.try_lock("alerts")
    assert not b.try_lock("alerts")
    a.close()
    assert b.try_lock("alerts")
    b.close()


class UnpartitionedStore(SqlStore):
    """The PostgreSQL store as it was before partitioning: the shared tables, plain INSERTs."""

    placeholder = "%s"
    id_type = "BIGSERIAL PRIMARY KEY"
    errors = (psycopg.OperationalError,)

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self._dsn = dsn

    def _connect(self) -> Any:
        return psycopg.connect(self._dsn)

    def _write_seq(self, cur: Any) -> int:
        return 0  # that layout had no change cursor: its rows read as written before any


def _partitions(dsn: str, table: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
            (table,),
        ).fetchall()
    return dict(rows)


def _relkind(dsn: str, table: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (table,))
        return str(row.fetchone()[0])


DAY = 86400.0


def test_store_in_the_old_unpartitioned_layout_is_converted_and_nothing_is_lost(
    fresh_dsn: str,
) -> None:
    """Given a store written by the unpartitioned layout over three days, rolled up, with records."""
    t0 = 1_699_999_200.0
    old = UnpartitionedStore(fresh_dsn)
    old.write(
        [Sample.of("m", i % 50, t0 + i * 60, a=str(i % 3)) for i in range(3 * 1440)]
        + [Sample.of("up", 0, t0 + 3 * DAY, note="was down", collector="c")]
    )
    old.maintain(t0 + 3 * DAY)
    old.put_records([Record("alerts.state", "k", t0, {"firing": True})])
    before_raw = old.query_range("m", None, t0, t0 + 3 * DAY, max_points=10**6)
    before_hourly = old.query_range("m", None, t0, t0 + 3 * DAY, step=3600, agg="max")
    before_minutes = old.query_range("m", None, t0, t0 + 3 * DAY, step=60)
    before_latest = old.latest()
    old.close()
    assert _relkind(fresh_dsn, "samples") == "r"

    # When the new code opens it (two writers at once, as a fleet restarting on the new version)
    stores = [PostgresStore(fresh_dsn), PostgresStore(fresh_dsn)]
    threads = [threading.Thread(target=s.latest) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    new = stores[0]
    # Then both time tables are partitioned, the old rows attached as one partition, not copied
    assert _relkind(fresh_dsn, "samples") == "p" and _relkind(fresh_dsn, "rollup_1m") == "p"
    assert "samples_legacy" in _partitions(fresh_dsn, "samples")
    assert "rollup_1m_legacy" in _partitions(fresh_dsn, "rollup_1m")
    assert new.query_range("m", None, t0, t0 + 3 * DAY, max_points=10**6) == before_raw
    assert new.query_range("m", None, t0, t0 + 3 * DAY, step=3600, agg="max") == before_hourly
    assert new.query_range("m", None, t0, t0 + 3 * DAY, step=60) == before_minutes
    assert new.latest() == before_latest
    assert new.get_record("alerts.state", "k") == Record("alerts.state", "k", t0, {"firing": True})

    # And writing goes on: into the old table up to the end of its newest day, day partitions after
    new.write([Sample.of("m", 7, t0 + 3 * DAY + 60, a="0"), Sample.of("m", 8, t0 + 5 * DAY, a="0")])
    new.write([Sample.of("m", 9, t0 + 3 * DAY + 60, a="0")])  # a retried point is replaced
    new.maintain(t0 + 5 * DAY + 120)
    [a0] = new.query_range("m", {"a": "0"}, t0 + 3 * DAY, t0 + 6 * DAY, max_points=10**6)
    assert [v for _, v in a0.points][-2:] == [9.0, 8.0]
    assert any(name.startswith("samples_d") for name in _partitions(fresh_dsn, "samples"))

    # And retention drops the old table whole once its newest row is past the raw retention
    new.maintain(t0 + 13 * DAY)
    assert "samples_legacy" not in _partitions(fresh_dsn, "samples")
    assert "rollup_1m_legacy" in _partitions(fresh_dsn, "rollup_1m")  # 1 m rollups: 90 days
    [hourly] = new.query_range("m", {"a": "0"}, t0, t0 + 3 * DAY - 1, step=3600)
    assert len(hourly.points) == 72  # the 1 h rollup still answers for the old days
    for s in stores:
        s.close()
    reopened = PostgresStore(fresh_dsn)
    assert reopened.latest("up")[0].note == "was down"
    reopened.close()


def test_retention_drops_whole_day_partitions_and_writer_creates_days_ahead(
    fresh_dsn: str,
) -> None:
    """Given raw samples over ten days, maintenance keeps the last seven (whole days)."""
    day0 = 1_700_006_400.0  # a UTC midnight
    db = PostgresStore(fresh_dsn)
    db.write([Sample.of("m", d, day0 + d * DAY + 3600, a="x") for d in range(10)])
    now = day0 + 9 * DAY + 7200
    db.maintain(now)
    names = set(_partitions(fresh_dsn, "samples"))
    today = int(now // DAY)
    kept = {f"samples_d{d}" for d in range(int(day0 // DAY) + 2, today + 3)}
    assert names == kept  # days 0 and 1 ended more than 7 d ago; today + 2 days ahead exist
    [raw] = db.query_range("m", None, day0, now, max_points=10**6)
    assert [v for _, v in raw.points] == [float(d) for d in range(2, 10)]
    db.close()


def test_minute_rollups_are_marked_all_visible_once_an_old_snapshot_ends(fresh_dsn: str) -> None:
    """Given a reader holding a snapshot older than the rollup, the maintenance waits for it
    to end and marks the minute partitions all-visible (range queries stay index-only)."""
    store = PostgresStore(fresh_dsn)
    now = float(int(time.time()))
    store.write([Sample.of("m", i, now - 3600 + i * 10, s="a") for i in range(300)])
    with psycopg.connect(fresh_dsn) as old:
        old.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        old.execute("SELECT 1 FROM meta LIMIT 1")  # the snapshot is taken
        release = threading.Timer(0.5, old.commit)
        release.start()
        store.maintain(now)
        release.join()
    with psycopg.connect(fresh_dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname, c.relpages, c.relallvisible FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'rollup_1m'::regclass AND c.relpages > 0"
        ).fetchall()
    assert rows and all(allvisible >= pages for _, pages, allvisible in rows), rows
    store.close()


def test_writers_sharing_series_in_opposite_orders_never_deadlock(fresh_dsn: str) -> None:
    """Given two daemons writing the same series at once, each batch in the other's reverse
    order, every write lands: latest's rows are locked in series order, not batch order."""
    t0 = float(int(time.time())) - 3600
    PostgresStore(fresh_dsn).write([Sample.of("m", 0, t0, i=str(i)) for i in range(2000)])
    together = threading.Barrier(2, timeout=60)

    def work(n: int, db: PostgresStore) -> None:
        for cycle in range(8):
            batch = [Sample.of("m", n, t0 + 1 + cycle * 2 + n, i=str(i)) for i in range(2000)]
            together.wait()  # both writes under way at once
            db.write(batch if n == 0 else batch[::-1])

    writers_at_once(fresh_dsn, 2, work)
    reader = PostgresStore(fresh_dsn, read_only=True)
    latest = reader.latest("m")
    assert len(latest) == 2000 and {v.ts for v in latest} == {t0 + 1 + 7 * 2 + 1}
    reader.close()


def test_writers_adding_the_same_new_series_at_once_agree_on_their_ids(fresh_dsn: str) -> None:
    """Given two daemons whose first write brings the same 3,000 new series (in opposite
    orders), both land, each series exists once, and each writer's ids are the stored ones."""
    t0 = float(int(time.time())) - 60
    together = threading.Barrier(2, timeout=60)
    ids: list[dict[tuple[str, tuple[tuple[str, str], ...]], int]] = []

    def work(n: int, db: PostgresStore) -> None:
        batch = [Sample.of("new", n, t0 + n, i=str(i), g=str(i % 7)) for i in range(3000)]
        together.wait()
        db.write(batch if n == 0 else batch[::-1])
        ids.append({k: v for k, v in db._series_ids.items() if k[0] == "new"})

    writers_at_once(fresh_dsn, 2, work)
    with psycopg.connect(fresh_dsn) as conn:
        stored = conn.execute(
            "SELECT count(*), count(DISTINCT labels) FROM series WHERE name = 'new'"
        )
        assert stored.fetchone() == (3000, 3000)
    assert len(ids) == 2 and ids[0] == ids[1] and len(ids[0]) == 3000
    reader = PostgresStore(fresh_dsn, read_only=True)
    assert len(reader.latest("new")) == 3000
    assert len(reader.query_range("new", None, t0 - 1, t0 + 2)) == 3000
    reader.close()
