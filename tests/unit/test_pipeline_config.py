"""Pipelines and probes in the config: a missing or mistyped hop is named, with its line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lagwatch.config import ConfigError, load

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
sources:
  - {name: orders-db, kind: postgres, dsn: "postgresql://m@127.0.0.1/db"}
  - {name: legacy, kind: mysql, dsn: "mysql://m:p@127.0.0.1:3306/db"}
kafka:
  - {name: main, bootstrap: "127.0.0.1:9092"}
pipelines:
  - {name: orders, source: orders-db, slot: dbz_orders, topic: dbz.orders,
     groups: [indexer], slo: {freshness: 5s, objective: 99.9}}
  - {name: legacy, source: legacy, reader: dbz-legacy, topic: legacy, slo: {freshness: 1m}}
probes:
  - {pipeline: orders, dsn: "postgresql://p@127.0.0.1/db", tap: {relay: true}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lagwatch.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text))
    return caught.value.problems


def test_a_complete_config_loads_with_defaults(tmp_path: Path) -> None:
    config = load(write(tmp_path, GOOD))
    assert [p.name for p in config.pipelines] == ["orders", "legacy"]
    probe = config.probes[0]
    assert (probe.interval, probe.timeout, probe.table, probe.tap.publication) == (
        1.0,
        20.0,
        "lagwatch.probe",
        "lagwatch",
    )
    assert config.pipelines[0].slo.freshness == 5.0


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # A pipeline naming a source that does not exist: the key, its line, the names to pick from.
        (
            ("source: orders-db, slot", "source: orders-dbx, slot"),
            "lagwatch.yaml:7: pipelines[0].source: no source named 'orders-dbx'; name one of the sources: entries (legacy, orders-db)",
        ),
        # A postgres pipeline given a binlog reader.
        (
            ("slot: dbz_orders", "reader: dbz_orders"),
            "lagwatch.yaml:7: pipelines[0].reader: source 'orders-db' is postgres: name the CDC reader's slot with slot:, not reader:",
        ),
        # A mysql pipeline given a slot.
        (
            ("reader: dbz-legacy", "slot: dbz-legacy"),
            "lagwatch.yaml:9: pipelines[1].slot: source 'legacy' is mysql: name the binlog reader with reader:, not slot:",
        ),
        # No CDC reader and no probe: the source hop is missing.
        (
            ("reader: dbz-legacy, ", ""),
            "lagwatch.yaml:9: pipelines[1].reader: the source hop is missing: set reader: (the CDC reader feeding legacy), or reader: {connect: CLUSTER, connector: NAME} for a Debezium connector, or add a probe for 'legacy' under probes:",
        ),
        # A cluster name that does not exist.
        (
            ("topic: dbz.orders,", "kafka: east, topic: dbz.orders,"),
            "lagwatch.yaml:7: pipelines[0].kafka: no kafka cluster named 'east'; name one of (main)",
        ),
        # A probe for a pipeline that does not exist.
        (
            ("{pipeline: orders,", "{pipeline: order,"),
            "lagwatch.yaml:11: probes[0].pipeline: no pipeline named 'order'; name one of the pipelines: entries (legacy, orders)",
        ),
        # A probe table without a schema.
        (
            ("tap: {relay: true}", "table: probe"),
            "lagwatch.yaml:11: probes[0].table: table 'probe' must be written as SCHEMA.TABLE",
        ),
    ],
)
def test_a_missing_or_mistyped_hop_is_named(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in GOOD
    found = problems(tmp_path, GOOD.replace(old, new, 1))
    assert [p.replace(str(tmp_path) + "/", "") for p in found] == [expected]


def test_no_kafka_cluster_means_no_topic_hop(tmp_path: Path) -> None:
    text = GOOD.replace('kafka:\n  - {name: main, bootstrap: "127.0.0.1:9092"}\n', "")
    found = problems(tmp_path, text)
    assert any(
        "pipelines[0].kafka: the topic hop is missing its cluster: there is no kafka: cluster; add one"
        in p
        for p in found
    )


def test_probe_once_for_an_unknown_pipeline_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    run = subprocess.run(
        [sys.executable, "-m", "lagwatch", "probe", "--once", "--pipeline", "legacy", "-c", str(path)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 2
    assert "--pipeline legacy has no probe; probes are configured for: orders" in run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "lagwatch", "probe", "-c", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "lagwatch probe --once --pipeline NAME" in run.stderr
