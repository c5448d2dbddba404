"""Drive a probe through the real runner into a real store, as the daemon would."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from lagwatch.collectors.base import CollectorContext
from lagwatch.collectors.probe.collector import ProbeCollector, build_probes
from lagwatch.collectors.runner import Runner
from lagwatch.config import LagwatchConfig, load
from lagwatch.store import Store, open_store
from tests.integration.conftest import ROOT


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lagwatch.yaml"
    path.write_text(text)
    return path


def probe_and_store(config_path: Path) -> tuple[LagwatchConfig, ProbeCollector, Runner, Store]:
    """Return the config, its one probe collector, a runner and the store it writes."""
    config = load(config_path)
    store = open_store(config.store)
    (collector,) = build_probes(
        config.probes, config.pipelines, config.sources, config.kafka, CollectorContext()
    )
    return config, collector, Runner(store), store


def run_for(runner: Runner, collector: ProbeCollector, seconds: float) -> None:
    """Run the collector at its interval for ``seconds``, as the scheduler would."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        result = runner.run(collector)
        assert result.error is None, result.error
        time.sleep(max(0.0, collector.interval - (time.monotonic() - started)))


def latest(store: Store, name: str, **labels: str) -> float:
    found = store.latest(name, labels)
    assert found, f"no {name}{labels} in the store"
    assert len(found) == 1, found
    return found[0].value


def lagwatch(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m lagwatch ARGS` from this checkout with the devstack's settings."""
    return subprocess.run(
        [sys.executable, "-m", "lagwatch", *args],
        cwd=ROOT, env=env | {"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def assert_every_hop_timed(store: Store, hops: int, at_least: int = 10) -> None:
    """Every stored probe trace reached every hop, each no earlier than the one before, < 1 s."""
    traces = store.list_records("probe.traces")
    assert len(traces) >= at_least
    for trace in traces:
        assert trace.body["status"] == "ok", trace.body["hops"]
        latencies = [h["latency_seconds"] for h in trace.body["hops"]]
        assert len(latencies) == hops and len(trace.body["spans"]) == hops + 1
        assert latencies[0] > 0 and latencies == sorted(latencies) and latencies[-1] < 1.0, (
            latencies
        )
    # An idle database still has a finite, small measured freshness: the probe keeps flowing.
    assert 0 < latest(store, "lagwatch_pipeline_freshness_seconds", method="probe") < 1.0


def assert_only_group_hop_stale(store: Store, group: str) -> None:
    """A stopped consumer loses its own hop's probes; the tap and topic hops stay fresh."""
    assert latest(store, "lagwatch_probe_lost_total", hop=f"group:{group}") >= 4
    assert latest(store, "lagwatch_pipeline_freshness_seconds", method="probe") > 3
    for hop in ("tap", "topic"):
        assert latest(store, "lagwatch_probe_lost_total", hop=hop) == 0
        assert latest(store, "lagwatch_probe_hop_freshness_seconds", hop=hop) < 1.0
