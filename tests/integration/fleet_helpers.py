"""Scenario steps for the fleet tests: a fresh store database, daemons on it, what they wrote."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from lagwatch.store.postgres import PostgresStore
from tests.support.daemon_run import ROOT, start_daemon, stop_daemon


@contextmanager
def fresh_database(admin_dsn: str, name: str) -> Iterator[str]:
    """Create database ``name`` on the devstack server; yield its DSN; drop it afterwards."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(admin_dsn)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def wait(what: str, check: Callable[[], Any], timeout: float = 60.0, every: float = 0.2) -> Any:
    """Return check()'s first truthy result; fail after ``timeout`` seconds."""
    deadline = time.time() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.time() < deadline, f"timed out after {timeout:g}s waiting for {what}"
        time.sleep(every)


def fleet_status(config: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "lagwatch", "fleet", "status", "--json", "-c", str(config)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def live(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in status["daemons"] if d["state"] == "live"]


class Fleet:
    """Daemons started from one config, each with its own log, stopped (or killed) at the end."""

    def __init__(self, config: Path, logs: Path) -> None:
        self.config = config
        self.logs = logs
        self.daemons: list[subprocess.Popen[bytes]] = []

    def start(self, count: int) -> None:
        for _ in range(count):
            n = len(self.daemons)
            self.daemons.append(start_daemon(self.config, self.logs / f"daemon{n}.log"))

    def by_id(self, daemon_id: str) -> subprocess.Popen[bytes]:
        pid = int(daemon_id.split(":")[1])
        [found] = [d for d in self.daemons if d.pid == pid]
        return found

    def kill(self, daemon_id: str) -> float:
        """SIGKILL the daemon; return when (time.time()) it was killed."""
        daemon = self.by_id(daemon_id)
        daemon.send_signal(signal.SIGKILL)
        killed = time.time()
        daemon.wait(timeout=30)
        return killed

    def stop(self) -> None:
        for daemon in self.daemons:
            if daemon.poll() is None:
                stop_daemon(daemon)

    def log_times(self, words: str) -> list[float]:
        """When (Unix seconds) the daemons logged a line containing ``words``."""
        found = []
        for line in self.log_text().splitlines():
            if words in line:
                stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                found.append(stamp.timestamp())  # the log's local time, as time.time() counts
        return found

    def log_text(self) -> str:
        return "".join(p.read_text() for p in sorted(self.logs.glob("daemon*.log")))


def runs(dsn: str, start: float, end: float) -> dict[str, list[float]]:
    """Per collector, the raw timestamps of its health samples (one per run) in [start, end].

    Read from the samples table itself, at millisecond resolution: a range query would
    bucket them by at least a second and could fold two daemons' runs into one point.
    """
    found: dict[str, list[float]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT r.labels, s.ts FROM samples s JOIN series r ON r.id = s.series_id"
            " WHERE r.name = 'lagwatch_collector_up' AND s.ts BETWEEN %s AND %s ORDER BY s.ts",
            (int(start * 1000), int(end * 1000)),
        ).fetchall()
    for labels, ts in rows:
        found.setdefault(json.loads(labels)["collector"], []).append(ts / 1000)
    return found


def run_spans(dsn: str, start: float, end: float) -> dict[str, list[tuple[float, float]]]:
    """Per collector, (started, ended) of each run whose health samples are in [start, end].

    A run's samples are stamped when its collection ended, and the duration series says how
    long it took: its start is the stamp less the duration. Two runs of one cycle show as
    starts close together (a slow run then a fast one only bring the stamps together), and
    two daemons running a collector at once as a run starting before the one before ended.
    """
    found: dict[str, list[tuple[float, float]]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT r.labels, s.ts, s.value FROM samples s JOIN series r ON r.id = s.series_id"
            " WHERE r.name = 'lagwatch_collector_duration_seconds' AND s.ts BETWEEN %s AND %s"
            " ORDER BY s.ts",
            (int(start * 1000), int(end * 1000)),
        ).fetchall()
    for labels, ts, duration in rows:
        ended = ts / 1000
        found.setdefault(json.loads(labels)["collector"], []).append((ended - duration, ended))
    for spans in found.values():
        spans.sort()
    return found


def ran_by(store: PostgresStore) -> dict[str, str]:
    """The daemon that last ran each collector (the note of its duration series)."""
    return {
        dict(v.labels)["collector"]: v.note or ""
        for v in store.latest("lagwatch_collector_duration_seconds")
    }
