"""The SQLite backend passes the store contract and serves a reader in another process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lagwatch.store import Sample, StoreUnavailable
from lagwatch.store.sqlite import SqliteStore
from tests.support.store_contract import StoreContract


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "lagwatch.db")
    yield db
    db.close()


@pytest.fixture
def reopen(tmp_path: Path) -> Iterator[Callable[[], SqliteStore]]:
    opened: list[SqliteStore] = []

    def another() -> SqliteStore:
        opened.append(SqliteStore(tmp_path / "lagwatch.db"))
        return opened[-1]

    yield another
    for db in opened:
        db.close()


class TestSqliteContract(StoreContract):
    pass


def test_latest_since_gives_only_what_changed_and_its_cursor_is_exact(tmp_path: Path) -> None:
    """SQLite has one writer at a time: an answer holds exactly the series written since."""
    db = SqliteStore(tmp_path / "lagwatch.db")
    db.write([Sample.of("m", i, 100.0, i=str(i)) for i in range(50)])
    cursor = db.latest_since(None).cursor
    assert db.latest_since(cursor).values == []
    db.write([Sample.of("m", 7, 110.0, i="3"), Sample.of("m", 8, 110.0, i="4")])
    changed = db.latest_since(cursor)
    assert sorted(v.label_dict["i"] for v in changed.values) == ["3", "4"]
    assert db.latest_since(changed.cursor).values == []
    db.close()


def test_a_store_from_before_change_cursors_is_migrated(tmp_path: Path) -> None:
    """Given a store file whose latest table has no seq column (written by an older lagwatch),
    when it is opened for writing, then latest_since works and sees later writes."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE latest (series_id BIGINT PRIMARY KEY, ts BIGINT NOT NULL, "
            "value DOUBLE PRECISION NOT NULL, note TEXT)"
        )
    db = SqliteStore(path)
    db.write([Sample.of("m", 1, 100.0, a="x")])
    cursor = db.latest_since(None).cursor
    db.write([Sample.of("m", 2, 101.0, a="y")])
    assert [v.label_dict for v in db.latest_since(cursor).values] == [{"a": "y"}]
    db.close()


def test_reader_in_another_process_sees_commits_while_writer_writes(tmp_path: Path) -> None:
    """Given a writer process appending batches, a read-only reader here sees them grow."""
    path = tmp_path / "lagwatch.db"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from lagwatch.store import Sample
                from lagwatch.store.sqlite import SqliteStore
                db = SqliteStore({str(path)!r})
                for batch in range(40):
                    db.write([Sample.of("m", batch, time.time(), i=str(i)) for i in range(200)])
                    print(batch, flush=True)
                    time.sleep(0.05)
                db.close()
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "0"
    reader = SqliteStore(path, read_only=True)
    seen = []
    for line in writer.stdout:
        batch = int(line)
        values = {v.value for v in reader.latest("m")}
        assert len(reader.latest("m")) == 200
        seen.append(max(values))
        assert max(values) >= batch  # the reader never lags behind a reported commit
    assert writer.wait(timeout=60) == 0
    assert seen[-1] == 39 and len(set(seen)) > 10


def test_read_only_store_refuses_writes_and_reports_missing_file(tmp_path: Path) -> None:
    missing = SqliteStore(tmp_path / "none.db", read_only=True)
    with pytest.raises(StoreUnavailable, match="no store at"):
        missing.latest()
    SqliteStore(tmp_path / "db").write([Sample.of("m", 1, 1.0)])
    reader = SqliteStore(tmp_path / "db", read_only=True)
    with pytest.raises(StoreUnavailable):
        reader.write([Sample.of("m", 2, 2.0)])


def test_named_lock_is_exclusive(tmp_path: Path) -> None:
    a, b = SqliteStore(tmp_path / "db"), SqliteStore(tmp_path / "db")
    assert a.try_lock("alerts") and not b.try_lock("alerts")
    a.close()
    assert b.try_lock("alerts")
