"""A purge under a stopped Debezium MariaDB reader keeps its "at least" behind figure.

Issue 11, finding 6: the real reader was last read 173,438 B behind; its binlog files were
then purged, and the reader's behind figure dropped to 14,684 B, every byte the server still
had. Here, on a private MariaDB (binlogs are purged only there) with a real connector on the
devstack's Connect worker, read through a ``readers:`` entry ``connect: cdc``: the connector
is stopped, writes go on, the behind figure is read, the files are rotated and purged past
the connector's offset, and the next cycle says the reader is lost with the behind figure
read before the purge carried forward, noted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.connect_helpers import Watch, connect_entry
from tests.support.connect import MariaDbConnector, Rest, env, wait_for
from tests.support.private_mariadb import ADMIN, PrivateMariadb

pytestmark = pytest.mark.integration

BEHIND = "lagwatch_mysql_binlog_reader_behind_bytes"


@contextmanager
def private_mariadb() -> Iterator[PrivateMariadb]:
    """A MariaDB of this test only, with ROW binlogs and the devstack's Debezium login."""
    with PrivateMariadb("--binlog-format=ROW", "--binlog-row-image=FULL") as server:
        user = env("DEBEZIUM_USER")
        conn = server.admin()
        with conn, conn.cursor() as cur:
            cur.execute(
                "CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, env("DEBEZIUM_PASSWORD"))
            )
            # The grants Debezium documents for its MariaDB connector (as devstack/up gives).
            cur.execute(
                "GRANT SELECT, RELOAD, SHOW DATABASES, LOCK TABLES, REPLICATION SLAVE, "
                "BINLOG MONITOR, SLAVE MONITOR ON *.* TO %s@'127.0.0.1'",
                (user,),
            )
        yield server


def binlogs(server: PrivateMariadb) -> tuple[list[str], str]:
    """Return the server's binlog files and its current one."""
    conn = server.admin()
    with conn, conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        files = [str(r[0]) for r in cur.fetchall()]
        cur.execute("SHOW MASTER STATUS")
        current = str(cur.fetchone()[0])
    return files, current


def rotate_and_purge(server: PrivateMariadb) -> str:
    """Rotate to a new binlog file and purge every file before it; return the one kept.

    MariaDB keeps a file until InnoDB's binlog checkpoint has passed it (PURGE then warns
    and keeps it), so the purge is repeated until only the new file is left.
    """
    conn = server.admin()
    with conn, conn.cursor() as cur:
        cur.execute("FLUSH BINARY LOGS")
        cur.execute("SHOW MASTER STATUS")
        current = str(cur.fetchone()[0])

        def purged() -> bool:
            cur.execute("PURGE BINARY LOGS TO %s", (current,))
            cur.execute("SHOW BINARY LOGS")
            return [str(r[0]) for r in cur.fetchall()] == [current]

        wait_for(purged, 30, step=0.5)
    return current


def test_a_purge_under_a_stopped_connector_carries_its_last_behind_figure_forward(
    tmp_path: Path, unique: str
) -> None:
    rest = Rest()
    with private_mariadb() as server:
        connector = MariaDbConnector(
            unique,
            rest,
            host="127.0.0.1",
            port=server.port,
            admin_dsn=server.dsn(ADMIN, env("MYSQL_DATABASE")),
        )
        connector.create_table()
        reader = {"name": "dbz", "connect": "cdc", "connector": connector.name}
        source = {
            "name": "maria",
            "kind": "mysql",
            "dsn": server.monitor_dsn,
            "readers": [reader],
        }
        watch = Watch(tmp_path, {"sources": [source], "connect": [connect_entry()]})
        try:
            # Given a Debezium MariaDB connector that read a change and was stopped,
            connector.start()
            connector.insert(1, 5)
            wait_for(connector.offset, 60)
            rest.stop(connector.name)
            offset = wait_for(connector.offset, 30)
            file = str(offset["file"])
            # while writes go on, so it falls behind by a known figure:
            for n in range(20):
                connector.insert(1000 + 100 * n, 50, note="w" * 200)
            watch.cycle("mysql:maria")
            known = watch.latest(BEHIND, reader="dbz")
            assert known.value > 100_000, known
            assert not (known.note or "").startswith("at least"), known
            assert watch.latest("lagwatch_mysql_binlog_reader_lost", reader="dbz").value == 0

            # When the server rotates and purges its binlogs past the connector's offset,
            kept = rotate_and_purge(server)
            files, current = binlogs(server)
            assert file not in files and files == [kept] == [current], (file, files)
            assert connector.offset() == offset, "a stopped connector's offset does not move"
            watch.cycle("mysql:maria")

            # then the reader is lost, its file purged,
            lost = watch.latest("lagwatch_mysql_binlog_reader_lost", reader="dbz")
            assert lost.value == 1 and f"file {file} is purged" in (lost.note or ""), lost
            assert watch.latest("lagwatch_mysql_binlog_reader_up", reader="dbz").value == 1
            # and its behind figure does not drop below the one read before the purge:
            # every byte the server still has is a smaller "at least", noted beside it.
            behind = watch.latest(BEHIND, reader="dbz")
            remaining = watch.latest("lagwatch_mysql_binlog_bytes", source="maria").value
            assert remaining < known.value, "the purge left fewer bytes than the reader was behind"
            assert behind.value >= known.value, (known, behind)
            note = behind.note or ""
            assert note.startswith(f"at least: file {file} is purged"), note
            assert "the last figure read before the purge, carried forward" in note, note
            assert f"the server now has {remaining:,.0f} B" in note, note

            # And a cycle more keeps it (the collector remembers the figure, not the store only).
            connector.insert(5000, 1)
            watch.cycle("mysql:maria")
            again = watch.latest(BEHIND, reader="dbz")
            assert again.value >= known.value, (known, again)
        finally:
            watch.close()
            connector.remove()
    rest.close()
