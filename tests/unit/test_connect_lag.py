"""Debezium source lag on offsets, PostgreSQL readings and binlog events recorded together on
the devstack (sample_data/connect/connect-4.3.1.json)."""

from __future__ import annotations

import pytest

from lagwatch.collectors.connect.debezium import (
    BinlogOffset,
    OffsetError,
    PgOffset,
    binlog_offset,
    next_xid,
    parse_lsn,
    pg_offset,
    source_offset,
    target_of,
)
from lagwatch.collectors.connect.lag import binlog_lag, pg_lag
from lagwatch.collectors.connect.sources import BinlogReading, Link, PgReading, SlotRow
from lagwatch.collectors.mysql.lag import caught_up_in
from lagwatch.collectors.mysql.read import BinlogState, ServerInfo
from tests.support.connect_replay import recording

DATA = recording()
LINK = Link("orders-db", "address 127.0.0.1:5432/lagwatch_test")


def offset_of(suffix: str) -> dict[str, object]:
    name = next(n for n in DATA["offsets"] if n.endswith(suffix) and not n.startswith("lw-file"))
    entry: dict[str, object] = DATA["offsets"][name]["offsets"][0]["offset"]
    return entry


def reading(track_commit_timestamp: bool = True) -> PgReading:
    current, next_id, last_commit = DATA["pg"]["server"]
    out = PgReading(current, next_id, last_commit if track_commit_timestamp else None)
    for name, database, active, confirmed in DATA["pg"]["slots"]:
        out.slots[name] = SlotRow(name, database, active, confirmed)
    return out


def slot_of(suffix: str) -> str:
    return next(row[0] for row in DATA["pg"]["slots"] if row[0].endswith(suffix))


@pytest.mark.parametrize("track_commit_timestamp", [True, False])
def test_the_connector_whose_transaction_was_the_last_commit_reads_0(
    track_commit_timestamp: bool,
) -> None:
    # c wrote last (its task then FAILED); a and b committed before it, on their own tables.
    now = DATA["taken_at"]
    last = pg_offset(offset_of("c"))
    lag = pg_lag(last, reading(track_commit_timestamp), slot_of("c"), LINK, now)
    assert (lag.bytes, lag.seconds) == (0, 0.0)
    assert f"caught up, txid {last.tx_id}" in lag.note
    earlier = pg_offset(offset_of("a"))
    behind = pg_lag(earlier, reading(track_commit_timestamp), slot_of("a"), LINK, now)
    assert behind.bytes == DATA["pg"]["server"][0] - earlier.lsn > 0
    assert behind.seconds == pytest.approx(now - earlier.ts)
    assert "of WAL after the offset's lsn" in behind.note


def test_a_snapshot_offset_is_never_called_caught_up() -> None:
    snap = pg_offset(offset_of("d"))
    assert snap.snapshot is True
    lag = pg_lag(snap, reading(), slot_of("d"), LINK, DATA["taken_at"])
    assert "caught up" not in lag.note
    done = pg_offset(DATA["snapshot_done_offsets"]["offsets"][0]["offset"])
    assert done.snapshot is False, "snapshot_completed: true ends it"


def test_a_slot_confirmed_past_the_offset_is_where_the_connector_stands() -> None:
    offset = PgOffset(lsn=1000, lsn_proc=1000, lsn_commit=None, tx_id=5, ts=1.0, snapshot=False)
    server = PgReading(5000, 99, 98, {"s": SlotRow("s", "db", False, 4000)})
    lag = pg_lag(offset, server, "s", LINK, 10.0)
    assert lag.bytes == 1000 and "confirmed_flush_lsn" in lag.note
    missing = pg_lag(offset, PgReading(5000, 99, 98), "s", LINK, 10.0)
    assert missing.bytes == 4000 and "slot s not found" in missing.note


def test_lsn_and_transaction_id_forms() -> None:
    assert parse_lsn(30855024) == 30855024
    assert parse_lsn("0/1D6D0A0") == 0x1D6D0A0
    assert parse_lsn("1/0") == 1 << 32
    assert parse_lsn("123") == 123
    with pytest.raises(OffsetError):
        parse_lsn("nope")
    with pytest.raises(OffsetError):
        parse_lsn(True)
    assert next_xid(41) == 42
    assert next_xid(0xFFFFFFFF) == 3, "after wraparound the next normal xid is 3"


def state_of(key: str) -> BinlogState:
    binlog = DATA[key]
    info = ServerInfo("mariadb", (10, 11, 0), "10.11", True)
    return BinlogState.parse(info, [[], binlog["logs"], binlog["status"]])


class Events:
    """The recorded SHOW BINLOG EVENTS answer, as the mysql Session protocol gives it."""

    def __init__(self, key: str) -> None:
        self.rows = DATA[key]["events"]
        self.asked: list[tuple[str, tuple[object, ...]]] = []

    def run(self, statements: list[str]) -> list[list[dict[str, object]]]:
        raise AssertionError("only query is expected")

    def query(self, sql: str, args: tuple[object, ...]) -> list[dict[str, object]]:
        self.asked.append((sql, tuple(args)))
        file, pos, _limit = args
        return [r for r in self.rows if r["Log_name"] == file and int(r["Pos"]) >= int(pos)]

    def close(self) -> None:
        pass


def test_the_binlog_reader_whose_transaction_is_the_last_in_the_binlog_reads_0() -> None:
    # f's insert is the binlog's last transaction; e's came just before it (another table).
    idle = binlog_offset(offset_of("f"))
    state = state_of("binlog_idle")
    events = Events("binlog_idle")
    lag = binlog_lag(idle, _reading(state, events), LINK, DATA["taken_at"])
    assert not isinstance(lag, str)
    assert (lag.bytes, lag.seconds) == (0, 0.0) and "caught up" in lag.note
    assert events.asked == [
        ("SHOW BINLOG EVENTS IN %s FROM %s LIMIT %s", (idle.file, idle.pos, 500))
    ]
    earlier = binlog_offset(offset_of("e"))
    behind = binlog_lag(earlier, _reading(state, events), LINK, DATA["taken_at"])
    assert not isinstance(behind, str)
    assert behind.bytes == state.position - (earlier.pos or 0) > 0
    assert behind.seconds == pytest.approx(DATA["taken_at"] - (earlier.ts or 0))


def test_a_write_after_the_reader_makes_it_behind_even_on_a_table_it_does_not_capture() -> None:
    idle = binlog_offset(offset_of("f"))
    state = state_of("binlog_after_other_write")
    lag = binlog_lag(idle, _reading(state, Events("binlog_after_other_write")), LINK, 0.0)
    assert not isinstance(lag, str)
    assert lag.bytes == state.position - (idle.pos or 0) > 0


def test_a_transaction_whose_rows_are_not_all_sent_is_not_caught_up() -> None:
    events = DATA["binlog_idle"]["events"]
    mine = [e for e in events if int(e["Pos"]) >= int(offset_of("f")["pos"])]
    end = int(mine[-1]["End_log_pos"])
    assert caught_up_in(mine, 2, end)
    assert not caught_up_in(mine, 1, end), "the row event not yet counted"
    assert not caught_up_in(mine, 2, end + 1), "something after it in the binlog"
    assert not caught_up_in(mine[:-1], 2, end), "no commit seen"


def test_a_purged_offset_file_counts_at_least_every_byte_the_server_has() -> None:
    state = state_of("binlog_idle")
    gone = BinlogOffset("mariadb-bin.000001", 4, None, 0, 0, 1.0, False)
    lag = binlog_lag(gone, _reading(state, Events("binlog_idle")), LINK, 11.0)
    assert not isinstance(lag, str)
    assert lag.bytes == state.total_bytes and "at least" in lag.note and lag.seconds == 10.0


def test_offsets_are_read_by_class_or_by_their_shape() -> None:
    pg = [
        {"partition": {"server": "x"}, "offset": {"lsn": "0/10", "txId": 3, "ts_usec": 2_000_000}}
    ]
    assert isinstance(
        source_offset("io.debezium.connector.postgresql.PostgresConnector", pg), PgOffset
    )
    assert isinstance(source_offset("com.example.Unknown", pg), PgOffset)
    my = [
        {"partition": {"server": "x"}, "offset": {"file": "b.000001", "pos": 4, "snapshot": True}}
    ]
    parsed = source_offset("io.debezium.connector.mysql.MySqlConnector", my)
    assert isinstance(parsed, BinlogOffset) and parsed.snapshot and parsed.event == 0
    assert source_offset("io.debezium.connector.mysql.MySqlConnector", []) is None
    two = [
        {"partition": {"server": "a"}, "offset": {"lsn": 1}},
        {"partition": {"server": "b"}, "offset": {"lsn": 2}},
    ]
    chosen = source_offset("io.debezium.connector.postgresql.PostgresConnector", two, "b")
    assert isinstance(chosen, PgOffset) and chosen.lsn == 2
    with pytest.raises(OffsetError, match="cannot read"):
        source_offset("com.example.Unknown", [{"partition": {}, "offset": {"seq": 1}}])
    with pytest.raises(OffsetError, match="no numeric pos"):
        source_offset(
            "io.debezium.connector.mariadb.MariaDbConnector",
            [{"partition": {}, "offset": {"file": "b.1"}}],
        )


def test_the_target_comes_from_the_connector_config() -> None:
    name = next(n for n in DATA["listing"] if n.startswith("lw-pg-"))
    config = DATA["listing"][name]["info"]["config"]
    target = target_of(config["connector.class"], config)
    assert (target.family, target.host, target.port, target.dbname) == (
        "wal",
        "127.0.0.1",
        5432,
        "lagwatch_test",
    )
    assert target.slot == config["slot.name"] and target.server == config["topic.prefix"]
    default = target_of(
        "io.debezium.connector.postgresql.PostgresConnector", {"database.hostname": "db"}
    )
    assert default.slot == "debezium" and default.port == 5432
    maria = target_of("io.debezium.connector.mariadb.MariaDbConnector", {"database.hostname": "db"})
    assert maria.port == 3306 and maria.slot is None and maria.dbname is None


def _reading(state: BinlogState, events: Events) -> BinlogReading:
    return BinlogReading(state, events)
