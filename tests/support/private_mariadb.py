"""A throwaway MariaDB server for tests and benchmarks that must not disturb the shared one.

It runs the Debian ``mariadbd`` under a fresh temp dir on a free loopback
port with its own socket, binlog on, and whatever server options the caller
passes (``binlog_format=STATEMENT``, a short expiry, …). It has the devstack's
two logins: ``lagwatch_admin`` (all privileges) and ``lagwatch_monitor``
(REPLICATION CLIENT/SLAVE, BINLOG MONITOR, SLAVE MONITOR).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql

from tests.support.ports import free_port

ADMIN = ("lagwatch_admin", "admin-secret")
MONITOR = ("lagwatch_monitor", "monitor-secret")
START_TIMEOUT = 60.0


class PrivateMariadb:
    """Start with ``with PrivateMariadb("--binlog-format=STATEMENT") as db:``; stopped and wiped on exit."""

    def __init__(self, *options: str) -> None:
        self.options = list(options)
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="lw-mariadb-", dir="/tmp"))
        self.socket = self.dir / "mariadb.sock"
        self.process: subprocess.Popen[bytes] | None = None

    def dsn(self, login: tuple[str, str] = MONITOR, database: str = "") -> str:
        return f"mysql://{login[0]}:{login[1]}@127.0.0.1:{self.port}/{database}"

    @property
    def admin_dsn(self) -> str:
        return self.dsn(ADMIN)

    @property
    def monitor_dsn(self) -> str:
        return self.dsn(MONITOR)

    def start(self) -> PrivateMariadb:
        data = self.dir / "data"
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *as_root,
            ],
            check=True,
            capture_output=True,
        )
        (self.dir / "binlog").mkdir()
        self._launch()
        self._wait_and_grant()
        return self

    def _launch(self) -> None:
        data = self.dir / "data"
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        command = [
            "mariadbd",
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={self.socket}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            f"--pid-file={self.dir / 'mariadb.pid'}",
            f"--log-error={self.dir / 'error.log'}",
            f"--log-bin={self.dir / 'binlog' / 'bin'}",
            "--server-id=1",
            "--innodb-buffer-pool-size=16M",
            "--innodb-flush-log-at-trx-commit=2",
            "--sync-binlog=0",
            *as_root,
            *self.options,
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def halt(self) -> None:
        """Stop the server (SIGTERM, a clean shutdown) and keep its data, so ``resume`` brings it back."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        self.process = None

    def resume(self) -> None:
        """Start the server again on its data, port and logins after ``halt``; return once it answers."""
        self._launch()
        self._connect_root().close()

    def _connect_root(self) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"private MariaDB exited: {self.error_log()[-2000:]}")
            try:
                conn = pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True)
                break
            except pymysql.MySQLError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"private MariaDB did not start: {self.error_log()[-2000:]}"
                    ) from None
                time.sleep(0.1)
        return conn

    def _wait_and_grant(self) -> None:
        conn = self._connect_root()
        with conn, conn.cursor() as cur:
            for user, password in (ADMIN, MONITOR):
                cur.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, password))
            cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{ADMIN[0]}'@'127.0.0.1'")
            cur.execute(
                "GRANT REPLICATION CLIENT, REPLICATION SLAVE, BINLOG MONITOR, SLAVE MONITOR "
                f"ON *.* TO '{MONITOR[0]}'@'127.0.0.1'"
            )
            cur.execute("CREATE DATABASE lagwatch_test")

    def admin(self) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        """Return a root connection over the socket."""
        return pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True)

    def error_log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivateMariadb:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
