"""A reader of the PostgreSQL store never sits in a transaction, so writers that connect later
are not held up by it (a fleet's daemons each read the store while the others (re)connect)."""

from __future__ import annotations

import time

import psycopg

from lagwatch.store import Sample
from lagwatch.store.postgres import PostgresStore
from tests.integration.fleet_helpers import fresh_database


def test_a_writer_connecting_after_a_read_is_not_held_up_by_the_reader(
    pg_admin_dsn: str, unique: str
) -> None:
    with fresh_database(pg_admin_dsn, f"lagwatch_readers_{unique}") as dsn:
        writer = PostgresStore(dsn)
        reader = PostgresStore(dsn, read_only=True)
        late = PostgresStore(dsn)
        try:
            # Given a store written once and read through a read-only store
            now = time.time()
            writer.write([Sample.of("lagwatch_collector_up", 1, now, collector="postgres:a")])
            assert [v.value for v in reader.latest("lagwatch_collector_up")] == [1.0]
            assert reader.latest_since(None).values

            # Then the reader's session is idle, not idle in a transaction holding locks
            with psycopg.connect(dsn, autocommit=True) as conn:
                states = [
                    r[0]
                    for r in conn.execute(
                        "SELECT state FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid()"
                    ).fetchall()
                ]
            assert "idle in transaction" not in states, states

            # And a writer connecting now (its schema check alters `latest`) writes at once
            # rather than waiting for the reader's locks until its statement timeout
            late.write([Sample.of("lagwatch_collector_up", 0, now + 1, collector="postgres:a")])
            assert [v.value for v in reader.latest("lagwatch_collector_up")] == [0.0]
        finally:
            late.close()
            reader.close()
            writer.close()
