"""Given MariaDB → lagwatch binlog tap (relay) → Kafka → a consumer group that commits,
when the probe runs, then every hop is timed and the tap's position is stored for the
MySQL collector's `tap` reader kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from lagwatch.collectors.mysql import connect_args
from tests.integration.kafka_helpers import CommittingConsumer, topic
from tests.integration.probe_helpers import (
    assert_every_hop_timed,
    assert_only_group_hop_stale,
    lagwatch,
    probe_and_store,
    run_for,
    write_config,
)

pytestmark = pytest.mark.integration

CONFIG = """
store: {{url: "sqlite:///{store}"}}
sources:
  - {{name: maria, kind: mysql, dsn: "${{LAGWATCH_MYSQL_MONITOR_DSN}}"}}
kafka:
  - {{name: local, bootstrap: "${{LAGWATCH_KAFKA_BOOTSTRAP}}"}}
pipelines:
  - {{name: legacy, source: maria, topic: {topic}, groups: [{group}],
     slo: {{freshness: 2s, objective: 99}}}}
probes:
  - pipeline: legacy
    dsn: "mysql://{user}:probe-{user}@{host}:{port}/{database}"
    table: {database}.{table}
    interval: 250ms
    timeout: 3s
    tap: {{name: legacy-tap, relay: true}}
"""


@pytest.fixture
def maria_pipeline(
    tmp_path: Path,
    unique: str,
    mysql_admin_dsn: str,
    kafka_bootstrap: str,
    devstack_env: dict[str, str],
) -> Iterator[tuple[Path, str, str]]:
    """A probe writer that may write only its table; the tap reads as the monitor user."""
    admin = pymysql.connect(**connect_args(mysql_admin_dsn, 10))
    args = connect_args(mysql_admin_dsn, 10)
    user, table, group = f"lwp_{unique}", f"lwprobe_{unique}", f"lw-legacy-{unique}"
    database = args["database"]
    with admin.cursor() as cur:
        for host in ("127.0.0.1", "localhost"):
            cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY %s", (f"probe-{user}",))
            cur.execute(
                f"GRANT CREATE, INSERT, UPDATE, SELECT ON `{database}`.`{table}` TO '{user}'@'{host}'"
            )
    try:
        with topic(kafka_bootstrap, f"lw-legacy-{unique}") as name:
            path = write_config(
                tmp_path,
                CONFIG.format(
                    store=tmp_path / "store.db", topic=name, group=group, user=user,
                    host=args["host"], port=args["port"], database=database, table=table,
                ),
            )  # fmt: skip
            init = lagwatch(devstack_env, "probe", "init", "-c", str(path))
            assert init.returncode == 0, init.stderr
            assert (
                "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO lagwatch_monitor"
                in init.stdout
            )
            yield path, name, group
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS `{database}`.`{table}`")
            for host in ("127.0.0.1", "localhost"):
                cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
        admin.close()


def test_binlog_probe_times_every_hop_and_records_the_tap_position(
    maria_pipeline: tuple[Path, str, str], kafka_bootstrap: str
) -> None:
    path, topic_name, group = maria_pipeline
    consumer = CommittingConsumer(kafka_bootstrap, topic_name, group)
    _config, collector, runner, store = probe_and_store(path)
    try:
        consumer.wait_assigned()
        collector.start()
        assert collector.wait_ready(30), (
            collector.tap and collector.tap.error,
            collector.watcher.error,
        )
        run_for(runner, collector, 5)
        assert_every_hop_timed(store, hops=3)
        traces = store.list_records("probe.traces")
        position = store.get_record("tap.position", "legacy-tap")
        assert position is not None
        assert position.body["file"].startswith("mariadb-bin.") and position.body["pos"] > 4
        assert position.body["gtid"].count("-") == 2 and position.ts > traces[-1].ts - 5

        # A stopped consumer: its hop loses probes, the binlog and topic hops stay fresh.
        consumer.stop()
        run_for(runner, collector, 5)
        assert_only_group_hop_stale(store, group)
    finally:
        consumer.stop()
        collector.close()
        store.close()
