"""A lagwatch run as the daemon makes it — config, build_all, the runner, a SQLite store — for
the Connect integration tests, and the truth tools they compare it with (psql, SQL)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from psycopg import sql

from lagwatch.build import build_all
from lagwatch.collectors.base import Collector, CollectorContext
from lagwatch.collectors.connect import EXTRAS_KEY
from lagwatch.collectors.runner import Runner
from lagwatch.config import LagwatchConfig, load
from lagwatch.store import LatestValue
from lagwatch.store.sqlite import SqliteStore
from tests.support.connect import env, mariadb, pg, wait_for
from tests.support.private_postgres import PrivatePostgres


class Watch:
    """Every collector of a config, run by the real runner into a real store."""

    def __init__(self, tmp_path: Path, config: dict[str, Any]) -> None:
        path = tmp_path / "lagwatch.yaml"
        path.write_text(yaml.safe_dump(config))
        self.config: LagwatchConfig = load(path)
        self.store = SqliteStore(str(tmp_path / "lagwatch.db"))
        self.context = CollectorContext(store=self.store)
        self.collectors: dict[str, Collector] = {
            c.name: c for c in build_all(self.config, self.context)
        }
        self.runner = Runner(self.store, redact=_redactor(self.config.secrets()))

    def cycle(self, *names: str) -> None:
        """Run the named collectors (all when none are named) once each."""
        for name in names or tuple(self.collectors):
            result = self.runner.run(self.collectors[name])
            assert result.ok, f"{name}: {result.error}"

    def latest(self, name: str, **labels: str) -> LatestValue:
        found = self.store.latest(name, labels)
        assert len(found) == 1, f"expected one {name} {labels}, found {found}"
        return found[0]

    def maybe(self, name: str, **labels: str) -> LatestValue | None:
        found = self.store.latest(name, labels)
        return found[0] if found else None

    def close(self) -> None:
        for collector in self.collectors.values():
            collector.close()
        for endpoint in dict(self.context.extras.get(EXTRAS_KEY) or {}).values():
            endpoint.close()
        self.store.close()


def _redactor(secrets: list[str]) -> Any:
    def redact(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    return redact


def connect_entry(url: str | None = None, **options: Any) -> dict[str, Any]:
    return {"name": "cdc", "url": url or env("CONNECT_URL"), **options}


def pg_source() -> dict[str, Any]:
    return {"name": "pg", "kind": "postgres", "dsn": env("PG_MONITOR_DSN")}


def mysql_source(**options: Any) -> dict[str, Any]:
    return {"name": "maria", "kind": "mysql", "dsn": env("MYSQL_MONITOR_DSN"), **options}


def kafka_entry() -> dict[str, Any]:
    return {"name": "main", "bootstrap": env("KAFKA_BOOTSTRAP")}


def lsn_text(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def psql_lsn_diff(lsn: int, dsn: str | None = None) -> int:
    """Return pg_wal_lsn_diff(pg_current_wal_lsn(), lsn) as psql computes it, now."""
    done = subprocess.run(
        [
            f"{env('PG_BIN')}/psql",
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            f"lsn={lsn_text(lsn)}",
            "-d",
            dsn or env("PG_MONITOR_DSN"),
        ],
        input="SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), :'lsn'::pg_lsn)::bigint;\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return int(done.stdout.strip())


def binlog_behind(file: str, pos: int) -> int:
    """Return the server's current binlog position minus (file, pos), files summed, now."""
    conn = mariadb(env("MYSQL_MONITOR_DSN"))
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW BINARY LOGS")
            files = [(str(r[0]), int(r[1])) for r in cur.fetchall()]
            cur.execute("SHOW MASTER STATUS")
            current, position = cur.fetchone()[:2]
    finally:
        conn.close()
    names = [f for f, _ in files]
    assert file in names, f"{file} is not on the server any more ({names})"
    at = names.index(file)
    if files[at][0] == current:
        return int(position) - pos
    return (files[at][1] - pos) + sum(size for _, size in files[at + 1 : -1]) + int(position)


@contextmanager
def private_pg(track_commit_timestamp: str = "off") -> Iterator[PrivatePostgres]:
    """A PostgreSQL of this test only (nothing else commits there), ready for Debezium."""
    server = PrivatePostgres(
        settings={
            "wal_level": "logical",
            "autovacuum": "off",
            "track_commit_timestamp": track_commit_timestamp,
        }
    )
    try:
        server.start()
        server.wait_ready()
        role = sql.Identifier(env("DEBEZIUM_USER"))
        with pg(server.dsn()) as conn:
            # Trust authentication: the password Debezium gives does not matter here.
            conn.execute(sql.SQL("CREATE ROLE {} REPLICATION LOGIN").format(role))
            conn.execute(
                sql.SQL("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {}").format(role)
            )
            conn.execute("CREATE TABLE public.elsewhere (id int PRIMARY KEY)")
        yield server
    finally:
        server.destroy()


@contextmanager
def writing(write: Callable[[int], None], every: float = 0.05) -> Iterator[list[int]]:
    """Keep calling ``write(n)`` in a thread for the duration of the block."""
    done = threading.Event()
    count = [0]

    def run() -> None:
        while not done.is_set():
            count[0] += 1
            write(count[0])
            time.sleep(every)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: count[0] >= 3, 30)
        yield count
    finally:
        done.set()
        thread.join(timeout=30)
