"""A throwaway PostgreSQL server of the test's own, for settings the shared one must keep.

``max_slot_wal_keep_size`` and ``wal_segment_size`` are server-wide, so a
test that needs them small starts its own server: initdb into a temporary
directory (as the ``postgres`` OS user when run as root: PostgreSQL refuses
root), a free loopback port, trust authentication on loopback only, and
everything removed on exit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql

from tests.support.ports import free_port

_OS_USER = "postgres"


def _as_server_user(command: Sequence[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", _OS_USER, "--", *command]
    return list(command)


class PrivatePostgres:
    """A PostgreSQL server in a temporary directory on a free port; a context manager."""

    def __init__(
        self,
        bin_dir: str | os.PathLike[str],
        settings: Mapping[str, Any] | None = None,
        wal_segsize_mb: int | None = None,
        initdb_args: Sequence[str] = (),
    ) -> None:
        self.bin = Path(bin_dir)
        self.settings = dict(settings or {})
        self.wal_segsize_mb = wal_segsize_mb
        self.initdb_args = list(initdb_args)
        self.port = 0
        self.dir = Path()

    @property
    def data(self) -> Path:
        return self.dir / "data"

    def dsn(self, user: str = _OS_USER, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={user} dbname={dbname} connect_timeout=5"

    def connect(self, user: str = _OS_USER, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn(user), autocommit=True, **kwargs)

    def _run(self, *command: str) -> None:
        done = subprocess.run(
            _as_server_user(command), capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            log = self.dir / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {done.stderr.strip()}\n{tail}")

    def start(self) -> PrivatePostgres:
        self._make_dir("lagwatch-pg-")
        initdb = [str(self.bin / "initdb"), "-D", str(self.data), "-U", _OS_USER]
        initdb += ["--auth=trust", "--no-sync", "--encoding=UTF8", "--no-locale"]
        if self.wal_segsize_mb:
            initdb.append(f"--wal-segsize={self.wal_segsize_mb}")
        self._run(*initdb, *self.initdb_args)
        self.port = free_port()
        conf = {
            "port": self.port,
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.dir}'",
            "wal_level": "logical",
            "max_wal_senders": 10,
            "max_replication_slots": 20,
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
            **self.settings,
        }
        with (self.data / "postgresql.conf").open("a") as handle:
            handle.write("\n# private test server\n")
            handle.writelines(f"{key} = {value}\n" for key, value in conf.items())
        self._pg_ctl_start()
        return self

    def _make_dir(self, prefix: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        if os.geteuid() == 0:
            shutil.chown(self.dir, _OS_USER, _OS_USER)

    def _pg_ctl_start(self) -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def start_standby_of(self, primary: PrivatePostgres, slot: str) -> PrivatePostgres:
        """Clone ``primary`` with pg_basebackup (creating physical ``slot``) and start it as a standby."""
        self._make_dir("lagwatch-pg-standby-")
        self._run(
            str(self.bin / "pg_basebackup"), "-D", str(self.data), "-h", "127.0.0.1",
            "-p", str(primary.port), "-U", _OS_USER, "-R", "-C", "-S", slot, "-X", "stream",
        )  # fmt: skip
        self.port = free_port()
        with (self.data / "postgresql.conf").open("a") as handle:
            handle.write(f"port = {self.port}\nunix_socket_directories = '{self.dir}'\n")
        self._pg_ctl_start()
        return self

    def stop(self) -> None:
        if self.dir != Path() and (self.data / "postmaster.pid").exists():
            subprocess.run(
                _as_server_user(
                    [
                        str(self.bin / "pg_ctl"),
                        "-D",
                        str(self.data),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ]
                ),
                capture_output=True,
                timeout=60,
                check=False,
            )
        if self.dir != Path():
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        if self.port:  # already started, e.g. by start_standby_of
            return self
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def add_monitor_role(self, name: str = "lagwatch_monitor") -> str:
        """Create a login role that has only pg_monitor; return its DSN."""
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
            conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(name)))
        return self.dsn(name)
