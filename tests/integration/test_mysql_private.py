"""The MySQL/MariaDB collector on private throwaway MariaDB servers, for what the shared one must not do.

Each server is started by the test (tests/support/private_mariadb.py) with the
settings under test — a statement-based binlog, a few seconds of expiry —
and stopped and wiped at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lagwatch.collectors.base import CollectorContext, SourceUnreachable
from lagwatch.collectors.mysql import MysqlCollector, MysqlSource
from lagwatch.collectors.runner import Runner
from lagwatch.store.sqlite import SqliteStore
from tests.integration.test_mysql_binlog import static_reader
from tests.support.private_mariadb import PrivateMariadb
from tests.support.sample_find import one

ETA = "lagwatch_mysql_binlog_purge_eta_seconds"


def collector(dsn: str, *readers: dict[str, Any], store: Any = None) -> MysqlCollector:
    source = {"name": "private", "kind": "mysql", "dsn": dsn, "readers": list(readers)}
    return MysqlCollector(MysqlSource.model_validate(source), CollectorContext(store=store))


def run(db: PrivateMariadb, *statements: str) -> list[Any]:
    with db.admin() as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
        return list(cur.fetchall())


def files(db: PrivateMariadb) -> list[str]:
    return [str(row[0]) for row in run(db, "SHOW BINARY LOGS")]


@pytest.fixture
def statement_db() -> Iterator[PrivateMariadb]:
    with PrivateMariadb("--binlog-format=STATEMENT", "--binlog-row-image=MINIMAL") as db:
        yield db


def test_a_statement_based_binlog_shows_until_it_is_set_to_row(
    statement_db: PrivateMariadb,
) -> None:
    c = collector(statement_db.monitor_dsn)
    # Given a server writing STATEMENT events with minimal row images,
    first = c.collect()
    fmt = one(first, "lagwatch_mysql_binlog_format_ok")
    assert (fmt.value, fmt.label_dict["binlog_format"]) == (0, "STATEMENT")
    assert "CDC needs ROW" in (fmt.note or "")
    image = one(first, "lagwatch_mysql_binlog_row_image_ok")
    assert (image.value, image.label_dict["binlog_row_image"]) == (0, "MINIMAL")
    # when the operator fixes it globally, the next cycle says so without a reconnect.
    run(statement_db, "SET GLOBAL binlog_format = 'ROW'", "SET GLOBAL binlog_row_image = 'FULL'")
    second = c.collect()
    assert one(second, "lagwatch_mysql_binlog_format_ok", binlog_format="ROW").value == 1
    assert one(second, "lagwatch_mysql_binlog_row_image_ok", binlog_row_image="FULL").value == 1


def test_a_login_without_binlog_privileges_is_told_which_to_grant(
    statement_db: PrivateMariadb,
) -> None:
    run(statement_db, "CREATE USER 'plain'@'127.0.0.1' IDENTIFIED BY 'plain-secret'")
    c = collector(statement_db.dsn(("plain", "plain-secret")))
    with pytest.raises(SourceUnreachable, match="grant BINLOG MONITOR"):
        c.collect()


def test_expiry_purges_a_stopped_readers_file_once_its_eta_runs_out() -> None:
    expiry = 4
    with PrivateMariadb(f"--binlog-expire-logs-seconds={expiry}") as db:
        first = files(db)[0]
        c = collector(db.monitor_dsn, static_reader("stopped", first, 4))
        # Given a reader stopped in the current file, its file cannot expire before rotating:
        eta = one(c.collect(), ETA)
        assert eta.value == expiry and "current file" in (eta.note or "")
        # when the file rotates, the countdown starts
        run(db, "FLUSH BINARY LOGS")
        eta = one(c.collect(), ETA)
        assert 0 < eta.value <= expiry
        # and until it runs out, a rotation keeps the file;
        run(db, "FLUSH BINARY LOGS")
        assert first in files(db)
        time.sleep(eta.value + 1)
        eta = one(c.collect(), ETA)
        assert eta.value == 0 and "past its expiry" in (eta.note or "")
        assert one(c.collect(), "lagwatch_mysql_binlog_reader_lost").value == 0
        # once it has, the next rotation purges it and the reader is lost.
        deadline = time.monotonic() + 20
        while first in files(db) and time.monotonic() < deadline:
            run(db, "FLUSH BINARY LOGS")
            time.sleep(0.3)
        lost = one(c.collect(), "lagwatch_mysql_binlog_reader_lost")
        assert lost.value == 1 and f"{first} is purged" in (lost.note or "")


def test_a_restart_keeps_when_files_appeared(tmp_path: Path) -> None:
    with PrivateMariadb("--binlog-expire-logs-seconds=600") as db:
        first = files(db)[0]
        reader = static_reader("stopped", first, 4)
        store = SqliteStore(tmp_path / "lagwatch.db")
        runner = Runner(store)
        # Given a daemon that saw the reader's file rotate,
        before = collector(db.monitor_dsn, reader, store=store)
        assert runner.run(before).ok
        time.sleep(1.1)  # the history keeps 1 s buckets at this expiry: land in the next one
        run(db, "FLUSH BINARY LOGS")
        assert runner.run(before).ok
        (seen,) = store.latest(ETA)
        assert seen.note is None
        # when lagwatch restarts, the new collector reads the rotation back from the store
        after = one(collector(db.monitor_dsn, reader, store=store).collect(), ETA)
        # (never later than before: history buckets start at or before the sample),
        assert after.note is None
        assert seen.value - 5 <= after.value <= seen.value
        # while one without history can only give an upper bound.
        blind = one(collector(db.monitor_dsn, reader).collect(), ETA)
        assert "at most" in (blind.note or "") and blind.value > seen.value
        store.close()


def test_a_server_that_goes_away_is_reported_then_reconnected_to() -> None:
    db = PrivateMariadb().start()
    try:
        c = collector(db.monitor_dsn)
        assert one(c.collect(), "lagwatch_mysql_binlog_enabled").value == 1
        assert db.process is not None
        db.process.terminate()
        db.process.wait(timeout=30)
        # The kept connection breaks: one clear error, then a fresh connect is tried.
        with pytest.raises(SourceUnreachable, match="source private: "):
            c.collect()
        with pytest.raises(SourceUnreachable, match="cannot connect to MySQL/MariaDB"):
            c.collect()
    finally:
        db.stop()
