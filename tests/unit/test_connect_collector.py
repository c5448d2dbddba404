"""The Kafka Connect collector on answers recorded from the devstack's real worker
(sample_data/connect/connect-4.3.1.json), served by a loopback HTTP server."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lagwatch.collectors.connect import ConnectCluster, ConnectCollector
from lagwatch.collectors.connect.read import first_line
from lagwatch.collectors.connect.state import NAMESPACE
from lagwatch.store import Record, Sample
from lagwatch.store.contracts import ConnectState
from lagwatch.store.sqlite import SqliteStore
from tests.support.connect_replay import ConnectReplay, recording
from tests.support.sample_find import one

DATA = recording()
BY_STATE = {
    (v["status"]["connector"]["state"], tuple(t["state"] for t in v["status"]["tasks"])): n
    for n, v in DATA["listing"].items()
}
STREAMING_PG = next(
    n for n, v in DATA["listing"].items() if n.endswith("a") and n.startswith("lw-pg-")
)
SNAPSHOTTING_PG = next(n for n in DATA["listing"] if n.startswith("lw-pg-") and n.endswith("d"))
PAUSED = BY_STATE[("PAUSED", ("PAUSED",))]
FAILED = BY_STATE[("RUNNING", ("FAILED",))]
STOPPED = BY_STATE[("STOPPED", ())]
FILE = next(n for n in DATA["listing"] if n.startswith("lw-file-"))
SECRETS = ("debezium-secret", "file-source-api-key")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def cluster(url: str, **options: Any) -> ConnectCluster:
    return ConnectCluster.model_validate({"name": "cdc", "url": url, **options})


def samples_of(found: Iterable[Sample | Record]) -> list[Sample]:
    return [s for s in found if isinstance(s, Sample)]


def records_of(found: Iterable[Sample | Record]) -> list[Record]:
    return [r for r in found if isinstance(r, Record)]


def test_one_listing_gives_every_connector_and_task_state_with_the_failure_first_line() -> None:
    with ConnectReplay(DATA) as connect:
        collector = ConnectCollector(cluster(connect.url), clock=Clock(DATA["taken_at"]))
        out = collector.collect()
        collector.close()
    samples = samples_of(out)
    assert one(samples, "lagwatch_connect_up", cluster="cdc").value == 1
    assert one(samples, "lagwatch_connect_connectors").value == len(DATA["listing"])
    listings = [r for r in connect.requests if r[0] == "/connectors"]
    assert listings == [("/connectors", "expand=status&expand=info")], "one listing per cycle"

    state = {
        name: one(samples, "lagwatch_connect_connector_state", connector=name).value
        for name in DATA["listing"]
    }
    assert state[PAUSED] == ConnectState.PAUSED
    assert state[STOPPED] == ConnectState.STOPPED
    assert state[FAILED] == ConnectState.RUNNING, "Connect says RUNNING while its task FAILED"
    assert state[STREAMING_PG] == ConnectState.RUNNING

    task = one(samples, "lagwatch_connect_task_state", connector=FAILED, task="0")
    trace = DATA["listing"][FAILED]["status"]["tasks"][0]["trace"]
    assert task.value == ConnectState.FAILED
    assert task.note == first_line(trace)
    assert task.note.startswith("org.apache.kafka.connect.errors.ConnectException")
    assert "\n" not in task.note and "\tat " not in trace.splitlines()[0]
    connector_note = one(samples, "lagwatch_connect_connector_state", connector=FAILED).note or ""
    assert "task 0 FAILED" in connector_note, "the RUNNING connector says which task is not"

    counts = {
        s.label_dict["state"]: s.value
        for s in samples
        if s.name == "lagwatch_connect_connector_tasks" and s.label_dict["connector"] == FAILED
    }
    assert counts == {s.name: (1 if s == ConnectState.FAILED else 0) for s in ConnectState}
    assert [
        s for s in samples if s.label_dict.get("connector") == STOPPED and "task" in s.labels[0]
    ] == []
    worker = one(samples, "lagwatch_connect_worker_id", connector=STREAMING_PG, task="0")
    assert (
        worker.label_dict["worker"]
        == DATA["listing"][STREAMING_PG]["status"]["tasks"][0]["worker_id"]
    )
    assert one(samples, "lagwatch_connect_task_restarts_total", connector=FAILED).value == 0


def test_offsets_are_read_for_debezium_connectors_only_and_snapshots_are_seen() -> None:
    with ConnectReplay(DATA) as connect:
        collector = ConnectCollector(cluster(connect.url), clock=Clock(DATA["taken_at"]))
        samples = samples_of(collector.collect())
        collector.close()
    asked = {p.split("/")[2] for p, _ in connect.requests if p.endswith("/offsets")}
    debezium = {n for n in DATA["listing"] if not n.startswith("lw-file-")}
    assert asked == debezium, "the FileStream source needs no offsets read"
    snapshot = {
        s.label_dict["connector"]: s.value
        for s in samples
        if s.name == "lagwatch_debezium_snapshot_running"
    }
    assert snapshot[SNAPSHOTTING_PG] == 1
    assert {n: v for n, v in snapshot.items() if n != SNAPSHOTTING_PG} == dict.fromkeys(
        debezium - {SNAPSHOTTING_PG}, 0
    )
    # No sources are configured: nothing to measure lag against, and the note says why.
    linked = one(samples, "lagwatch_debezium_source_linked", connector=STREAMING_PG)
    assert linked.value == 0 and "no postgres source has address 127.0.0.1:5432" in (
        linked.note or ""
    )
    assert not [s for s in samples if s.name == "lagwatch_debezium_source_lag_bytes"]


def test_offsets_source_reads_every_source_connector_and_none_reads_none() -> None:
    for mode, expected in (("source", set(DATA["listing"])), ("none", set())):
        with ConnectReplay(DATA) as connect:
            collector = ConnectCollector(cluster(connect.url, offsets=mode), clock=Clock(0))
            collector.collect()
            collector.close()
        assert {p.split("/")[2] for p, _ in connect.requests if p.endswith("/offsets")} == expected


def test_secrets_of_connector_configs_show_nowhere(tmp_path: Path) -> None:
    data = json.loads(json.dumps(DATA))
    # A trace that quotes its own config, as a ConfigException can.
    data["listing"][FAILED]["status"]["tasks"][0]["trace"] = (
        "org.apache.kafka.common.config.ConfigException: Invalid value debezium-secret for "
        "configuration database.password\n\tat x\nCaused by: java.io.IOException: "
        "login failed, password=debezium-secret"
    )
    store = SqliteStore(str(tmp_path / "lw.db"))
    with ConnectReplay(data) as connect:
        collector = ConnectCollector(cluster(connect.url), store=store, clock=Clock(1.0))
        out = collector.collect()
        collector.close()
    store.close()
    text = json.dumps(
        [[s.name, s.labels, s.note] for s in samples_of(out)] + [r.body for r in records_of(out)]
    )
    for secret in SECRETS:
        assert secret not in text
    record = next(r for r in records_of(out) if r.key == f"cdc/{FAILED}")
    assert record.namespace == NAMESPACE
    assert record.body["config"]["database.password"] == "***"
    assert record.body["tasks"]["0"]["trace"].startswith(
        "org.apache.kafka.common.config.ConfigException"
    )
    assert record.body["tasks"]["0"]["cause"] == "java.io.IOException: login failed, password=***"
    file_record = next(r for r in records_of(out) if r.key == f"cdc/{FILE}")
    assert file_record.body["config"]["api.key"] == "***"


def test_restarts_count_failed_to_running_and_survive_a_new_collector(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "lw.db"))
    clock = Clock(100.0)

    def cycle(connect: ConnectReplay) -> list[Sample]:
        collector = ConnectCollector(cluster(connect.url), store=store, clock=clock)
        try:
            out = collector.collect()
        finally:
            collector.close()
        store.write(samples_of(out))
        store.put_records(records_of(out))
        clock.now += 10
        return samples_of(out)

    def restarts(samples: list[Sample]) -> float:
        return one(samples, "lagwatch_connect_task_restarts_total", connector=FAILED).value

    with ConnectReplay(DATA) as connect:
        assert restarts(cycle(connect)) == 0  # seen FAILED
        connect.task(FAILED, 0)["state"] = "UNASSIGNED"
        assert restarts(cycle(connect)) == 0
        connect.task(FAILED, 0).update(state="RUNNING", trace=None)
        after = cycle(connect)
        assert restarts(after) == 1, "FAILED, then (via UNASSIGNED) RUNNING: one restart"
        assert one(after, "lagwatch_connect_task_state", connector=FAILED).note is None
        assert restarts(cycle(connect)) == 1, "RUNNING again is no restart"
        connect.task(FAILED, 0)["state"] = "FAILED"
        cycle(connect)
        connect.task(FAILED, 0)["state"] = "RESTARTING"
        assert restarts(cycle(connect)) == 2
        connect.task(FAILED, 0)["state"] = "RUNNING"
        assert restarts(cycle(connect)) == 2, "RESTARTING then RUNNING is one restart"
    store.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_worker_that_does_not_answer_is_up_0_and_what_it_told_goes_stale(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "lw.db"))
    with ConnectReplay(DATA) as connect:
        collector = ConnectCollector(cluster(connect.url), store=store, clock=Clock(1000.0))
        first = collector.collect()
        collector.close()
    store.write(samples_of(first))
    store.put_records(records_of(first))
    # The same cluster, but no worker listens any more.
    down = ConnectCollector(
        cluster(f"http://127.0.0.1:{closed_port()}"), store=store, clock=Clock(1600.0)
    )
    out = down.collect()
    down.close()
    samples = samples_of(out)
    up = one(samples, "lagwatch_connect_up", cluster="cdc")
    assert up.value == 0 and "cannot reach Kafka Connect cdc" in (up.note or "")
    state = one(samples, "lagwatch_connect_connector_state", connector=PAUSED)
    assert state.ts == 1000.0, "a value not read this cycle keeps the time it was read"
    assert state.value == ConnectState.PAUSED
    assert (state.note or "").startswith("stale: last read 1970-01-01T00:16:40Z (10m00s ago)")
    assert "Kafka Connect did not answer" in (state.note or "")
    assert all(s.ts == 1000.0 for s in samples if s.name != "lagwatch_connect_up")
    snapshot = one(samples, "lagwatch_debezium_snapshot_running", connector=SNAPSHOTTING_PG)
    assert "no fallback: give connect cdc its kafka: cluster" in (snapshot.note or "")
    store.write(samples)
    latest = {
        v.label_dict.get("connector"): v for v in store.latest("lagwatch_connect_connector_state")
    }
    assert latest[PAUSED].ts == 1000.0 and (latest[PAUSED].note or "").startswith("stale")
    store.close()
