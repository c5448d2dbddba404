"""/metrics on a running daemon: the catalog's metrics, with values and the catalog's HELP text.

Given `lagwatch run` with a SQLite store, the devstack's PostgreSQL (read as
the pg_monitor role) and Kafka, when we GET /metrics, then every family is a
catalog metric with its help text, the collectors report up, and the values
match what the store holds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lagwatch.catalog import catalog
from tests.support.browser import free_port

ROOT = Path(__file__).resolve().parents[2]


def scrape(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


@pytest.fixture
def daemon(
    tmp_path: Path, unique: str, pg_monitor_dsn: str, kafka_bootstrap: str
) -> Iterator[tuple[str, str]]:
    port = free_port()
    source = f"pg-{unique}"
    config = tmp_path / "lagwatch.yaml"
    config.write_text(
        f"store:\n  url: sqlite:///{tmp_path / 'lagwatch.db'}\n"
        "sources:\n"
        f'  - {{name: {source}, kind: postgres, dsn: "${{METRICS_TEST_DSN}}", interval: 1s}}\n'
        f'kafka:\n  - {{name: k-{unique}, bootstrap: "{kafka_bootstrap}", interval: 1s}}\n'
        f"daemon:\n  metrics_listen: 127.0.0.1:{port}\n"
    )
    log = open(tmp_path / "daemon.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "lagwatch", "run", "-c", str(config)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "METRICS_TEST_DSN": pg_monitor_dsn, "PYTHONPATH": str(ROOT)},
    )
    try:
        yield f"http://127.0.0.1:{port}/metrics", source
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
            log.close()
        assert code == 0, (tmp_path / "daemon.log").read_text()
        assert pg_monitor_dsn.split("@")[0] not in (tmp_path / "daemon.log").read_text()


def wait_for(url: str, name: str, timeout: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            families = scrape(url)
            if name in families:
                return families
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not on {url} after {timeout:g}s")
        time.sleep(0.5)


def test_metrics_endpoint_serves_the_catalog(daemon: tuple[str, str], unique: str) -> None:
    url, source = daemon
    families = wait_for(url, "lagwatch_pg_in_recovery")
    families = wait_for(url, "lagwatch_kafka_brokers")
    known = catalog()
    for name, family in families.items():
        # The exposition drops a counter's _total from the family name.
        full = name if name in known else f"{name}_total"
        assert full in known, f"{full} is served but not in the catalog"
        assert family.documentation == known[full].help, full  # type: ignore[attr-defined]
        assert family.type == known[full].type, full  # type: ignore[attr-defined]
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples  # type: ignore[attr-defined]
    }
    up = "lagwatch_collector_up"
    assert (
        samples[(up, (("collector", f"postgres:{source}"), ("origin", f"source:{source}")))] == 1.0
    )
    assert (
        samples[(up, (("collector", f"kafka:k-{unique}"), ("origin", f"cluster:k-{unique}")))]
        == 1.0
    )
    assert samples[("lagwatch_pg_in_recovery", (("source", source),))] == 0.0
    assert samples[("lagwatch_kafka_brokers", (("cluster", f"k-{unique}"),))] >= 1.0
    assert samples[("lagwatch_store_dropped_samples_total", ())] == 0.0
    duration = samples[
        (
            "lagwatch_collector_duration_seconds",
            (("collector", f"postgres:{source}"), ("origin", f"source:{source}")),
        )
    ]
    assert 0.0 < duration < 5.0


def test_metrics_follow_the_store_between_scrapes(daemon: tuple[str, str]) -> None:
    url, source = daemon
    labels = (("collector", f"postgres:{source}"), ("origin", f"source:{source}"))
    key = ("lagwatch_collector_samples", labels)
    wait_for(url, "lagwatch_pg_in_recovery")
    first = scrape(url)["lagwatch_collector_duration_seconds"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(1.5)
        again = scrape(url)["lagwatch_collector_duration_seconds"]
        stamps = [s.timestamp for s in again.samples]  # type: ignore[attr-defined]
        if stamps != [s.timestamp for s in first.samples]:  # type: ignore[attr-defined]
            break
    else:
        raise AssertionError("/metrics kept serving the same samples for 30s with a 1s interval")
    families = scrape(url)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for s in families["lagwatch_collector_samples"].samples  # type: ignore[attr-defined]
    }
    assert samples[key] >= 1.0
