"""Connector and task states of real Debezium connectors on the devstack's Kafka Connect worker,
as lagwatch's daemon would store them: RUNNING within one interval of registration, PAUSED,
a task that FAILED with its first trace line, its restart counted, and a worker killed."""

from __future__ import annotations

import time
from pathlib import Path

from lagwatch.store.contracts import ConnectState
from tests.integration.connect_helpers import Watch, connect_entry, pg_source
from tests.support.connect import (
    FILE_SOURCE_CLASS,
    PgConnector,
    Rest,
    pg,
    pg_connector,
    wait_for,
)
from tests.support.connect_worker import PrivateWorker


def state_of(watch: Watch, connector: str) -> tuple[float, float] | None:
    connector_state = watch.maybe("lagwatch_connect_connector_state", connector=connector)
    task_state = watch.maybe("lagwatch_connect_task_state", connector=connector, task="0")
    if connector_state is None or task_state is None:
        return None
    return connector_state.value, task_state.value


def test_a_registered_connector_is_seen_running_within_one_interval(
    tmp_path: Path, unique: str
) -> None:
    rest = Rest()
    connector = PgConnector(unique, rest)
    connector.create_table()
    watch = Watch(tmp_path, {"sources": [pg_source()], "connect": [connect_entry()]})
    interval = watch.config.connect[0].interval
    try:
        registered = time.monotonic()
        rest.create(connector.name, connector.config())
        # Given a registered connector, when the collector runs (here every second, as many
        # times as fit in one interval), then RUNNING/RUNNING is stored within that interval.
        seen_at = None
        while time.monotonic() - registered <= interval:
            watch.cycle("connect:cdc")
            if state_of(watch, connector.name) == (ConnectState.RUNNING, ConnectState.RUNNING):
                seen_at = time.monotonic() - registered
                break
            time.sleep(1.0)
        assert seen_at is not None, (
            f"not RUNNING within {interval:g}s: {state_of(watch, connector.name)}"
        )
        assert watch.latest("lagwatch_connect_up", cluster="cdc").value == 1
        worker = watch.latest("lagwatch_connect_worker_id", connector=connector.name, task="0")
        assert worker.label_dict["worker"] == rest.status(connector.name)["tasks"][0]["worker_id"]

        # When it is paused, then both the connector and its task read PAUSED.
        rest.call("PUT", f"/connectors/{connector.name}/pause")
        rest.wait_state(connector.name, "PAUSED")
        wait_for(lambda: rest.task_states(connector.name) == ["PAUSED"], 60)
        watch.cycle("connect:cdc")
        assert state_of(watch, connector.name) == (ConnectState.PAUSED, ConnectState.PAUSED)
        paused = watch.latest(
            "lagwatch_connect_connector_tasks", connector=connector.name, state="PAUSED"
        )
        assert paused.value == 1
    finally:
        watch.close()
        connector.remove()
        rest.close()


def test_a_failed_task_shows_its_first_trace_line_and_its_restart_is_counted(
    tmp_path: Path, unique: str
) -> None:
    rest = Rest()
    # errors.max.retries=0: a lost replication connection fails the task instead of
    # being retried in place, a failure a plain restart recovers from.
    with pg_connector(unique, rest, extra={"errors.max.retries": "0"}) as connector:
        watch = Watch(tmp_path, {"sources": [pg_source()], "connect": [connect_entry()]})
        try:
            connector.insert(1)
            wait_for(connector.offset, 60)
            watch.cycle("connect:cdc")
            assert state_of(watch, connector.name) == (ConnectState.RUNNING, ConnectState.RUNNING)
            with pg() as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                    "WHERE slot_name = %s",
                    (connector.slot,),
                )
            wait_for(lambda: rest.task_states(connector.name) == ["FAILED"], 90)
            watch.cycle("connect:cdc")
            trace = rest.status(connector.name)["tasks"][0]["trace"]
            task = watch.latest("lagwatch_connect_task_state", connector=connector.name, task="0")
            assert task.value == ConnectState.FAILED
            assert task.note == trace.splitlines()[0].strip()
            assert "\n" not in (task.note or "") and len(trace) > len(task.note or "")
            own = watch.latest("lagwatch_connect_connector_state", connector=connector.name)
            assert own.value == ConnectState.RUNNING, "Connect keeps the connector RUNNING"
            assert "task 0 FAILED" in (own.note or "")
            failed = watch.latest(
                "lagwatch_connect_connector_tasks", connector=connector.name, state="FAILED"
            )
            assert failed.value == 1
            restarts = "lagwatch_connect_task_restarts_total"
            assert watch.latest(restarts, connector=connector.name, task="0").value == 0

            rest.call(
                "POST", f"/connectors/{connector.name}/restart?includeTasks=true&onlyFailed=true"
            )
            wait_for(lambda: rest.task_states(connector.name) == ["RUNNING"], 90)
            watch.cycle("connect:cdc")
            assert state_of(watch, connector.name) == (ConnectState.RUNNING, ConnectState.RUNNING)
            assert watch.latest(restarts, connector=connector.name, task="0").value == 1
            record = watch.store.get_record("connect.state", f"cdc/{connector.name}")
            assert record is not None and record.body["tasks"]["0"]["restarts"] == 1
            assert record.body["config"]["database.password"] == "***"
            # The count lives in the store: a new daemon on the same store goes on from it.
            watch.close()
            watch = Watch(tmp_path, {"sources": [pg_source()], "connect": [connect_entry()]})
            watch.cycle("connect:cdc")
            assert watch.latest(restarts, connector=connector.name, task="0").value == 1
        finally:
            watch.close()
    rest.close()


def test_a_killed_worker_is_connect_up_0_with_the_error_and_no_crash(
    tmp_path: Path, unique: str
) -> None:
    with PrivateWorker(unique) as worker:
        rest = Rest(worker.url)
        name = f"lw-file-{unique}"
        rest.create(
            name,
            {"connector.class": FILE_SOURCE_CLASS, "tasks.max": "1", "file": "/dev/null",
             "topic": f"lw-file-{unique}"},
        )  # fmt: skip
        rest.wait_running(name)
        watch = Watch(tmp_path, {"connect": [connect_entry(worker.url, offsets="none")]})
        try:
            watch.cycle("connect:cdc")
            assert watch.latest("lagwatch_connect_up", cluster="cdc").value == 1
            read_at = watch.latest("lagwatch_connect_connector_state", connector=name).ts
            worker.kill()
            # When no worker answers, then the collector still runs (collector_up=1) and says
            # so in lagwatch_connect_up, and what it last read is marked stale at its old time.
            watch.cycle("connect:cdc")
            up = watch.latest("lagwatch_connect_up", cluster="cdc")
            assert up.value == 0
            assert "cannot reach Kafka Connect cdc" in (up.note or "")
            assert "check url and that a worker is up" in (up.note or "")
            health = watch.latest("lagwatch_collector_up", collector="connect:cdc")
            assert health.value == 1
            state = watch.latest("lagwatch_connect_connector_state", connector=name)
            assert state.ts == read_at and (state.note or "").startswith("stale: last read")
        finally:
            watch.close()
            rest.close()
