"""A restarted Kafka collector goes on from the state it left in the store: STOP within the rest of the window."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lagwatch.collectors.kafka.state import NAMESPACE, group_key
from lagwatch.collectors.kafka.verdict import Status
from lagwatch.collectors.runner import Runner
from lagwatch.store import Store, StoreConfig, open_store
from tests.integration.kafka_lag_helpers import (
    KafkaScratch,
    background,
    commit_each,
    find,
    kafka_scratch,  # noqa: F401 - the kafka fixture
    produce_every,
)

pytestmark = pytest.mark.integration

WINDOW = 16.0
INTERVAL = 1.0
BEFORE_RESTART = 8.0  # watched this long after the consumer stopped
DOWN = 3.0  # then lagwatch is down this long


def stored_status(store: Store, group: str) -> Status | None:
    found = store.latest("lagwatch_kafka_group_status", {"group": group})
    return Status(int(found[0].value)) if found else None


def test_a_restarted_collector_says_stop_within_the_rest_of_the_window(
    kafka: KafkaScratch, tmp_path: Path
) -> None:
    # Given a daemon-like setup: a runner writing to a SQLite store, a collector reading it back
    config = StoreConfig.model_validate({"url": f"sqlite:///{tmp_path}/lagwatch.db"})
    writer, reader = open_store(config), open_store(config, read_only=True)
    settings = {"window": f"{WINDOW:g}s", "interval": f"{INTERVAL:g}s"}
    topic, group = kafka.topic("restart", 1), kafka.group("restart")
    first = kafka.collector(store=reader, **settings)
    assert first.record_retention[NAMESPACE] >= WINDOW
    runner = Runner(writer)
    with background(produce_every, kafka.producer(), topic, 0.5):
        consumer = kafka.consumer(group)
        consumer.subscribe([topic])
        commit_each(consumer, 5, lambda: runner.run(first))
        # When the consumer stops, lagwatch watches part of the window, then restarts
        consumer.close()
        stopped = time.time()
        while time.time() < stopped + BEFORE_RESTART:
            assert runner.run(first).ok
            assert stored_status(reader, group) == Status.OK
            time.sleep(INTERVAL)
        first.close()
        writer.close()
        reader.close()
        saved = open_store(config, read_only=True)
        assert saved.get_record(NAMESPACE, group_key(first.config.name, group)) is not None
        time.sleep(DOWN)

        writer, reader = open_store(config), open_store(config, read_only=True)
        runner = Runner(writer)
        second = kafka.collector(store=reader, **settings)
        fresh = kafka.collector(**settings)  # the same collector without saved state
        restarted = time.time()
        first_stop: float | None = None
        fresh_status: Status | None = None
        while first_stop is None and time.time() < restarted + WINDOW + 10:
            assert runner.run(second).ok
            samples = list(fresh.collect())
            if stored_status(reader, group) == Status.STOP:
                first_stop = time.time()
                found = find(samples, "lagwatch_kafka_group_status", group=group)
                fresh_status = Status(int(found[0].value)) if found else None
            else:
                time.sleep(INTERVAL)
        writer.close()
        reader.close()
        saved.close()

    # Then STOP comes one window after the consumer stopped: after the rest of the window, not a whole one
    assert first_stop is not None, "no STOP within a window and 10 s of the restart"
    since_stop, since_restart = first_stop - stopped, first_stop - restarted
    print(f"STOP {since_stop:.1f}s after the stop, {since_restart:.1f}s after the restart")
    assert since_stop >= WINDOW, since_stop
    assert since_stop <= WINDOW + 2 * INTERVAL + 2, since_stop
    assert since_restart < WINDOW - 4, since_restart
    # And a collector that starts without the saved state still waits for its own window
    assert fresh_status == Status.OK, fresh_status
