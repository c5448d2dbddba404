"""The PostgreSQL backend passes the same store contract, and tolerates several writers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from lagwatch.store import Sample
from lagwatch.store.postgres import PostgresStore
from tests.support.store_contract import StoreContract


@pytest.fixture
def fresh_dsn(pg_admin_dsn: str, unique: str) -> Iterator[str]:
    name = f"lagwatch_store_{unique}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    url = urlsplit(pg_admin_dsn)
    yield urlunsplit(url._replace(path=f"/{name}"))
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(psycopg.sql.Identifier(name))
        )


@pytest.fixture
def store(fresh_dsn: str) -> Iterator[PostgresStore]:
    db = PostgresStore(fresh_dsn)
    yield db
    db.close()


@pytest.fixture
def reopen(fresh_dsn: str) -> Iterator[Callable[[], PostgresStore]]:
    opened: list[PostgresStore] = []

    def another() -> PostgresStore:
        opened.append(PostgresStore(fresh_dsn))
        return opened[-1]

    yield another
    for db in opened:
        db.close()


class TestPostgresContract(StoreContract):
    pass


def test_latest_since_never_misses_a_write_that_commits_late(fresh_dsn: str) -> None:
    """Given a writer whose transaction started first but commits after another writer's, a
    reader reading between the two commits still gets the late write at its next read."""
    reader = PostgresStore(fresh_dsn)
    reader.write([Sample.of("m", 0, 1000.0, w="setup")])
    cursor = reader.latest_since(None).cursor
    with psycopg.connect(fresh_dsn) as slow:
        # The slow writer takes its transaction id first, as a write batch would.
        slow.execute("SELECT pg_current_xact_id()")
        PostgresStore(fresh_dsn).write([Sample.of("m", 2, 1002.0, w="fast")])
        between = reader.latest_since(cursor)
        assert "fast" in {v.label_dict["w"] for v in between.values}
        xid = slow.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
        assert xid is not None
        series = slow.execute(
            "INSERT INTO series (name, labels) VALUES ('m', '{\"w\":\"slow\"}') RETURNING id"
        ).fetchone()
        assert series is not None
        slow.execute(
            "INSERT INTO latest (series_id, ts, value, note, seq) VALUES (%s, 1001000, 1, NULL, %s)",
            (series[0], xid[0]),
        )
    after = reader.latest_since(between.cursor)
    assert "slow" in {v.label_dict["w"] for v in after.values}
    reader.close()


def test_several_writers_create_schema_and_write_at_once(fresh_dsn: str) -> None:
    """Given four daemons starting together on one empty database, all their samples land."""
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        db = PostgresStore(fresh_dsn)
        try:
            for batch in range(5):
                db.write(
                    [
                        Sample.of("m", batch, 1000.0 + batch, writer=str(n), i=str(i))
                        for i in range(50)
                    ]
                )
                db.write([Sample.of("shared", n, 1000.0 + n * 10 + batch)])
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    reader = PostgresStore(fresh_dsn, read_only=True)
    assert len(reader.latest("m")) == 200
    [shared] = reader.query_range("shared", None, 999, 1100, max_points=10**5)
    assert len(shared.points) == 20
    reader.close()


def test_only_one_holder_of_a_named_lock(fresh_dsn: str) -> None:
    a, b = PostgresStore(fresh_dsn), PostgresStore(fresh_dsn)
    assert a.try_lock("alerts")
    assert not b.try_lock("alerts")
    a.close()
    assert b.try_lock("alerts")
    b.close()
