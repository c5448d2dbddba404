"""Drive a probe through the real runner into a real store, as the daemon would."""

from __future__ import annotations

import time
from pathlib import Path

from collectors.base import CollectorContext
from collectors.probe import ProbeCollector, build_probes
from collectors.runner import Runner
from lagwatch.config import LagwatchConfig, load
from store import Store, open_store


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
