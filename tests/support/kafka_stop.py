"""A real consumer group that stops and resumes, watched by a real daemon subprocess.

Shared by the end-to-end alert scenario test and the time-to-notify benchmark:
a topic written every half second, consumers that commit every message, a
daemon config whose Kafka collector watches only these groups and whose
receivers are loopback Slack and PagerDuty servers.
"""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from lagwatch.store.sqlite import SqliteStore
from tests.integration.kafka_helpers import CommittingConsumer

STATUS = "lagwatch_kafka_group_status"


def write_config(
    tmp: Path,
    bootstrap: str,
    cluster: str,
    include: str,
    interval: float,
    window: float,
    slack_url: str,
    pd_url: str,
    group_interval: float = 60.0,
) -> Path:
    """Write a daemon config: one Kafka cluster, built-in rules, Slack and PagerDuty."""
    config = tmp / "lagwatch.yaml"
    config.write_text(f"""
store: {{url: "sqlite:///{tmp}/lagwatch.db"}}
daemon: {{metrics_listen: null, jitter: 0s}}
kafka:
  - {{name: {cluster}, bootstrap: "{bootstrap}", interval: {interval:g}s, window: {window:g}s,
     groups: {{include: ["{include}"]}}}}
alerts:
  disable: [CollectorSilent]
  group_by: [alertname, cluster, group]
  group_interval: {group_interval:g}s
  receivers:
    - {{name: team, slack: {{webhook_url: "{slack_url}"}}}}
    - {{name: oncall, pagerduty: {{routing_key: KEY, url: "{pd_url}"}}}}
""")
    return config


class Ticker:
    """Writes one message every ``every`` seconds to partition 0 of ``topic``, in a thread."""

    def __init__(self, bootstrap: str, topic: str, every: float = 0.5) -> None:
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(topic, every), daemon=True)
        self._thread.start()

    def _run(self, topic: str, every: float) -> None:
        i = 0
        while not self._stop.is_set():
            self.producer.produce(topic, value=f"tick{i}".encode(), partition=0)
            self.producer.poll(0)
            i += 1
            self._stop.wait(every)
        self.producer.flush(10)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


class StoppingGroup:
    """A consumer group that consumes, then stops (its consumer leaves), then resumes."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.consumer: CommittingConsumer | None = None
        self.stopped_at: float | None = None
        self.resumed_at: float | None = None
        self.resume()
        self.resumed_at = None

    def resume(self) -> None:
        self.consumer = CommittingConsumer(self.bootstrap, self.topic, self.group)
        self.consumer.wait_assigned(timeout=60)
        self.resumed_at = time.time()

    def stop(self) -> float:
        """Close the consumer (it leaves the group, its partition unowned); return when."""
        assert self.consumer is not None
        self.consumer.stop()
        self.consumer = None
        self.stopped_at = time.time()
        return self.stopped_at

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.stop()
            self.consumer = None


def delete_groups(bootstrap: str, groups: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_consumer_groups(groups, request_timeout=10).values():
        with suppress(Exception):  # a group that was never created is fine
            future.result()


class StoreWatch:
    """Reads the daemon's SQLite store, read-only, once the daemon has created it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store: SqliteStore | None = None

    @property
    def store(self) -> SqliteStore | None:
        if self._store is None and self.path.exists():
            with suppress(Exception):  # the daemon may still be creating the schema
                self._store = SqliteStore(self.path, read_only=True)
        return self._store

    def status(self, group: str) -> tuple[float, float] | None:
        """Return (value, ts) of the newest status sample of ``group``."""
        if self.store is None:
            return None
        found = self.store.latest(STATUS, {"group": group})
        return (found[0].value, found[0].ts) if found else None

    def first(self, group: str, value: float, since: float) -> float | None:
        """Return when the collector first reported ``value`` for ``group`` after ``since``."""
        if self.store is None:
            return None
        for series in self.store.query_range(STATUS, {"group": group}, since, time.time() + 60):
            for ts, v in series.points:
                if ts >= since and v == value:
                    return ts
        return None

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
