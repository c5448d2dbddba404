"""The PostgreSQL backend passes the same store contract, and tolerates several writers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
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


class TestPostgresContract(StoreContract):
    pass


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
