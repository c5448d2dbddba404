"""`lagwatch check`, `collect --once` and `snapshot` with a MariaDB source, its readers and outbox."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import ROOT
from tests.integration.test_mysql_binlog import admin, write_position
from tests.support.connect_stub import ConnectStub

CONFIG = """\
store: {{url: "sqlite:///{store}"}}
sources:
  - name: legacy
    kind: mysql
    dsn: "${{LAGWATCH_MYSQL_MONITOR_DSN}}"
    readers:
      - {{name: dbz-legacy, connect_url: "{connect}", connector: {connector}}}
      - {{name: tap-legacy, kind: tap}}
    outbox: [{{table: "{outbox}", created_at: created_at, published_at: sent_at}}]
"""


def lagwatch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lagwatch", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_collect_and_snapshot_with_binlog_readers_and_an_outbox(
    tmp_path: Path, devstack_env: dict[str, str], mysql_admin_dsn: str, unique: str
) -> None:
    env = {**devstack_env, "PATH": "/usr/bin:/bin"}
    password = devstack_env["LAGWATCH_MYSQL_MONITOR_DSN"].split(":")[2].split("@")[0]
    config = tmp_path / "lagwatch.yaml"
    outbox = f"lagwatch_test.lw_cli_outbox_{unique}"
    with admin(mysql_admin_dsn) as cur, ConnectStub() as connect:
        cur.execute(
            f"CREATE TABLE {outbox} (id INT AUTO_INCREMENT PRIMARY KEY, "
            "created_at DATETIME(6) NOT NULL, sent_at DATETIME(6) NULL)"
        )
        try:
            cur.execute(f"INSERT INTO {outbox} (created_at) VALUES (NOW(6)), (NOW(6))")  # noqa: S608 - our table
            file, pos = write_position(cur)
            connect.offsets("legacy", server="legacy", file=file, pos=pos)

            # Given a connector name with a typo, check names the reader and fails;
            settings = {"store": tmp_path / "lw.db", "connect": connect.url, "outbox": outbox}
            config.write_text(CONFIG.format(connector="legcay", **settings))
            bad = lagwatch(env, "check", "-c", str(config))
            assert bad.returncode == 1, bad.stdout + bad.stderr
            assert "reader dbz-legacy: Kafka Connect" in bad.stdout
            assert "no connector 'legcay'" in bad.stdout
            assert "tap-legacy" not in bad.stdout, "check has no store to judge the tap by"

            # with the right name it passes, and one pass lands the figures in the store.
            config.write_text(CONFIG.format(connector="legacy", **settings))
            good = lagwatch(env, "check", "-c", str(config))
            assert good.returncode == 0, good.stdout + good.stderr
            collected = lagwatch(env, "collect", "--once", "-c", str(config))
            assert collected.returncode == 0, collected.stdout + collected.stderr
        finally:
            cur.execute(f"DROP TABLE IF EXISTS {outbox}")
    snapshot = lagwatch(env, "snapshot", "--json", "-c", str(config))
    assert snapshot.returncode == 0, snapshot.stderr
    values = {(v["name"], v["labels"].get("reader")): v for v in json.loads(snapshot.stdout)}
    assert values[("lagwatch_mysql_binlog_files", None)]["value"] >= 1
    assert values[("lagwatch_mysql_binlog_reader_up", "dbz-legacy")]["value"] == 1
    assert values[("lagwatch_mysql_binlog_reader_behind_bytes", "dbz-legacy")]["value"] >= 0
    tap = values[("lagwatch_mysql_binlog_reader_up", "tap-legacy")]
    assert tap["value"] == 0 and "tap" in tap["note"]
    assert values[("lagwatch_outbox_backlog_rows", None)]["value"] == 2
    for output in (bad, good, collected, snapshot):
        assert password not in output.stdout + output.stderr
