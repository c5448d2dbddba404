"""Debezium source lag against the truth, on real connectors of the devstack's Connect worker.

PostgreSQL: lagwatch_debezium_source_lag_bytes equals psql's
``pg_wal_lsn_diff(pg_current_wal_lsn(), <offset lsn>)`` while the connector is stopped and
writes go on (bracketed: psql just before and just after the cycle). MariaDB: the reader's
behind bytes and the connector's source lag equal the server's binlog position minus the
offset's, files summed (a rotation happens in between). A caught-up idle connector reads 0,
not its last transaction's size (on a private PostgreSQL, where no other test commits).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.connect_helpers import (
    Watch,
    binlog_behind,
    connect_entry,
    kafka_entry,
    mysql_source,
    pg_source,
    private_pg,
    psql_lsn_diff,
    writing,
)
from tests.support.connect import (
    PgConnector,
    Rest,
    mariadb,
    mariadb_connector,
    pg,
    pg_connector,
    wait_for,
)

ROUNDS = 5


def test_postgres_source_lag_bytes_equal_psql_while_stopped_and_writes_go_on(
    tmp_path: Path, unique: str
) -> None:
    rest = Rest()
    with pg_connector(unique, rest) as connector:
        connector.insert(1, 10)
        wait_for(lambda: (connector.offset() or {}).get("lsn"), 60)
        rest.stop(connector.name)
        lsn = int(wait_for(connector.offset, 30)["lsn"])
        watch = Watch(tmp_path, {"sources": [pg_source()], "connect": [connect_entry()]})
        comparisons = []
        try:
            with writing(lambda n: connector.insert(1000 + n)) as written:
                for _ in range(ROUNDS):
                    before = psql_lsn_diff(lsn)
                    watch.cycle("connect:cdc")
                    after = psql_lsn_diff(lsn)
                    lag = watch.latest(
                        "lagwatch_debezium_source_lag_bytes", connector=connector.name
                    )
                    comparisons.append((before, lag.value, after))
                    assert before <= lag.value <= after, comparisons
                    assert "of WAL after the offset's lsn" in (lag.note or "")
                    time.sleep(0.3)
            assert written[0] >= ROUNDS
            assert comparisons[-1][1] > comparisons[0][1], "writes went on, so did the lag"
            seconds = watch.latest("lagwatch_debezium_source_lag_seconds", connector=connector.name)
            assert seconds.value > 0
            linked = watch.latest("lagwatch_debezium_source_linked", connector=connector.name)
            assert linked.label_dict == {
                "cluster": "cdc",
                "connector": connector.name,
                "source": "pg",
                "slot": connector.slot,
            }
            print(f"\npostgres truth (psql before, lagwatch, psql after): {comparisons}")
        finally:
            watch.close()
    rest.close()


def test_mariadb_behind_bytes_equal_the_server_position_minus_the_offset_files_summed(
    tmp_path: Path, unique: str
) -> None:
    rest = Rest()
    with mariadb_connector(unique, rest) as connector:
        connector.insert(1, 5)
        wait_for(connector.offset, 60)
        rest.stop(connector.name)
        offset = wait_for(connector.offset, 30)
        file, pos = str(offset["file"]), int(offset["pos"])
        reader = {"name": "dbz", "connect": "cdc", "connector": connector.name}
        watch = Watch(
            tmp_path,
            {
                "sources": [mysql_source(readers=[reader])],
                "kafka": [kafka_entry()],
                "connect": [connect_entry(kafka="main", offsets_topic="lagwatch-connect-offsets")],
            },
        )
        comparisons = []
        try:
            with writing(lambda n: connector.insert(1000 + n)):
                conn = mariadb()
                try:
                    with conn.cursor() as cur:
                        cur.execute("FLUSH BINARY LOGS")  # files to sum
                finally:
                    conn.close()
                time.sleep(0.5)
                for _ in range(ROUNDS):
                    before = binlog_behind(file, pos)
                    watch.cycle("mysql:maria", "connect:cdc")
                    after = binlog_behind(file, pos)
                    behind = watch.latest(
                        "lagwatch_mysql_binlog_reader_behind_bytes", reader="dbz"
                    ).value
                    lag = watch.latest(
                        "lagwatch_debezium_source_lag_bytes", connector=connector.name
                    ).value
                    comparisons.append((before, behind, lag, after))
                    assert before <= behind <= lag <= after, comparisons
                    time.sleep(0.3)
            current = watch.latest("lagwatch_mysql_binlog_current_file_number", source="maria")
            assert current.note != file, "the offset's file and the current one were summed"
            assert watch.latest("lagwatch_mysql_binlog_reader_up", reader="dbz").value == 1
            print(f"\nmariadb truth (before, reader, connector, after): {comparisons}")
        finally:
            watch.close()
    rest.close()


def test_a_caught_up_idle_mariadb_reader_reads_0_not_its_last_transaction(
    tmp_path: Path, unique: str
) -> None:
    rest = Rest()
    with mariadb_connector(unique, rest) as connector:
        reader = {"name": "dbz", "connect": "cdc", "connector": connector.name}
        watch = Watch(
            tmp_path,
            {"sources": [mysql_source(readers=[reader])], "connect": [connect_entry()]},
        )
        try:
            # Others write to this MariaDB too: retry until this connector's insert is the
            # last transaction in the binlog when the cycle runs (it nearly always is).
            previous = None
            for attempt in range(20):
                connector.insert(100 * attempt + 1, 3)
                offset = wait_for(lambda p=previous: (o := connector.offset()) != p and o, 60)
                previous = offset
                raw = binlog_behind(str(offset["file"]), int(offset["pos"]))
                watch.cycle("mysql:maria", "connect:cdc")
                behind = watch.latest("lagwatch_mysql_binlog_reader_behind_bytes", reader="dbz")
                lag = watch.latest("lagwatch_debezium_source_lag_bytes", connector=connector.name)
                if behind.value == 0 and lag.value == 0:
                    break
            assert raw > 0, "the offset is the start of its last transaction: raw bytes are > 0"
            assert behind.value == 0 and "caught up" in (behind.note or ""), behind
            assert lag.value == 0 and "caught up" in (lag.note or ""), lag
            seconds = watch.latest("lagwatch_debezium_source_lag_seconds", connector=connector.name)
            assert seconds.value == 0
        finally:
            watch.close()
    rest.close()


@pytest.mark.parametrize("track_commit_timestamp", ["on", "off"])
def test_a_caught_up_idle_postgres_connector_reads_0_not_its_last_transaction(
    tmp_path: Path, unique: str, track_commit_timestamp: str
) -> None:
    rest = Rest()
    with private_pg(track_commit_timestamp) as server:
        connector = PgConnector(
            unique, rest, port=server.port, dbname="postgres", admin_dsn=server.dsn()
        )
        connector.create_table()
        source = {"name": "private", "kind": "postgres", "dsn": server.dsn()}
        watch = Watch(tmp_path, {"sources": [source], "connect": [connect_entry()]})
        try:
            connector.start()
            connector.insert(1, 3)
            offset = wait_for(connector.offset, 60)
            watch.cycle("connect:cdc")
            lag = watch.latest("lagwatch_debezium_source_lag_bytes", connector=connector.name)
            raw = psql_lsn_diff(int(offset["lsn"]), server.dsn())
            assert raw > 0, "after the last change come its commit record and the server's own"
            assert lag.value == 0, lag
            assert f"caught up, txid {offset['txId']}" in (lag.note or "")
            seconds = watch.latest("lagwatch_debezium_source_lag_seconds", connector=connector.name)
            assert seconds.value == 0

            # A commit to a table the connector does not capture: nothing proves it caught up,
            # so the WAL after its offset counts (heartbeat.action.query is Debezium's remedy).
            with pg(server.dsn()) as conn:
                conn.execute("INSERT INTO public.elsewhere VALUES (1)")
            before = psql_lsn_diff(int(offset["lsn"]), server.dsn())
            watch.cycle("connect:cdc")
            after = psql_lsn_diff(int(offset["lsn"]), server.dsn())
            lag = watch.latest("lagwatch_debezium_source_lag_bytes", connector=connector.name)
            assert connector.offset() == offset, "the connector had nothing to send"
            assert before <= lag.value <= after and lag.value > 0
        finally:
            watch.close()
            connector.remove()
    rest.close()
