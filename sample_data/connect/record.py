"""Record what a real Kafka Connect worker with Debezium answers, for the Connect unit tests.

Against the devstack (`eval "$(devstack/env)"`), this makes uniquely named connectors in
every state the collector must read — PostgreSQL streaming and caught up, PostgreSQL during
its initial snapshot, PostgreSQL PAUSED, PostgreSQL with a FAILED task (walsender terminated
under `errors.max.retries=0`), MariaDB streaming and caught up, MariaDB STOPPED, and a
FileStream source that is not Debezium — then records:

- ``listing``: the body of ``GET /connectors?expand=status&expand=info``;
- ``offsets``: ``GET /connectors/{c}/offsets`` of each, and the 404 of an unknown one;
- ``pg``: what the PostgreSQL source said right after (``PG_SERVER_SQL`` and the slots);
- ``binlog``: ``SHOW BINARY LOGS``/``SHOW MASTER STATUS`` and ``SHOW BINLOG EVENTS`` from the
  MariaDB connector's offset, while it is caught up and again after a write to a table it
  does not capture;

and removes everything it made.

    python sample_data/connect/record.py sample_data/connect/connect-4.3.1.json
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lagwatch.collectors.connect.sources import PG_SERVER_SQL, PG_SLOTS_SQL  # noqa: E402
from lagwatch.collectors.mysql.lag import EVENTS_SQL, SCAN_EVENTS  # noqa: E402
from lagwatch.collectors.mysql.session import PyMysqlSession  # noqa: E402
from tests.support.connect import (  # noqa: E402
    FILE_SOURCE_CLASS,
    MariaDbConnector,
    PgConnector,
    Rest,
    delete_topics,
    env,
    pg,
    wait_for,
)


def pg_reading(slots: list[str]) -> dict[str, Any]:
    with pg(env("PG_MONITOR_DSN")) as conn:
        server = conn.execute(PG_SERVER_SQL).fetchone()
        rows = conn.execute(PG_SLOTS_SQL, (slots,)).fetchall()
    assert server is not None
    return {
        "server": [int(server[0]), int(server[1]), None if server[2] is None else int(server[2])],
        "slots": [[r[0], r[1], bool(r[2]), None if r[3] is None else int(r[3])] for r in rows],
    }


def binlog(offset: dict[str, Any]) -> dict[str, Any]:
    session = PyMysqlSession(env("MYSQL_MONITOR_DSN"), 10)
    try:
        logs, status = session.run(["SHOW BINARY LOGS", "SHOW MASTER STATUS"])
        events = session.query(EVENTS_SQL, (offset["file"], offset["pos"], SCAN_EVENTS))
    finally:
        session.close()
    return {"offset": offset, "logs": logs, "status": status, "events": events}


def main(out: str) -> None:
    rest = Rest()
    s = uuid.uuid4().hex[:8]
    streaming = PgConnector(f"{s}a", rest)
    paused = PgConnector(f"{s}b", rest)
    failing = PgConnector(f"{s}c", rest, extra={"errors.max.retries": "0"})
    snapshotting = PgConnector(
        f"{s}d",
        rest,
        snapshot="initial",
        extra={"snapshot.fetch.size": "200", "max.batch.size": "100", "max.queue.size": "200"},
    )
    maria = MariaDbConnector(f"{s}e", rest)
    stopped = MariaDbConnector(f"{s}f", rest)
    other = MariaDbConnector(
        f"{s}g", rest
    )  # only its table: writes lagwatch's reader must not read
    filesource = f"lw-file-{s}"
    pgs = [streaming, paused, failing, snapshotting]
    marias = [maria, stopped]
    data: dict[str, Any] = {"origin": "recorded live from the devstack worker"}
    try:
        for c in pgs:
            c.create_table(rows=80000 if c is snapshotting else 0)
        for m in (*marias, other):
            m.create_table()
        for c in (streaming, paused, failing):
            c.start()
        for m in marias:
            m.start()
        rest.create(
            filesource,
            {
                "connector.class": FILE_SOURCE_CLASS,
                "tasks.max": "1",
                "file": "/dev/null",
                "topic": f"lw-file-{s}",
                "api.key": "file-source-api-key",
            },
        )
        streaming.insert(1, 3)
        paused.insert(1, 1)
        failing.insert(1, 1)
        maria.insert(1, 2)
        stopped.insert(1, 1)
        wait_for(lambda: streaming.offset(), 60)
        wait_for(lambda: paused.offset() and failing.offset(), 60)
        wait_for(lambda: maria.offset() and stopped.offset(), 60)
        rest.call("PUT", f"/connectors/{paused.name}/pause")
        rest.wait_state(paused.name, "PAUSED")
        rest.stop(stopped.name)
        with pg() as conn:
            (pid,) = conn.execute(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (failing.slot,)
            ).fetchone() or (None,)
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        wait_for(lambda: rest.task_states(failing.name) == ["FAILED"], 60)
        snapshotting.start(wait=False)

        def mid_snapshot() -> bool:
            entries = rest.offsets(snapshotting.name)
            return bool(entries) and entries[0]["offset"].get("snapshot_completed") is False

        wait_for(mid_snapshot, 60, step=0.1)
        data["taken_at"] = time.time()
        data["listing"] = rest.call("GET", "/connectors?expand=status&expand=info")
        names = [*(c.name for c in pgs), *(m.name for m in marias), filesource]
        data["offsets"] = {n: rest.call("GET", f"/connectors/{n}/offsets") for n in names}
        missing = rest.http.get(f"/connectors/lw-nosuch-{s}/offsets")
        data["missing"] = {"status": missing.status_code, "body": missing.json()}
        data["pg"] = pg_reading([c.slot for c in pgs])
        data["binlog_idle"] = binlog(data["offsets"][maria.name]["offsets"][0]["offset"])
        other.insert(1, 1)  # a table maria does not capture
        data["binlog_after_other_write"] = binlog(
            data["offsets"][maria.name]["offsets"][0]["offset"]
        )
        wait_for(
            lambda: rest.offsets(snapshotting.name)[0]["offset"].get("snapshot_completed"), 120
        )
        data["snapshot_done_offsets"] = rest.call("GET", f"/connectors/{snapshotting.name}/offsets")
    finally:
        for c in pgs:
            c.remove()
        for m in (*marias, other):
            m.remove()
        rest.remove(filesource)
        delete_topics([f"lw-file-{s}"])
    Path(out).write_text(json.dumps(data, indent=1, default=str) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1])
