"""Benchmark: one collection cycle of the database collectors next to Debian's Prometheus exporters.

PostgreSQL: 50 logical slots (made on the devstack's shared server, dropped
at the end), read by ``collectors.postgres.PostgresCollector`` as the
pg_monitor login, against ``prometheus-postgres-exporter`` on the same server.
MariaDB: a private instance started here with 200 binlog files (so the shared
one is not flooded), read by ``collectors.mysql.MysqlCollector`` as the
monitor login, against ``prometheus-mysqld-exporter --collect.binlog_size``
with the grants its documentation asks for.

Figures, medians of repeated warm cycles/scrapes in the same run:
- wall time of one cycle vs one HTTP GET of the exporter's /metrics;
- queries and round trips per cycle, counted on the wire by a loopback proxy
  (bench/wirecount.py) that both lagwatch and the exporter talk through, in
  separate passes so timing runs direct;
- MariaDB statements per cycle from the private server's own ``Questions``
  counter (nobody else uses that server), minus the counter read itself.

Run: ``python -m bench.sources`` (devstack up). Prints one JSON line per figure.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

from bench.wirecount import WireCounter
from lagwatch.collectors.mysql import MysqlCollector, MysqlSource
from lagwatch.collectors.postgres import PostgresCollector, PostgresSource
from lagwatch.devstack import devstack_env
from tests.support.private_mariadb import PrivateMariadb, free_port

ROOT = Path(__file__).resolve().parents[1]
SLOTS = 50
BINLOG_FILES = 200
CYCLES = 20
SCRAPES = 10
BENCH = "sources"


def emit(metric: str, value: float, unit: str, baseline: str, baseline_value: float) -> None:
    ratio = round(value / baseline_value, 4) if baseline_value else None
    line = {
        "bench": BENCH,
        "metric": metric,
        "value": round(value, 6),
        "unit": unit,
        "baseline": f"{baseline}: {round(baseline_value, 6)} {unit}",
        "ratio": ratio,
    }
    print(json.dumps(line), flush=True)


def median_seconds(action: Callable[[], object], times: int) -> float:
    return interleaved_medians([action], times)[0]


def interleaved_medians(actions: list[Callable[[], object]], times: int) -> list[float]:
    """Return each action's median wall time, the actions taking turns so noise hits all alike."""
    spent: list[list[float]] = [[] for _ in actions]
    for _ in range(times):
        for action, record in zip(actions, spent, strict=True):
            t0 = time.perf_counter()
            action()
            record.append(time.perf_counter() - t0)
    return [statistics.median(record) for record in spent]


def with_address(dsn: str, port: int, query: str = "") -> str:
    """Return ``dsn`` pointing at 127.0.0.1:``port``."""
    url = urlsplit(dsn)
    netloc = url.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{port}"
    return urlunsplit((url.scheme, netloc, url.path, query or url.query, ""))


@contextmanager
def exporter(command: list[str], env: dict[str, str] | None = None) -> Iterator[str]:
    """Run an exporter on a free loopback port; yield its /metrics URL once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [*command, f"--web.listen-address=127.0.0.1:{port}"],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url, timeout=10).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{command[0]} did not start")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def scrape(url: str) -> str:
    response = httpx.get(url, timeout=30)
    response.raise_for_status()
    return response.text


# -- PostgreSQL ----------------------------------------------------------------------


def bench_postgres(env: dict[str, str]) -> None:
    admin, monitor = env["LAGWATCH_PG_ADMIN_DSN"], env["LAGWATCH_PG_MONITOR_DSN"]
    host, port = env["LAGWATCH_PG_HOST"], int(env["LAGWATCH_PG_PORT"])
    prefix = f"lw_bench_{uuid.uuid4().hex[:8]}"
    slots = [f"{prefix}_{i:02d}" for i in range(SLOTS)]
    with psycopg.connect(admin, autocommit=True) as conn:
        try:
            for slot in slots:
                conn.execute(
                    "SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (slot,)
                )
            _measure_postgres(monitor, host, port, prefix)
        finally:
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name LIKE %s",
                (prefix + "%",),
            )


def _pg_collector(dsn: str) -> PostgresCollector:
    return PostgresCollector(
        PostgresSource.model_validate({"name": "bench-pg", "kind": "postgres", "dsn": dsn})
    )


def _measure_postgres(monitor: str, host: str, port: int, prefix: str) -> None:
    collector = _pg_collector(monitor)
    samples = list(collector.collect())  # connects
    cycle = median_seconds(lambda: list(collector.collect()), CYCLES)
    ours_series = sum(1 for s in samples if s.label_dict.get("slot", "").startswith(prefix))
    collector.close()
    plain = with_address(monitor, port, "sslmode=disable")
    with WireCounter("postgres", (host, port)) as wire:
        counted = _pg_collector(with_address(monitor, wire.port, "sslmode=disable"))
        list(counted.collect())
        mark = wire.snapshot()
        list(counted.collect())
        queries, trips = wire.queries(mark), wire.round_trips(mark)
        counted.close()
        command = ["prometheus-postgres-exporter"]
        with exporter(command, {"DATA_SOURCE_NAME": plain}) as url:
            text = scrape(url)
            scrape_time = median_seconds(lambda: scrape(url), SCRAPES)
        theirs_series = sum(1 for line in text.splitlines() if f'slot_name="{prefix}' in line)
        proxied = with_address(monitor, wire.port, "sslmode=disable")
        with exporter(command, {"DATA_SOURCE_NAME": proxied}) as url:
            scrape(url)
            mark = wire.snapshot()
            scrape(url)
            their_queries, their_trips = wire.queries(mark), wire.round_trips(mark)
    name = "prometheus-postgres-exporter 0.11.1 scrape"
    emit(f"pg_{SLOTS}_slots_cycle_seconds", cycle, "s", name, scrape_time)
    emit(f"pg_{SLOTS}_slots_queries_per_cycle", queries, "queries", name, their_queries)
    emit(f"pg_{SLOTS}_slots_round_trips_per_cycle", trips, "round trips", name, their_trips)
    emit(f"pg_{SLOTS}_slots_slot_series", ours_series, "series", name, theirs_series)


# -- MariaDB -------------------------------------------------------------------------


def bench_mariadb() -> None:
    with PrivateMariadb() as db:
        with db.admin() as conn, conn.cursor() as cur:
            cur.execute("CREATE USER 'exporter'@'127.0.0.1' IDENTIFIED BY 'exporter-secret'")
            # What mysqld_exporter's README asks for.
            cur.execute(
                "GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO 'exporter'@'127.0.0.1'"
            )
            for _ in range(BINLOG_FILES - 1):
                cur.execute("FLUSH BINARY LOGS")
            cur.execute("SHOW BINARY LOGS")
            assert len(cur.fetchall()) == BINLOG_FILES
        _measure_mariadb(db)


def _my_collector(dsn: str, *readers: dict[str, str]) -> MysqlCollector:
    source = {"name": "bench-mariadb", "kind": "mysql", "dsn": dsn, "readers": list(readers)}
    return MysqlCollector(MysqlSource.model_validate(source))


def _questions(db: PrivateMariadb) -> Callable[[Callable[[], object]], int]:
    """Return a function that runs an action and counts the statements the server ran meanwhile."""
    admin = db.admin()

    def read() -> int:
        with admin.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Questions'")
            return int(cur.fetchone()[1])

    first = read()
    itself = read() - first  # the counter read counts itself

    def count(action: Callable[[], object]) -> int:
        before = read()
        action()
        return read() - before - itself

    return count


def _cnf(db: PrivateMariadb, port: int) -> Path:
    path = db.dir / f"exporter-{port}.cnf"
    path.write_text(
        f"[client]\nuser=exporter\npassword=exporter-secret\nhost=127.0.0.1\nport={port}\n"
    )
    return path


BINLOG_ONLY = [
    "--no-collect.global_status",
    "--no-collect.global_variables",
    "--no-collect.slave_status",
    "--no-collect.info_schema.innodb_cmp",
    "--no-collect.info_schema.innodb_cmpmem",
    "--no-collect.info_schema.query_response_time",
]


def _measure_mariadb(db: PrivateMariadb) -> None:
    statements = _questions(db)
    reader = {"name": "stalled", "query": "SELECT 'bin.000001' AS file, 4 AS pos, '0-1-1' AS gtid"}
    bare, with_readers = _my_collector(db.monitor_dsn), _my_collector(db.monitor_dsn, reader)
    bare.collect()
    with_readers.collect()
    cycle, reader_cycle = interleaved_medians([bare.collect, with_readers.collect], CYCLES)
    ours = statements(bare.collect)
    ours_readers = statements(with_readers.collect)
    with WireCounter("mysql", ("127.0.0.1", db.port)) as wire:
        counted = _my_collector(with_address(db.monitor_dsn, wire.port))
        counted.collect()
        mark = wire.snapshot()
        counted.collect()
        trips = wire.round_trips(mark)
        counted.close()
        results: dict[str, tuple[float, int, int]] = {}
        for label, extra in (("defaults", []), ("binlog-only", BINLOG_ONLY)):
            base = ["prometheus-mysqld-exporter", "--collect.binlog_size", *extra]
            with exporter([*base, f"--config.my-cnf={_cnf(db, db.port)}"]) as url:
                text = scrape(url)
                assert f"mysql_binlog_files {BINLOG_FILES}" in text, (
                    "the exporter must see them all"
                )
                spent = median_seconds(partial(scrape, url), SCRAPES)
                theirs = statements(partial(scrape, url))
            with exporter([*base, f"--config.my-cnf={_cnf(db, wire.port)}"]) as url:
                scrape(url)
                mark = wire.snapshot()
                scrape(url)
                results[label] = (spent, theirs, wire.round_trips(mark))
    for closing in (bare, with_readers):
        closing.close()
    for label, (spent, theirs, their_trips) in results.items():
        name = f"prometheus-mysqld-exporter 0.14.0 --collect.binlog_size ({label}) scrape"
        emit(f"mariadb_{BINLOG_FILES}_files_cycle_seconds", cycle, "s", name, spent)
        emit(f"mariadb_{BINLOG_FILES}_files_statements_per_cycle", ours, "statements", name, theirs)
        emit(
            f"mariadb_{BINLOG_FILES}_files_round_trips_per_cycle",
            trips,
            "round trips",
            name,
            their_trips,
        )
    name = "prometheus-mysqld-exporter 0.14.0 --collect.binlog_size (defaults) scrape"
    spent, theirs, _ = results["defaults"]
    emit(
        f"mariadb_{BINLOG_FILES}_files_cycle_with_gtid_reader_seconds",
        reader_cycle,
        "s",
        name,
        spent,
    )
    emit(
        f"mariadb_{BINLOG_FILES}_files_statements_per_cycle_with_gtid_reader",
        ours_readers,
        "statements",
        name,
        theirs,
    )


def main() -> None:
    env = devstack_env()
    bench_postgres(env)
    bench_mariadb()


if __name__ == "__main__":
    main()
