"""Store benchmark: ingest rate, latest of 10k series, a 24 h range of 100 series.

Runs against both backends (SQLite in a temp folder, PostgreSQL from the
devstack in a fresh database) and prints one JSON line per figure. The
baseline for ingest is a bare `executemany` INSERT of the same rows into a
plain table of the same database, measured in the same run: it is what the
database itself does with no series lookup, no latest table and no upsert.
`ingest_daemon_shaped` writes as the daemon does (one point of every series a
write) and quotes the bulk ingest of the same run, and SQLite's, beside it.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql

from lagwatch.devstack import devstack_env
from lagwatch.store import Sample, Store
from lagwatch.store.postgres import PostgresStore
from lagwatch.store.sqlite import SqliteStore

SERIES = 10_000
BATCH_TIMES = 10  # timestamps per batch: a batch is 100,000 samples
BATCHES = 4
ROUNDS = 3  # bulk ingest is timed this many times over (median, and the slowest, printed)
CYCLES = 10  # daemon-shaped writes: one point of every series each
RANGE_SERIES = 100
DAY = 86_400
STEP = 10


def emit(
    backend: str,
    metric: str,
    value: float,
    unit: str,
    baseline: str = "",
    base: float | None = None,
    target: str = "",
    **extra: object,
) -> None:
    line: dict[str, object] = {"bench": "store", "backend": backend, "metric": metric,
                               "value": round(value, 4), "unit": unit}  # fmt: skip
    if baseline:
        line["baseline"] = baseline
        line["baseline_value"] = round(base or 0.0, 4)
        line["ratio"] = round(value / base, 3) if base else None
    if target:
        line["target"] = target
    line.update(extra)
    print(json.dumps(line), flush=True)


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    """Return the median wall time of ``fn`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


Rows = list[tuple[int, int, float]]

daemon_shaped: dict[str, float] = {}
"""Each backend's daemon-shaped ingest of this run, for the next backend's line."""


def process_cpu(pid: int) -> float:
    """Return the CPU seconds (user + system) process ``pid`` of this machine has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_writes(
    store: Store, writes: list[list[Sample]], server_cpu: Callable[[], float] | None
) -> tuple[float, float]:
    """Write each batch in turn; return the wall seconds, and the CPU seconds of this process
    plus (when ``server_cpu`` reads it) its server backend's."""
    cpu0, server0 = time.process_time(), server_cpu() if server_cpu else 0.0
    t0 = time.perf_counter()
    for batch in writes:
        store.write(batch)
    elapsed = time.perf_counter() - t0
    used = time.process_time() - cpu0 + (server_cpu() - server0 if server_cpu else 0.0)
    return elapsed, used


def bench(
    backend: str,
    store: Store,
    bare_insert: Callable[[Rows], None],
    bare_copy: Callable[[Rows], None] | None = None,
    server_cpu: Callable[[], float] | None = None,
) -> None:
    now = float(int(time.time()))
    # The series exist, as in a running daemon (one earlier point each, not one of the batches').
    store.write([Sample.of("lagwatch_bench_value", 0, now - DAY - 100, series=str(i))
                 for i in range(SERIES)])  # fmt: skip
    # One run on a shared machine can fall into someone else's burst: the bulk ingest is
    # timed ROUNDS times over (each round new points of the same series, later in time).
    rates, used = [], 0.0
    for r in range(ROUNDS):
        batches = [
            [Sample.of("lagwatch_bench_value", (b * 7 + i) % 1000,
                       now - DAY + (r * BATCHES + b) * 100 + t, series=str(i))
             for t in range(BATCH_TIMES) for i in range(SERIES)]
            for b in range(BATCHES)
        ]  # fmt: skip
        elapsed, cpu = timed_writes(store, batches, server_cpu)
        rates.append(BATCHES * BATCH_TIMES * SERIES / elapsed)
        used += cpu
    ours = statistics.median(rates)
    rows = [
        (i, int((now + b * 100 + t) * 1000), float(i))
        for b in range(BATCHES)
        for t in range(BATCH_TIMES)
        for i in range(SERIES)
    ]
    t0 = time.perf_counter()
    bare_insert(rows)
    bare = len(rows) / (time.perf_counter() - t0)
    emit(
        backend,
        "ingest",
        ours,
        "samples/s",
        "bare executemany INSERT, same rows",
        bare,
        ">= 200000",
        slowest_round=round(min(rates), 1),
        rounds=[round(rate, 1) for rate in rates],
        load_average=round(os.getloadavg()[0], 2),
    )
    if bare_copy is not None:
        # The fastest path the database has: binary COPY of the same rows into a plain table.
        shifted = [(sid, ts + DAY * 1000, value) for sid, ts, value in rows]
        t0 = time.perf_counter()
        bare_copy(shifted)
        copied = len(rows) / (time.perf_counter() - t0)
        emit(backend, "ingest_vs_copy", ours, "samples/s", "bare binary COPY, same rows", copied)
    if server_cpu is not None:
        # The wall-clock rate moves with whatever else shares the machine; the CPU seconds the
        # writer and its server backend spend do not: samples per CPU second is the rate
        # of an unshared machine (the client and its backend take turns, one batch at a time).
        emit(backend, "ingest_cpu_bound", ROUNDS * BATCHES * BATCH_TIMES * SERIES / used, "samples/s",
             target=">= 200000")  # fmt: skip

    # Shaped like the daemon's writes: each Runner cycle writes every series once, so a
    # write holds one point per series and moves every series' latest row.
    store.write([Sample.of("lagwatch_bench_cycle", 0, now - DAY, series=str(i))
                 for i in range(SERIES)])  # fmt: skip
    cycles = [[Sample.of("lagwatch_bench_cycle", (c * 7 + i) % 1000, now - DAY + 10 * (c + 1),
                         series=str(i)) for i in range(SERIES)] for c in range(CYCLES)]  # fmt: skip
    elapsed, used = timed_writes(store, cycles, server_cpu)
    shaped = CYCLES * SERIES / elapsed
    daemon_shaped[backend] = shaped
    line: dict[str, object] = {"bench": "store", "backend": backend,
                               "metric": "ingest_daemon_shaped", "value": round(shaped, 1),
                               "unit": "samples/s",
                               "baseline": "bulk COPY ingest (10 points per series a write), same run",
                               "baseline_value": round(ours, 1), "ratio": round(shaped / ours, 3),
                               "samples_per_cpu_second": round(CYCLES * SERIES / used, 1)}  # fmt: skip
    if backend != "sqlite" and "sqlite" in daemon_shaped:
        line["sqlite_value"] = round(daemon_shaped["sqlite"], 1)
        line["vs_sqlite"] = round(shaped / daemon_shaped["sqlite"], 3)
    print(json.dumps(line), flush=True)

    latest = timed(lambda: store.latest("lagwatch_bench_value"))
    count = len(store.latest("lagwatch_bench_value"))
    assert count == SERIES, count
    emit(backend, "latest_10k_series", latest * 1000, "ms", target="<= 50 (sqlite)")

    # 24 h of 100 series at 10 s resolution, rolled up the way the daemon does.
    day = [Sample.of("lagwatch_bench_range", (t // STEP) % 360, now - DAY + t, series=str(i))
           for t in range(0, DAY, STEP) for i in range(RANGE_SERIES)]  # fmt: skip
    for i in range(0, len(day), 100_000):
        store.write(day[i : i + 100_000])
    t0 = time.perf_counter()
    store.maintain(now)
    emit(backend, "rollup_864k_samples", time.perf_counter() - t0, "s")
    result = store.query_range("lagwatch_bench_range", None, now - DAY, now, max_points=2000)
    assert len(result) == RANGE_SERIES and all(0 < len(s.points) <= 2000 for s in result)
    query = timed(
        lambda: store.query_range("lagwatch_bench_range", None, now - DAY, now, max_points=2000)
    )
    emit(backend, "range_24h_100_series", query * 1000, "ms", target="<= 200")
    print(json.dumps({"bench": "store", "backend": backend, "metric": "range_points_per_series",
                      "value": len(result[0].points), "unit": "points"}), flush=True)  # fmt: skip


@contextmanager
def sqlite_store() -> Iterator[tuple[SqliteStore, Callable[[Rows], None]]]:
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "bench.db")
        import sqlite3

        bare = sqlite3.connect(Path(folder) / "bare.db")
        bare.execute("PRAGMA journal_mode = WAL")
        bare.execute("PRAGMA synchronous = NORMAL")
        bare.execute(
            "CREATE TABLE samples (series_id INTEGER, ts INTEGER, value REAL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID"
        )

        def insert(rows: list[tuple[int, int, float]]) -> None:
            bare.executemany("INSERT INTO samples VALUES (?, ?, ?)", rows)
            bare.commit()

        yield store, insert
        store.close()
        bare.close()


@contextmanager
def postgres_store(
    admin_dsn: str,
) -> Iterator[tuple[PostgresStore, Callable[[Rows], None], Callable[[Rows], None]]]:
    name = f"lagwatch_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = urlunsplit(urlsplit(admin_dsn)._replace(path=f"/{name}"))
    store = PostgresStore(dsn)
    bare = psycopg.connect(dsn)
    bare.execute(
        "CREATE TABLE bare (series_id BIGINT, ts BIGINT, value DOUBLE PRECISION, PRIMARY KEY (series_id, ts))"
    )
    bare.commit()

    def insert(rows: Rows) -> None:
        with bare.cursor() as cur:
            cur.executemany("INSERT INTO bare VALUES (%s, %s, %s)", rows)
        bare.commit()

    def copy(rows: Rows) -> None:
        with bare.cursor() as cur, cur.copy("COPY bare FROM STDIN (FORMAT BINARY)") as out:
            out.set_types(["int8", "int8", "float8"])
            for row in rows:
                out.write_row(row)
        bare.commit()

    try:
        yield store, insert, copy
    finally:
        store.close()
        bare.close()
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    backends = sys.argv[1:] or ["sqlite", "postgres"]
    if "sqlite" in backends:
        with sqlite_store() as (store, insert):
            bench("sqlite", store, insert)
    if "postgres" in backends:
        admin = devstack_env().get("LAGWATCH_PG_ADMIN_DSN")
        assert admin, "no PostgreSQL: run devstack/up"
        with postgres_store(admin) as (store, insert, copy):
            with store._cursor() as cur:  # the bench's own look at the server process
                cur.execute("SELECT pg_backend_pid()")
                backend_pid = int(cur.fetchone()[0])
            bench("postgres", store, insert, copy, lambda: process_cpu(backend_pid))


if __name__ == "__main__":
    main()
