"""The `kafka:` section: defaults, and errors that name the line and key and say what to change."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lagwatch.config import ConfigError, load


def problems(tmp_path: Path, kafka: str) -> list[str]:
    path = tmp_path / "lagwatch.yaml"
    path.write_text("kafka:\n" + kafka)
    with pytest.raises(ConfigError) as caught:
        load(path)
    return caught.value.problems


def test_defaults(tmp_path: Path) -> None:
    path = tmp_path / "lagwatch.yaml"
    path.write_text("kafka:\n  - {name: main, bootstrap: '127.0.0.1:9092'}\n")
    cluster = load(path).kafka[0]
    assert (cluster.window, cluster.interval, cluster.timeout) == (None, 10, 20)
    # No fixed window: STOP and STALL come from the evidence rules; trends look at 10 minutes
    cadence = cluster.cadence()
    assert cadence is not None and cluster.trend_window == 600
    assert (cadence.interval, cadence.gap_factor, cadence.min_wait) == (10, 3, 8)
    assert (cadence.unlearned_wait, cadence.empty_wait, cadence.rebalance_limit) == (600, 5, 60)
    assert cluster.time_lag.exact and cluster.thresholds.rules().err_lag_seconds is None
    assert cluster.empty_group_expiry == 7 * 86400


def test_a_window_is_a_fixed_window_override(tmp_path: Path) -> None:
    path = tmp_path / "lagwatch.yaml"
    path.write_text("kafka:\n  - {name: main, bootstrap: 'b:9092', window: 2m}\n")
    cluster = load(path).kafka[0]
    assert cluster.cadence() is None and cluster.trend_window == 120


def test_a_bad_regex_names_the_key_and_the_fix(tmp_path: Path) -> None:
    found = problems(
        tmp_path, "  - name: main\n    bootstrap: b:9092\n    groups: {include: ['orders-(']}\n"
    )
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path}/lagwatch.yaml:4: kafka[0].groups.include: ")
    assert "'orders-(' is not a valid regular expression" in found[0]


def test_warn_must_be_below_err(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "  - name: main\n    bootstrap: b:9092\n    thresholds: {warn_lag_seconds: 30m, err_lag_seconds: 10m}\n",
    )
    assert len(found) == 1 and "kafka[0].thresholds" in found[0]
    assert "warn_lag_seconds must be below err_lag_seconds; lower the warn limit" in found[0]


def test_the_cycle_timeout_must_hold_its_requests(tmp_path: Path) -> None:
    found = problems(tmp_path, "  - {name: main, bootstrap: 'b:9092', timeout: 8s}\n")
    assert len(found) == 1 and found[0].startswith(f"{tmp_path}/lagwatch.yaml:2: kafka[0]: ")
    assert "timeout (8s) must exceed" in found[0] and "raise timeout" in found[0]


def test_client_settings_are_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_PASSWORD", "hunter2-kafka")
    path = tmp_path / "lagwatch.yaml"
    path.write_text(
        "kafka:\n  - name: main\n    bootstrap: b:9092\n"
        "    client: {sasl.username: lw, sasl.password: '${KAFKA_PASSWORD}'}\n"
    )
    config = load(path)
    assert "hunter2-kafka" in config.secrets()
    assert "hunter2-kafka" not in repr(config.kafka[0])
    assert config.kafka[0].client_settings()["sasl.password"] == "hunter2-kafka"


def test_partition_series_is_all_or_problems(tmp_path: Path) -> None:
    path = tmp_path / "lagwatch.yaml"
    path.write_text("kafka:\n  - {name: main, bootstrap: 'b:9092'}\n")
    assert load(path).kafka[0].partition_series == "all"
    path.write_text("kafka:\n  - {name: main, bootstrap: 'b:9092', partition_series: problems}\n")
    assert load(path).kafka[0].partition_series == "problems"
    found = problems(tmp_path, "  - {name: main, bootstrap: 'b:9092', partition_series: bad}\n")
    assert len(found) == 1
    assert "kafka[0].partition_series" in found[0]
    assert "'all'" in found[0] and "'problems'" in found[0]
    # and lagwatch check says so and exits 2
    done = subprocess.run(
        [sys.executable, "-m", "lagwatch", "check", "-c", str(tmp_path / "lagwatch.yaml")],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 2, done.stderr
    assert "partition_series" in done.stderr + done.stdout
