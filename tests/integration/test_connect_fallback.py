"""Issue 11, finding 2, on a real worker: with the Kafka Connect REST API down, a value lagwatch
could not read must not look current, and where the offsets topic is reachable the committed
offset comes from there instead.

A private worker (its own group and internal topics; never the shared one) runs a Debezium
MariaDB connector; the test kills the worker while writes go on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.integration.connect_helpers import (
    Watch,
    binlog_behind,
    connect_entry,
    kafka_entry,
    mysql_source,
)
from tests.support.connect import MariaDbConnector, Rest, delete_topics, wait_for
from tests.support.connect_worker import PrivateWorker


def config(worker: PrivateWorker, connector: str) -> dict[str, Any]:
    readers = [
        {"name": "dbz", "connect": "cdc", "connector": connector},
        {"name": "blind", "connect": "blind", "connector": connector},
    ]
    return {
        "sources": [mysql_source(readers=readers)],
        "kafka": [kafka_entry()],
        "connect": [
            connect_entry(worker.url, kafka="main", offsets_topic=worker.offsets_topic),
            # The same worker, but no kafka: cluster to fall back on.
            {**connect_entry(worker.url), "name": "blind"},
        ],
    }


def test_with_rest_down_the_offset_comes_from_the_offsets_topic_and_nothing_looks_current(
    tmp_path: Path, unique: str
) -> None:
    with PrivateWorker(unique) as worker:
        rest = Rest(worker.url)
        connector = MariaDbConnector(unique, rest)
        connector.create_table()
        watch = Watch(tmp_path, config(worker, connector.name))
        try:
            connector.start()
            connector.insert(1, 5)
            offset = wait_for(connector.offset, 60)
            watch.cycle()
            for reader in ("dbz", "blind"):
                up = watch.latest("lagwatch_mysql_binlog_reader_up", reader=reader)
                assert up.value == 1 and up.note is None
            read_at = watch.latest("lagwatch_mysql_binlog_reader_behind_bytes", reader="blind").ts

            worker.kill()
            for n in range(10):
                connector.insert(100 + n)
            time.sleep(1.1)
            file, pos = str(offset["file"]), int(offset["pos"])
            before = binlog_behind(file, pos)
            watch.cycle()
            after = binlog_behind(file, pos)

            # The reader on the cluster with a kafka: entry reads the offset from the topic:
            # current and exact.
            up = watch.latest("lagwatch_mysql_binlog_reader_up", reader="dbz")
            assert up.value == 1
            assert f"offset read from {worker.offsets_topic}" in (up.note or "")
            behind = watch.latest("lagwatch_mysql_binlog_reader_behind_bytes", reader="dbz")
            assert before <= behind.value <= after and behind.value > 0
            assert behind.ts > read_at

            # The connector's own lag, from the same topic, while connect_up says the truth.
            assert watch.latest("lagwatch_connect_up", cluster="cdc").value == 0
            lag = watch.latest(
                "lagwatch_debezium_source_lag_bytes", cluster="cdc", connector=connector.name
            )
            assert before <= lag.value <= after
            assert f"offset read from {worker.offsets_topic}" in (lag.note or "")
            blind_lag = watch.latest(
                "lagwatch_debezium_source_lag_bytes", cluster="blind", connector=connector.name
            )
            assert blind_lag.ts < lag.ts and (blind_lag.note or "").startswith("stale")

            # The reader without a fallback is unknown: up=0 with why, and every value its
            # position fed kept at the time it was read, marked stale.
            blind = watch.latest("lagwatch_mysql_binlog_reader_up", reader="blind")
            assert blind.value == 0
            assert "cannot reach Kafka Connect blind" in (blind.note or "")
            for name in (
                "lagwatch_mysql_binlog_reader_behind_bytes",
                "lagwatch_mysql_binlog_purge_eta_seconds",
                "lagwatch_mysql_binlog_reader_lost",
                "lagwatch_mysql_binlog_reader_gtid_ok",
            ):
                value = watch.maybe(name, reader="blind")
                if value is None:
                    continue  # not every reader has every series (gtid_ok needs purged GTIDs)
                assert value.ts == read_at, name
                assert (value.note or "").startswith("stale: last read"), (name, value.note)
            stale = watch.latest("lagwatch_mysql_binlog_reader_behind_bytes", reader="blind")
            assert stale.value < before, "the frozen value is not the truth: it must say stale"

            # A daemon started while the worker is down knows the connector from its records.
            watch.close()
            watch = Watch(tmp_path, config(worker, connector.name))
            watch.cycle("connect:cdc")
            again = watch.latest(
                "lagwatch_debezium_source_lag_bytes", cluster="cdc", connector=connector.name
            )
            assert again.ts > lag.ts and again.value >= lag.value
            assert f"offset read from {worker.offsets_topic}" in (again.note or "")
        finally:
            watch.close()
            rest.close()
            connector.execute(f"DROP TABLE IF EXISTS `{connector.table}`")
            delete_topics([connector.history_topic], prefix=f"{connector.prefix}.")
