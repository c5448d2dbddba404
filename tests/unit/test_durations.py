"""Durations read as config writes them: a config dumped back out parses to the same seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lagwatch.config import load
from lagwatch.demo.config import DemoNames, DemoPorts, write_configs
from lagwatch.store.types import config_duration, format_duration, parse_duration


@pytest.mark.parametrize(
    "seconds", [0, 0.25, 1, 10, 59, 60.5, 90, 900, 5400, 86400, 93601, 7 * 86400, 31536000]
)
def test_every_written_duration_parses_back_to_its_seconds(seconds: float) -> None:
    assert parse_duration(config_duration(seconds)) == seconds


def test_written_durations_use_the_largest_exact_units() -> None:
    assert [config_duration(s) for s in (900, 5400, 0.25, 7 * 86400)] == [
        "15m", "1h30m", "250ms", "7d",
    ]  # fmt: skip


def test_the_short_human_form_parses_too() -> None:
    assert [parse_duration(format_duration(s)) for s in (45, 252, 11100)] == [45, 252, 11100]
    assert parse_duration("1h 30m") == 5400


@pytest.mark.parametrize("text", ["", "m5", "5x", "5m x", "-5s", "5 m s"])
def test_what_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_the_demo_config_written_back_out_loads_unchanged(tmp_path: Path) -> None:
    env = {
        "LAGWATCH_PG_MONITOR_DSN": "postgresql://mon:mon-pass@127.0.0.1:5432/db",
        "LAGWATCH_MYSQL_MONITOR_DSN": "mysql://mon:my-pass@127.0.0.1:3306/db",
        "LAGWATCH_PG_PROBE_DSN": "postgresql://probe:probe-pass@127.0.0.1:5432/db",
        "LAGWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
        "LAGWATCH_CONNECT_URL": "http://127.0.0.1:8083",
    }
    path = write_configs(tmp_path, env, DemoNames(run="0a1b2c"), DemoPorts(8600, 0))[0]
    config = load(path)
    dumped = config.model_dump(mode="json", by_alias=True, exclude_unset=True)
    raw = yaml.safe_load(path.read_text())  # secrets dump masked: keep the file's references
    for section in ("alerts", "pipelines", "kafka", "connect"):
        raw[section] = dumped[section]
    again = path.with_name("again.yaml")
    again.write_text(yaml.safe_dump(raw))
    reloaded = load(again)
    assert (reloaded.alerts, reloaded.pipelines) == (config.alerts, config.pipelines)
    assert [k.interval for k in reloaded.kafka] == [k.interval for k in config.kafka]
