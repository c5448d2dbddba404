"""The MySQL/MariaDB collector on recorded server answers (sample_data/mysql)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lagwatch.collectors.base import CollectorContext, SourceUnreachable
from lagwatch.collectors.mysql import TAP_POSITION_NAMESPACE, MysqlCollector, MysqlSource
from lagwatch.collectors.mysql.read import (
    BINARY_LOG_STATUS_SQL,
    MASTER_STATUS_SQL,
    OLDEST_GTID_LIST_SQL,
    PROBE_SQL,
    retention_of,
)
from lagwatch.store import Record, Sample
from lagwatch.store.sqlite import SqliteStore
from tests.support.connect_stub import ConnectStub
from tests.support.mysql_replay import ReplaySession
from tests.support.sample_find import names, one

A = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
B = "b9b4712a-df64-11e3-b391-60672090eb04"


class Clock:
    """A settable clock for the collector."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def collector(
    session: ReplaySession, *readers: dict[str, Any], store: Any = None, clock: Any = None
) -> MysqlCollector:
    config = MysqlSource.model_validate(
        {
            "name": "db",
            "kind": "mysql",
            "dsn": "mysql://u:p@127.0.0.1:1/x",
            "readers": list(readers),
        }
    )
    return MysqlCollector(
        config, CollectorContext(store=store), session=session, clock=clock or Clock()
    )


def static(name: str, session: ReplaySession, **row: Any) -> dict[str, Any]:
    """A SQL reader whose query the replay answers with ``row``."""
    query = f"SELECT file, pos, gtid FROM cdc_offsets WHERE reader = '{name}'"  # noqa: S608 - a replay key, never sent
    session.statements[query] = [row]
    return {"name": name, "query": query}


# -- the server, per flavour ---------------------------------------------------------


def test_mariadb_binlog_is_read_in_one_round_trip_per_cycle() -> None:
    session = ReplaySession.load("mariadb-10.11")
    c = collector(session)
    first = c.collect()
    assert session.executed[0] == PROBE_SQL
    trips = session.round_trips
    c.collect()
    assert session.round_trips == trips + 1, "a cycle after the first is one batch"
    assert one(first, "lagwatch_mysql_server_info").label_dict["flavour"] == "mariadb"
    assert one(first, "lagwatch_mysql_binlog_files").value == 3
    assert one(first, "lagwatch_mysql_binlog_bytes").value == 8597 + 8634 + 591
    current = one(first, "lagwatch_mysql_binlog_current_file_number")
    assert (current.value, current.note) == (5, "bin.000005")
    assert one(first, "lagwatch_mysql_binlog_position_bytes").value == 591
    assert one(first, "lagwatch_mysql_binlog_retention_seconds").value == 86400
    assert one(first, "lagwatch_mysql_binlog_format_ok", binlog_format="ROW").value == 1
    assert one(first, "lagwatch_mysql_binlog_row_image_ok", binlog_row_image="FULL").value == 1
    assert OLDEST_GTID_LIST_SQL not in session.executed, "no GTID reader, no Gtid_list read"


def test_mysql_80_reads_show_master_status_and_its_expiry() -> None:
    session = ReplaySession.load("mysql-8.0")
    samples = collector(session).collect()
    assert MASTER_STATUS_SQL in session.executed
    assert BINARY_LOG_STATUS_SQL not in session.executed
    assert one(samples, "lagwatch_mysql_server_info").label_dict == {
        "source": "db",
        "flavour": "mysql",
        "version": "8.0.36",
    }
    assert one(samples, "lagwatch_mysql_binlog_bytes").value == 724935 + 733481 + 1307
    retention = one(samples, "lagwatch_mysql_binlog_retention_seconds")
    assert (retention.value, retention.note) == (2592000, "binlog_expire_logs_seconds=2592000")


def test_mysql_84_reads_show_binary_log_status_and_flags_a_minimal_row_image() -> None:
    session = ReplaySession.load("mysql-8.4")
    samples = collector(session).collect()
    assert BINARY_LOG_STATUS_SQL in session.executed
    assert MASTER_STATUS_SQL not in session.executed
    image = one(samples, "lagwatch_mysql_binlog_row_image_ok")
    assert image.value == 0 and image.label_dict["binlog_row_image"] == "MINIMAL"
    assert "CDC needs FULL" in (image.note or "")
    assert one(samples, "lagwatch_mysql_binlog_current_file_number").value == 2


def test_a_statement_based_binlog_is_flagged_with_its_format() -> None:
    session = ReplaySession.load("mariadb-10.11")
    session.set_variable("binlog_format", "MIXED")
    fmt = one(collector(session).collect(), "lagwatch_mysql_binlog_format_ok")
    assert fmt.value == 0 and fmt.label_dict["binlog_format"] == "MIXED"


def test_a_server_without_binlog_says_so_and_reads_nothing_else() -> None:
    session = ReplaySession.load("mariadb-10.11")
    session.statements[PROBE_SQL] = [{"version": "10.11.19-MariaDB", "log_bin": 0}]
    samples = collector(session).collect()
    assert one(samples, "lagwatch_mysql_binlog_enabled").value == 0
    assert names(samples) == {"lagwatch_mysql_server_info", "lagwatch_mysql_binlog_enabled"}
    assert session.executed == [PROBE_SQL]


def test_growth_rate_spans_a_rotation() -> None:
    session = ReplaySession.load("mariadb-10.11")
    clock = Clock()
    c = collector(session, clock=clock)
    assert "lagwatch_mysql_binlog_bytes_per_second" not in names(c.collect())
    clock.now += 10
    # bin.000005 grows to 1000 bytes and rotates; bin.000006 has 400.
    session.statements["SHOW BINARY LOGS"][-1]["File_size"] = 1000
    session.statements["SHOW BINARY LOGS"].append({"Log_name": "bin.000006", "File_size": 400})
    session.statements[MASTER_STATUS_SQL][0].update(File="bin.000006", Position=400)
    rate = one(c.collect(), "lagwatch_mysql_binlog_bytes_per_second")
    assert rate.value == ((1000 - 591) + 400) / 10


# Each row: (why, flavour, variables, seconds, words in the note).
RETENTION_CASES = [
    (
        "MariaDB 10.6+: linked seconds",
        "mariadb",
        {"binlog_expire_logs_seconds": "604800", "expire_logs_days": "7.000000"},
        604800,
        "seconds=604800",
    ),
    (
        "MariaDB 10.5: days only",
        "mariadb",
        {"expire_logs_days": "3"},
        3 * 86400,
        "expire_logs_days=3",
    ),
    (
        "MariaDB default: never",
        "mariadb",
        {"binlog_expire_logs_seconds": "0", "expire_logs_days": "0.000000"},
        0,
        "never",
    ),
    (
        "MySQL 8.0: seconds win over days",
        "mysql",
        {"binlog_expire_logs_seconds": "3600", "expire_logs_days": "2"},
        3600,
        "seconds=3600",
    ),
    (
        "MySQL 8.0: days when seconds are 0",
        "mysql",
        {"binlog_expire_logs_seconds": "0", "expire_logs_days": "2"},
        2 * 86400,
        "expire_logs_days=2",
    ),
    (
        "MySQL 8.0.29+: auto purge off",
        "mysql",
        {"binlog_expire_logs_seconds": "2592000", "binlog_expire_logs_auto_purge": "OFF"},
        0,
        "auto_purge=OFF",
    ),
    (
        "MySQL 8.4: seconds only",
        "mysql",
        {"binlog_expire_logs_seconds": "2592000"},
        2592000,
        "seconds=2592000",
    ),
    ("MySQL 5.7: days only, 0", "mysql", {"expire_logs_days": "0"}, 0, "never"),
]


@pytest.mark.parametrize(("why", "flavour", "variables", "seconds", "words"), RETENTION_CASES)
def test_retention_from_either_flavours_variables(
    why: str, flavour: str, variables: dict[str, str], seconds: float, words: str
) -> None:
    retention = retention_of(flavour, variables)
    assert retention.seconds == seconds, why
    assert words in retention.because, why


def test_never_expiring_binlog_reports_zero_and_no_purge_eta() -> None:
    session = ReplaySession.load("mariadb-10.11")
    session.set_variable("binlog_expire_logs_seconds", "0")
    session.set_variable("expire_logs_days", "0.000000")
    samples = collector(session, static("r", session, file="bin.000003", pos=4)).collect()
    retention = one(samples, "lagwatch_mysql_binlog_retention_seconds")
    assert retention.value == 0 and "never" in (retention.note or "")
    assert "lagwatch_mysql_binlog_purge_eta_seconds" not in names(samples)


def test_size_limited_binlog_reports_its_byte_limit() -> None:
    session = ReplaySession.load("mariadb-10.11")
    session.set_variable("max_binlog_total_size", "1073741824")
    samples = collector(session).collect()
    assert one(samples, "lagwatch_mysql_binlog_retention_bytes").value == 1073741824


# -- readers -------------------------------------------------------------------------


def test_reader_left_behind_counts_the_rest_of_its_file_and_every_later_file() -> None:
    session = ReplaySession.load("mariadb-10.11")
    samples = collector(session, static("late", session, file="bin.000004", pos=1000)).collect()
    assert one(samples, "lagwatch_mysql_binlog_reader_up", reader="late").value == 1
    assert one(samples, "lagwatch_mysql_binlog_reader_behind_bytes").value == (8634 - 1000) + 591
    assert one(samples, "lagwatch_mysql_binlog_reader_lost").value == 0
    eta = one(samples, "lagwatch_mysql_binlog_purge_eta_seconds")
    assert eta.value == 86400 and "at most" in (eta.note or "")


def test_reader_in_a_purged_file_is_lost() -> None:
    session = ReplaySession.load("mariadb-10.11")
    samples = collector(session, static("gone", session, file="bin.000002", pos=4)).collect()
    lost = one(samples, "lagwatch_mysql_binlog_reader_lost")
    assert lost.value == 1 and "bin.000002 is purged; the oldest kept is bin.000003" in (
        lost.note or ""
    )
    behind = one(samples, "lagwatch_mysql_binlog_reader_behind_bytes")
    assert behind.value == 8597 + 8634 + 591 and (behind.note or "").startswith("at least")
    assert one(samples, "lagwatch_mysql_binlog_purge_eta_seconds").value == 0


def test_mariadb_gtid_reader_behind_the_purged_state_will_fail() -> None:
    session = ReplaySession.load("mariadb-10.11")
    c = collector(
        session,
        static("old", session, gtid="0-1-40"),
        static("new", session, gtid="0-1-87"),
    )
    samples = c.collect()
    assert OLDEST_GTID_LIST_SQL in session.executed
    old = one(samples, "lagwatch_mysql_binlog_reader_gtid_ok", reader="old")
    assert old.value == 0 and "reader at 40, purged up to 46" in (old.note or "")
    assert one(samples, "lagwatch_mysql_binlog_reader_lost", reader="old").value == 1
    assert one(samples, "lagwatch_mysql_binlog_reader_gtid_ok", reader="new").value == 1
    assert one(samples, "lagwatch_mysql_binlog_reader_lost", reader="new").value == 0
    # A GTID-only reader has no file: no byte distance to report.
    assert "lagwatch_mysql_binlog_reader_behind_bytes" not in names(samples, reader="new")


def test_mysql_gtid_reader_missing_a_purged_source_will_fail() -> None:
    session = ReplaySession.load("mysql-8.0")
    c = collector(
        session,
        static("ok", session, file="binlog.000016", pos=4, gtid=f"{A}:1-90,\n{B}:1-3"),
        static("bad", session, file="binlog.000016", pos=4, gtid=f"{A}:1-90"),
    )
    samples = c.collect()
    assert one(samples, "lagwatch_mysql_binlog_reader_gtid_ok", reader="ok").value == 1
    bad = one(samples, "lagwatch_mysql_binlog_reader_gtid_ok", reader="bad")
    assert bad.value == 0 and f"{B}:1-3" in (bad.note or "")
    assert one(samples, "lagwatch_mysql_binlog_reader_behind_bytes", reader="ok").value == (
        733481 - 4 + 1307
    )


def test_a_reader_query_with_the_wrong_columns_is_reported_not_raised() -> None:
    session = ReplaySession.load("mariadb-10.11")
    samples = collector(session, static("odd", session, offset=5)).collect()
    up = one(samples, "lagwatch_mysql_binlog_reader_up", reader="odd")
    assert up.value == 0 and "name them file and pos, or gtid" in (up.note or "")
    assert one(samples, "lagwatch_mysql_binlog_files").value == 3, "the server is still read"


def test_debezium_reader_reads_the_connect_offsets_endpoint() -> None:
    session = ReplaySession.load("mysql-8.4")
    with ConnectStub() as connect:
        connect.offsets(
            "inventory",
            server="dbserver1",
            ts_sec=1730000000,
            file="source-bin.000001",
            pos=100,
            gtids=f"{A}:1-5:orders:1-2",
            row=1,
            server_id=223344,
            event=2,
        )
        samples = collector(
            session,
            {"name": "dbz", "connect_url": connect.url, "connector": "inventory"},
            {
                "name": "missing",
                "connect_url": connect.url.replace("//", "//lw:url-secret@") + "/",
                "connector": "nope",
            },
            {
                "name": "guarded",
                "connect_url": connect.url,
                "connector": "inventory",
                "username": "lw",
                "password": "pw",
            },
        ).collect()
    assert connect.requests[0] == ("/connectors/inventory/offsets", None)
    assert connect.requests[2][1] == "Basic bHc6cHc="
    assert one(samples, "lagwatch_mysql_binlog_reader_up", reader="dbz").value == 1
    assert one(samples, "lagwatch_mysql_binlog_reader_behind_bytes", reader="dbz").value == (
        180 - 100 + 1307
    )
    assert one(samples, "lagwatch_mysql_binlog_reader_gtid_ok", reader="dbz").value == 1
    missing = one(samples, "lagwatch_mysql_binlog_reader_up", reader="missing")
    assert missing.value == 0 and "no connector 'nope' (HTTP 404)" in (missing.note or "")
    assert "url-secret" not in (missing.note or "")


@pytest.mark.parametrize(
    ("answer", "complaint"),
    [
        ((200, '{"offsets": []}'), "no committed binlog offset yet"),
        ((200, '{"something": 1}'), "unknown shape"),
        ((500, "boom"), "HTTP 500"),
    ],
)
def test_debezium_answers_that_hold_no_position_are_explained(
    answer: tuple[int, str], complaint: str
) -> None:
    session = ReplaySession.load("mysql-8.4")
    with ConnectStub() as connect:
        connect.raw["inventory"] = answer
        samples = collector(
            session, {"name": "dbz", "connect_url": connect.url, "connector": "inventory"}
        ).collect()
    up = one(samples, "lagwatch_mysql_binlog_reader_up", reader="dbz")
    assert up.value == 0 and complaint in (up.note or "")


def test_tap_reader_reads_the_position_the_tap_stored(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "lw.db"))
    store.put_records(
        [
            Record(
                TAP_POSITION_NAMESPACE,
                "tap1",
                1.0,
                {"file": "bin.000003", "pos": 597, "gtid": "0-1-50", "ts": 1.0},
            )
        ]
    )
    session = ReplaySession.load("mariadb-10.11")
    samples = collector(
        session, {"name": "tap1", "kind": "tap"}, {"name": "tap2", "kind": "tap"}, store=store
    ).collect()
    store.close()
    up = one(samples, "lagwatch_mysql_binlog_reader_up", reader="tap1")
    assert up.value == 1 and "tap reported" in (up.note or "")
    assert one(samples, "lagwatch_mysql_binlog_reader_behind_bytes", reader="tap1").value == (
        8597 - 597 + 8634 + 591
    )
    assert one(samples, "lagwatch_mysql_binlog_reader_gtid_ok", reader="tap1").value == 1
    nothing = one(samples, "lagwatch_mysql_binlog_reader_up", reader="tap2")
    assert nothing.value == 0 and "no position under 'tap2'" in (nothing.note or "")


def test_purge_eta_counts_down_from_the_rotation_seen_between_cycles() -> None:
    session = ReplaySession.load("mariadb-10.11")
    clock = Clock()
    c = collector(session, static("r", session, file="bin.000005", pos=100), clock=clock)
    first = one(c.collect(), "lagwatch_mysql_binlog_purge_eta_seconds")
    assert first.value == 86400 and "current file" in (first.note or "")
    rotated_after = clock.now
    clock.now += 10
    session.statements["SHOW BINARY LOGS"].append({"Log_name": "bin.000006", "File_size": 400})
    session.statements[MASTER_STATUS_SQL][0].update(File="bin.000006", Position=400)
    c.collect()
    clock.now += 3600
    eta = one(c.collect(), "lagwatch_mysql_binlog_purge_eta_seconds")
    assert eta.value == rotated_after + 86400 - clock.now and eta.note is None


def test_check_names_each_reader_that_cannot_be_read() -> None:
    session = ReplaySession.load("mariadb-10.11")
    c = collector(
        session,
        static("fine", session, file="bin.000004", pos=4),
        {"name": "broken", "connect_url": "http://127.0.0.1:9", "connector": "x"},
        {"name": "tapped", "kind": "tap"},
    )
    with pytest.raises(SourceUnreachable) as raised:
        c.check()
    message = str(raised.value)
    assert "reader broken: cannot reach Kafka Connect" in message
    assert "fine" not in message
    assert "tapped" not in message, "without a store, check cannot judge a tap reader"


def test_a_purge_under_a_stopped_reader_keeps_the_larger_behind_figure_known(
    tmp_path: Path,
) -> None:
    # Issue 11, finding 6: the reader was last read 173,438 B behind; its file is then purged,
    # and every byte the server still has (17,822 B) is a smaller "at least". The known
    # figure is carried forward instead of dropping.
    session = ReplaySession.load("mariadb-10.11")
    store = SqliteStore(tmp_path / "store.db")
    store.write([Sample.of("lagwatch_mysql_binlog_reader_behind_bytes", 173_438, 999_990.0,
                           source="db", reader="gone")])  # fmt: skip
    c = collector(session, static("gone", session, file="bin.000002", pos=4), store=store)
    behind = one(c.collect(), "lagwatch_mysql_binlog_reader_behind_bytes")
    assert behind.value == 173_438
    assert (behind.note or "").startswith("at least: file bin.000002 is purged")
    assert "173,438 B, the last figure read before the purge, carried forward" in behind.note
    assert "the server now has 17,822 B" in behind.note
    store.close()
