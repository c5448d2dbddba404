"""The demo's configs load as they are written, and keep their DSNs out of the YAML: with
Debezium (the default) the daemon's, with the relay the daemon's and the relay's."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from lagwatch.config import load
from lagwatch.demo.config import DemoNames, DemoPorts, notifications_path, write_configs
from lagwatch.demo.run import add_arguments

ENV = {
    "LAGWATCH_PG_MONITOR_DSN": "postgresql://mon:mon-pass@127.0.0.1:5432/db",
    "LAGWATCH_MYSQL_MONITOR_DSN": "mysql://mon:my-pass@127.0.0.1:3306/db",
    "LAGWATCH_PG_PROBE_DSN": "postgresql://probe:probe-pass@127.0.0.1:5432/db",
    "LAGWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
    "LAGWATCH_CONNECT_URL": "http://127.0.0.1:8083",
}


def test_debezium_config_watches_the_run_s_connector_only(tmp_path: Path) -> None:
    names = DemoNames("t1", "0a1b2c")
    daemon_path, relay = write_configs(tmp_path, ENV, names, DemoPorts(8600, 0))
    assert relay is None and not (tmp_path / "relay.yaml").exists()
    config = load(daemon_path)
    (pipe,) = config.pipelines
    assert (pipe.topic, pipe.slot) == ("demo_t1.orders.0a1b2c", "demo_t1_0a1b2c")
    (probe,) = config.probes
    assert probe.debezium and not probe.tap.enabled
    (cluster,) = config.connect
    assert cluster.links == {"demo-orders-cdc-t1-0a1b2c": "demo-pg"}
    assert cluster.connectors.watches("demo-orders-cdc-t1-0a1b2c")
    assert not cluster.connectors.watches("demo-orders-cdc-t1-ffffff")  # another run's
    assert not cluster.connectors.watches("orders-pg")  # someone else's on the shared worker


def test_daemon_config_watches_the_demo_pipeline(tmp_path: Path) -> None:
    names = DemoNames("t1")
    daemon_path, _relay = write_configs(tmp_path, ENV, names, DemoPorts(8600, 0), "relay")
    config = load(daemon_path)
    (pipe,) = config.pipelines
    assert (pipe.name, pipe.topic, pipe.groups) == (
        "demo-orders-t1", "demo_t1.orders", ["search-indexer-t1", "fraud-scorer-t1"],
    )  # fmt: skip
    (probe,) = config.probes
    assert probe.tap.enabled and not probe.tap.relay  # lagwatch observes; the relay publishes
    assert probe.tap.publication == names.publication == "demo_t1_cdc"
    (receiver,) = config.alerts.receivers
    assert receiver.kind()[1].path == str(notifications_path(tmp_path))
    assert [r.name for r in config.alerts.rules] == ["PipelineHopStale"]
    assert config.daemon.metrics_listen is None and config.dashboard.port == 8600
    (cluster,) = config.kafka
    assert cluster.window is None  # the commit-cadence verdict: STALL within seconds of the stall
    assert cluster.groups.include == [r"search\-indexer\-t1", r"fraud\-scorer\-t1"]


def test_relay_config_publishes_orders_and_probes(tmp_path: Path) -> None:
    _daemon, relay_path = write_configs(tmp_path, ENV, DemoNames(), DemoPorts(), "relay")
    assert relay_path is not None
    (probe,) = load(relay_path).probes
    assert probe.pipeline == "demo-orders"
    assert probe.tap.relay and probe.tap.tables == ["demo.orders"]
    assert probe.tap.name == "demo-orders-relay"


def test_dsns_live_in_private_files_only(tmp_path: Path) -> None:
    write_configs(tmp_path, ENV, DemoNames(), DemoPorts(), "relay")
    for name in ("lagwatch.yaml", "relay.yaml"):
        text = (tmp_path / name).read_text()
        assert not any(secret in text for secret in ("mon-pass", "my-pass", "probe-pass"))
    assert (tmp_path / "secrets").stat().st_mode & 0o777 == 0o700
    for secret in (tmp_path / "secrets").iterdir():
        assert secret.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("given", "seconds"), [("20", 20.0), ("3m", 180.0), ("1.5", 1.5), ("90s", 90.0)]
)
def test_stall_schedule_takes_seconds_or_durations(given: str, seconds: float) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--stall-after", given])
    assert args.stall_after == seconds


def test_a_bad_duration_is_refused_with_its_form(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--stall-for", "soon"])
    assert exit_.value.code == 2
    assert "expected a duration such as 10s, 5m or 7d" in capsys.readouterr().err
