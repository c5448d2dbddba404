"""MySQL/MariaDB readers that name a connect: cluster: their offset comes through the cluster's
endpoint, a caught-up reader reads 0 bytes behind, and an unreadable position leaves no value
looking current. Connect answers and binlog events recorded together on the devstack
(sample_data/connect), the server's other answers from sample_data/mysql."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from lagwatch.collectors.base import CollectorContext
from lagwatch.collectors.connect import EXTRAS_KEY, ConnectCluster, Endpoint
from lagwatch.collectors.mysql import MysqlCollector, MysqlSource
from lagwatch.collectors.mysql.lag import EVENTS_SQL, SCAN_EVENTS
from lagwatch.collectors.mysql.read import MASTER_STATUS_SQL
from lagwatch.store import Sample
from lagwatch.store.sqlite import SqliteStore
from tests.support.connect_replay import ConnectReplay, recording
from tests.support.mysql_replay import ReplaySession
from tests.support.sample_find import one

DATA = recording()
IDLE = next(n for n in DATA["offsets"] if n.startswith("lw-my-") and n.endswith("f"))
EARLIER = next(n for n in DATA["offsets"] if n.startswith("lw-my-") and n.endswith("e"))


def session(key: str = "binlog_idle") -> ReplaySession:
    """The recorded MariaDB, with the binlog as it was when the connectors' offsets were read."""
    replay = ReplaySession.load("mariadb-10.11")
    binlog = DATA[key]
    replay.statements["SHOW BINARY LOGS"] = binlog["logs"]
    replay.statements[MASTER_STATUS_SQL] = binlog["status"]
    for name in (IDLE, EARLIER):
        offset = DATA["offsets"][name]["offsets"][0]["offset"]
        args = json.dumps([offset["file"], offset["pos"], SCAN_EVENTS])
        replay.statements[f"{EVENTS_SQL} {args}"] = [
            e for e in binlog["events"] if int(e["Pos"]) >= int(offset["pos"])
        ]
    return replay


def collector(
    url: str, replay: ReplaySession, store: SqliteStore | None = None, now: float = 0.0
) -> tuple[MysqlCollector, Endpoint]:
    endpoint = Endpoint(ConnectCluster(name="cdc", url=url), None)
    config = MysqlSource.model_validate(
        {
            "name": "shop",
            "kind": "mysql",
            "dsn": "mysql://u:p@127.0.0.1:1/x",
            "readers": [
                {"name": "idle", "connect": "cdc", "connector": IDLE},
                {"name": "earlier", "connect": "cdc", "connector": EARLIER},
            ],
        }
    )
    context = CollectorContext(store=store, extras={EXTRAS_KEY: {"cdc": endpoint}})
    return MysqlCollector(config, context, session=replay, clock=lambda: now), endpoint


def test_a_reader_naming_a_cluster_reads_its_offset_there_and_reads_0_when_caught_up() -> None:
    with ConnectReplay(DATA) as connect:
        c, endpoint = collector(connect.url, session())
        samples = c.collect()
        endpoint.close()
    assert (f"/connectors/{IDLE}/offsets", None) in connect.requests
    assert one(samples, "lagwatch_mysql_binlog_reader_up", reader="idle").value == 1
    idle = one(samples, "lagwatch_mysql_binlog_reader_behind_bytes", reader="idle")
    assert idle.value == 0 and "caught up" in (idle.note or "")
    earlier = one(samples, "lagwatch_mysql_binlog_reader_behind_bytes", reader="earlier")
    position = DATA["binlog_idle"]["status"][0]["Position"]
    offset = DATA["offsets"][EARLIER]["offsets"][0]["offset"]
    assert earlier.value == position - offset["pos"] > 0


def test_after_a_later_write_the_idle_reader_is_behind_by_the_bytes_after_its_offset() -> None:
    with ConnectReplay(DATA) as connect:
        c, endpoint = collector(connect.url, session("binlog_after_other_write"))
        samples = c.collect()
        endpoint.close()
    behind = one(samples, "lagwatch_mysql_binlog_reader_behind_bytes", reader="idle")
    position = DATA["binlog_after_other_write"]["status"][0]["Position"]
    assert behind.value == position - DATA["offsets"][IDLE]["offsets"][0]["offset"]["pos"] > 0


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_position_that_cannot_be_read_leaves_no_value_looking_current(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "lw.db"))
    with ConnectReplay(DATA) as connect:
        c, endpoint = collector(connect.url, session(), store, now=5000.0)
        store.write([s for s in c.collect() if isinstance(s, Sample)])
        endpoint.close()
    c, endpoint = collector(f"http://127.0.0.1:{closed_port()}", session(), store, now=5600.0)
    samples = c.collect()
    endpoint.close()
    up = one(samples, "lagwatch_mysql_binlog_reader_up", reader="earlier")
    assert up.value == 0 and up.ts == 5600.0
    assert "cannot reach Kafka Connect cdc" in (up.note or "")
    assert "no fallback: give connect cdc its kafka: cluster" in (up.note or "")
    for name in (
        "lagwatch_mysql_binlog_reader_behind_bytes",
        "lagwatch_mysql_binlog_reader_lost",
        "lagwatch_mysql_binlog_reader_gtid_ok",
    ):
        value = one(samples, name, reader="earlier")
        assert value.ts == 5000.0, f"{name} keeps the time it was read"
        assert (value.note or "").startswith("stale: last read 1970-01-01T01:23:20Z (10m00s ago)")
    store.write(samples)
    (latest,) = store.latest("lagwatch_mysql_binlog_reader_behind_bytes", {"reader": "earlier"})
    assert latest.ts == 5000.0 and (latest.note or "").startswith("stale")
    store.close()
