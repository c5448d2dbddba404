"""The daemon and CLI against the real devstack: health series, sources down, store outages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lagwatch.store import StoreConfig, StoreUnavailable, open_store
from lagwatch.store.postgres import PostgresStore
from tests.support.ports import free_port
from tests.support.private_postgres import PrivatePostgres

ROOT = Path(__file__).resolve().parents[2]


def lagwatch(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lagwatch", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=timeout,
    )


def config(tmp_path: Path, store_url: str, extra_sources: str = "", interval: str = "1s") -> Path:
    path = tmp_path / "lagwatch.yaml"
    path.write_text(
        f"store: {{url: '{store_url}'}}\n"
        "daemon: {metrics_listen: null, jitter: 0s}\n"
        "sources:\n"
        f"  - {{name: pg, kind: postgres, dsn: '${{LAGWATCH_PG_MONITOR_DSN}}', interval: {interval}}}\n"
        f"  - {{name: maria, kind: mysql, dsn: '${{LAGWATCH_MYSQL_MONITOR_DSN}}', interval: {interval}}}\n"
        f"{extra_sources}"
        "kafka:\n"
        f"  - {{name: local, bootstrap: '${{LAGWATCH_KAFKA_BOOTSTRAP}}', interval: {interval}}}\n"
    )
    return path


@pytest.fixture
def env(
    devstack_env: dict[str, str], pg_admin_dsn: str, mysql_admin_dsn: str, kafka_bootstrap: str
) -> dict[str, str]:
    return devstack_env


def test_collect_once_then_snapshot_shows_collector_health(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = config(tmp_path, f"sqlite:///{tmp_path}/store.db")
    done = lagwatch("collect", "--once", "-c", str(path), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    snap = lagwatch("snapshot", "--json", "-c", str(path), env=env)
    assert snap.returncode == 0, snap.stderr
    rows = json.loads(snap.stdout)
    up = {
        r["labels"]["collector"]: r["value"] for r in rows if r["name"] == "lagwatch_collector_up"
    }
    assert up == {"postgres:pg": 1.0, "mysql:maria": 1.0, "kafka:local": 1.0}
    for row in rows:
        assert set(row) >= {"name", "labels", "value", "ts"}
        assert abs(row["ts"] - time.time()) < 120


def test_a_source_that_is_down_is_reported_not_fatal(tmp_path: Path, env: dict[str, str]) -> None:
    dead = free_port()
    path = config(
        tmp_path,
        f"sqlite:///{tmp_path}/store.db",
        extra_sources=f"  - {{name: gone, kind: postgres, dsn: 'postgresql://u:topsecret@127.0.0.1:{dead}/x'}}\n",
    )
    done = lagwatch("collect", "--once", "-c", str(path), env=env)
    assert done.returncode == 1
    assert "FAIL postgres:gone" in done.stdout and "ok   postgres:pg" in done.stdout
    assert "topsecret" not in done.stdout + done.stderr
    rows = json.loads(lagwatch("snapshot", "--json", "-c", str(path), env=env).stdout)
    [gone] = [
        r
        for r in rows
        if r["labels"].get("collector") == "postgres:gone" and r["name"] == "lagwatch_collector_up"
    ]
    assert gone["value"] == 0 and "cannot connect to PostgreSQL" in gone["note"]
    check = lagwatch("check", "-c", str(path), env=env)
    assert check.returncode == 1
    assert "FAIL postgres:gone: source gone: cannot connect to PostgreSQL" in check.stdout
    assert "ok   kafka:local" in check.stdout and "topsecret" not in check.stdout + check.stderr


def test_check_passes_on_a_healthy_config(tmp_path: Path, env: dict[str, str]) -> None:
    done = lagwatch("check", "-c", str(config(tmp_path, f"sqlite:///{tmp_path}/s.db")), env=env)
    assert done.returncode == 0, done.stdout
    assert done.stdout.count("ok ") == 4


def test_store_away_for_30s_loses_nothing_and_sigterm_flushes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Given a daemon writing to a PostgreSQL store, when that store is down for 30 s,
    then the daemon keeps collecting, and every sample reaches the store once it returns."""
    server = PrivatePostgres()
    server.start()
    try:
        path = config(tmp_path, server.dsn())
        daemon = subprocess.Popen(
            [sys.executable, "-m", "lagwatch", "run", "-c", str(path)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        time.sleep(4)
        server.stop()
        down_at = time.time()
        time.sleep(30)
        server.start()
        up_at = time.time()
        time.sleep(5)
        daemon.send_signal(signal.SIGTERM)
        output, _ = daemon.communicate(timeout=60)
        assert daemon.returncode == 0, output
        assert "store unavailable" in output and "store is back" in output
        db = PostgresStore(server.dsn(), read_only=True)
        [series] = db.query_range(
            "lagwatch_collector_duration_seconds", {"collector": "postgres:pg"},
            down_at - 5, up_at + 5, max_points=10**6,
        )  # fmt: skip
        times = [t for t, _ in series.points]
        during = [t for t in times if down_at < t < up_at]
        assert len(during) >= 25  # one run a second kept in memory while the store was away
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert max(gaps) < 3.5
        assert db.latest("lagwatch_store_dropped_samples_total")[0].value == 0
        db.close()
    finally:
        server.destroy()


def test_open_store_reads_sqlite_written_by_the_daemon(tmp_path: Path, env: dict[str, str]) -> None:
    path = config(tmp_path, f"sqlite:///{tmp_path}/store.db")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "lagwatch", "run", "-c", str(path)],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        reader = open_store(StoreConfig(url=f"sqlite:///{tmp_path}/store.db"), read_only=True)
        deadline = time.monotonic() + 30
        seen: set[float] = set()
        while time.monotonic() < deadline and len(seen) < 3:
            try:
                seen.update(
                    v.ts
                    for v in reader.latest(
                        "lagwatch_collector_duration_seconds", {"collector": "postgres:pg"}
                    )
                )
            except StoreUnavailable:
                pass  # the daemon has not created the file yet
            time.sleep(0.5)
        assert len(seen) >= 3  # the reader sees each new run while the daemon writes
        reader.close()
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
