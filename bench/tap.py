"""Benchmark the PostgreSQL tap against PostgreSQL's own pg_recvlogical, in the same run.

1. Latency: single-row commits (the workload session sets synchronous_commit=on,
   so the walwriter's cadence does not dominate) are read at the same time by
   the tap (pgoutput) and by pg_recvlogical (test_decoding, include-timestamp);
   for each, commit → observed = arrival time − the server's commit timestamp.
2. Throughput: N row inserts are committed while three idle slots hold them;
   one unmeasured drain warms the caches, then each reader alone drains its
   slot: the tap (decoding every row into a Change), then pg_recvlogical
   (pgoutput, -E end LSN, output to /dev/null).
3. Probe overhead: a probe runs for a while at its default 1 s interval, and the
   writes it made to its table are counted from pg_stat_user_tables.

Prints one JSON line per figure. Run: python bench/tap.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lagwatch.collectors.tap import Change
from lagwatch.collectors.tap.postgres import PostgresTap, replication_dsn
from lagwatch.devstack import devstack_env

COMMIT_AT = re.compile(r"^COMMIT \d+ \(at (.+)\)$")


def emit(metric: str, value: float, unit: str, baseline: str, base_value: float | None) -> None:
    ratio = value / base_value if base_value else None
    print(
        json.dumps(
            {
                "bench": "tap",
                "metric": metric,
                "value": round(value, 6),
                "unit": unit,
                "baseline": baseline,
                "ratio": None if ratio is None else round(ratio, 3),
            }
        ),
        flush=True,
    )


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))]


def libpq_args(dsn: str) -> list[str]:
    return ["-d", replication_dsn(dsn)]


def recvlogical(pg_bin: str, dsn: str, *args: str) -> list[str]:
    return [f"{pg_bin}/pg_recvlogical", *libpq_args(dsn), *args]


def latency(dsn: str, pg_bin: str, table: sql.Composed, publication: str, commits: int) -> None:
    slot = f"lwbench_recv_{uuid.uuid4().hex[:8]}"
    subprocess.run(
        recvlogical(pg_bin, dsn, "--slot", slot, "--create-slot", "--plugin", "test_decoding"),
        check=True,
    )
    reader = subprocess.Popen(
        recvlogical(
            pg_bin, dsn, "--slot", slot, "--start", "-f", "-", "-o", "include-timestamp=on"
        ),
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    recv_lat: list[float] = []

    def read_recvlogical() -> None:
        assert reader.stdout is not None
        for line in reader.stdout:
            now = time.time()
            found = COMMIT_AT.match(line.strip())
            if found:
                stamp = found.group(1)
                if re.search(r"[+-]\d\d$", stamp):
                    stamp += ":00"
                recv_lat.append(now - datetime.fromisoformat(stamp).timestamp())

    tap_lat: list[float] = []
    tap = PostgresTap("bench", dsn, publication)
    stop = threading.Event()

    def on_change(change: Change) -> None:
        if change.commit_ts is not None:
            tap_lat.append(change.seen - change.commit_ts)

    threads = [
        threading.Thread(target=read_recvlogical, daemon=True),
        threading.Thread(target=tap.run, args=(on_change, stop), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        assert tap.ready.wait(30), tap.error
        time.sleep(1.0)  # pg_recvlogical has no ready signal; give it its start-up
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET synchronous_commit = on")
            statement = sql.SQL("INSERT INTO {} (id, payload) VALUES (%s, 'latency')").format(table)
            for i in range(commits):
                conn.execute(statement, (10_000_000 + i,))
                time.sleep(0.02)
        deadline = time.monotonic() + 10
        while (len(tap_lat) < commits or len(recv_lat) < commits) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        reader.terminate()
        reader.wait(10)
        subprocess.run(recvlogical(pg_bin, dsn, "--slot", slot, "--drop-slot"), check=False)
    recv_lat, tap_lat = recv_lat[-commits:], tap_lat[-commits:]
    base = f"pg_recvlogical (test_decoding) on the same {len(recv_lat)} single-row commits"
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        theirs = quantile(recv_lat, q)
        emit(
            f"commit_to_observed_{name}",
            quantile(tap_lat, q),
            "s",
            f"{base}: {theirs:.6f} s",
            theirs,
        )


def throughput(dsn: str, pg_bin: str, table: sql.Composed, publication: str, rows: int) -> None:
    tag = uuid.uuid4().hex[:8]
    tap_slot, recv_slot, warm_slot = (f"lwbench_{r}_{tag}" for r in ("tap", "drain", "warm"))
    slots = (tap_slot, recv_slot, warm_slot)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for slot in slots:
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        try:
            batch = 1000
            insert = sql.SQL(
                "INSERT INTO {} (id, payload) SELECT g, repeat('x', 64) FROM generate_series(%s::bigint, %s::bigint) g"
            ).format(table)
            for start in range(0, rows, batch):
                conn.execute(insert, (start, min(rows, start + batch) - 1))
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            assert row is not None
            end_lsn = row[0]

            # An unmeasured drain first, so both measured readers find the same warm caches.
            drain = [
                "--start", "-E", end_lsn, "-f", "/dev/null",
                "-o", "proto_version=1", "-o", f"publication_names={publication}",
            ]  # fmt: skip
            subprocess.run(recvlogical(pg_bin, dsn, "--slot", warm_slot, *drain), check=True)
            seen = 0
            done = threading.Event()
            stop = threading.Event()

            def on_change(change: Change) -> None:
                nonlocal seen
                if change.op == "insert":
                    seen += 1
                    if seen >= rows:
                        done.set()

            tap = PostgresTap("bench-drain", dsn, publication, slot=tap_slot)
            started = time.monotonic()
            thread = threading.Thread(target=tap.run, args=(on_change, stop), daemon=True)
            thread.start()
            finished = done.wait(300)
            tap_rate = seen / (time.monotonic() - started)
            stop.set()
            thread.join(10)
            if not finished:
                print(f"tap saw {seen} of {rows} rows: {tap.error}", file=sys.stderr)

            started = time.monotonic()
            subprocess.run(recvlogical(pg_bin, dsn, "--slot", recv_slot, *drain), check=True)
            recv_rate = rows / (time.monotonic() - started)
        finally:
            for slot in slots:
                conn.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                    (slot,),
                )
    emit(
        "throughput", tap_rate, "row changes/s",
        f"pg_recvlogical (pgoutput, -E end LSN) draining the same {rows} rows: {recv_rate:.0f} rows/s",
        recv_rate,
    )  # fmt: skip


def probe_overhead(dsn: str, seconds: float) -> None:
    """Count the probe's writes to its table over ``seconds`` with the default interval."""
    from lagwatch.collectors.postgres.pipeline import PostgresProbeWriter, init_postgres
    from lagwatch.collectors.probe.table import RING, TableName

    schema = f"lwbench_probe_{uuid.uuid4().hex[:8]}"
    table = TableName(schema, "probe")
    init_postgres(dsn, table, schema)
    writer = PostgresProbeWriter(dsn, table)
    stats = "SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE schemaname = %s"
    try:
        from lagwatch.collectors.probe.trace import ProbeTracer

        tracer = ProbeTracer("bench")
        started = time.monotonic()
        seq = 0
        while time.monotonic() - started < seconds:
            tick = time.monotonic()
            sent_at = time.time()
            probe_id, traceparent = tracer.start(sent_at)
            writer.write(("bench", seq % RING, probe_id, sent_at, traceparent))
            seq += 1
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))  # the default interval
        elapsed = time.monotonic() - started
        writer.close()
        time.sleep(1.5)  # table statistics are flushed about once a second
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(stats, (schema,)).fetchone()
        writes = float(row[0]) if row else 0.0
        emit(
            "probe_writes_per_second", writes / elapsed, "writes/s",
            "target: at most 1 small insert per second per pipeline", 1.0,
        )  # fmt: skip
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--commits", type=int, default=400)
    parser.add_argument("--probe-seconds", type=float, default=10.0)
    args = parser.parse_args()
    env = devstack_env()
    dsn, pg_bin = env["LAGWATCH_PG_ADMIN_DSN"], env["LAGWATCH_PG_BIN"]
    schema = f"lwbench_{uuid.uuid4().hex[:8]}"
    table = sql.SQL("{}.t").format(sql.Identifier(schema))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, payload text)").format(table))
        conn.execute(
            sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(schema), table)
        )
    try:
        latency(dsn, pg_bin, table, schema, args.commits)
        throughput(dsn, pg_bin, table, schema, args.rows)
        probe_overhead(dsn, args.probe_seconds)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
