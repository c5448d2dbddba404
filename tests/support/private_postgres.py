"""A throwaway PostgreSQL server of the test's own, for what the shared one must not suffer.

Server-wide settings (``max_slot_wal_keep_size``, ``wal_segment_size``), a
server that stops and starts again, a physical standby: a test that needs one
of these starts its own server. initdb into a temporary directory (as the
``postgres`` OS user when run as root: PostgreSQL refuses root), a free
loopback port, trust authentication on loopback only, and everything removed
by ``destroy`` (or on leaving the ``with`` block).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
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


def pg_bin() -> Path:
    """Return the PostgreSQL binaries: $LAGWATCH_PG_BIN, or the newest under /usr/lib/postgresql."""
    env = os.environ.get("LAGWATCH_PG_BIN")
    if env:
        return Path(env)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if not versions:
        raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql; run devstack/install")
    return versions[0]


class PrivatePostgres:
    """A PostgreSQL server in a temporary directory on a free port; a context manager.

    ``start`` initialises the server the first time and starts it again after
    ``stop`` (the data stays); ``destroy`` stops it and removes everything.
    """

    def __init__(
        self,
        bin_dir: str | os.PathLike[str] | None = None,
        settings: Mapping[str, Any] | None = None,
        wal_segsize_mb: int | None = None,
        initdb_args: Sequence[str] = (),
    ) -> None:
        self.bin = Path(bin_dir) if bin_dir else pg_bin()
        self.settings = dict(settings or {})
        self.wal_segsize_mb = wal_segsize_mb
        self.initdb_args = list(initdb_args)
        self.port = 0
        self.dir = Path()

    @property
    def data(self) -> Path:
        return self.dir / "data"

    def dsn(self, user: str = _OS_USER, dbname: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}?connect_timeout=5"

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
        """Initialise (the first time) and start the server; return it."""
        if self.port:
            self._pg_ctl_start()  # again, after stop()
            return self
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

    def stop(self, mode: str = "fast") -> None:
        """Stop the server and keep its data, so ``start`` brings it back."""
        if self.dir != Path() and (self.data / "postmaster.pid").exists():
            subprocess.run(
                _as_server_user(
                    [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]
                ),
                capture_output=True,
                timeout=60,
                check=False,
            )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"private PostgreSQL on {self.port} did not start")

    def destroy(self) -> None:
        """Stop the server at once and remove its directory."""
        self.stop("immediate")
        if self.dir != Path():
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        if self.port:  # already started, e.g. by start_standby_of
            return self
        try:
            return self.start()
        except BaseException:
            self.destroy()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.destroy()

    def add_monitor_role(self, name: str = "lagwatch_monitor") -> str:
        """Create a login role that has only pg_monitor; return its DSN."""
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
            conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(name)))
        return self.dsn(name)
