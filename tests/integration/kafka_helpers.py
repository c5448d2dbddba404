"""Real Kafka pieces for pipeline tests: a throwaway topic and a consumer group that commits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic


@contextmanager
def topic(bootstrap: str, name: str, partitions: int = 1) -> Iterator[str]:
    """Create ``name`` for the duration of the block, then delete it."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)
    deadline = time.monotonic() + 30
    while name not in admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        yield name
    finally:
        admin.delete_topics([name])[name].result(timeout=30)


class CommittingConsumer:
    """A consumer group member that commits synchronously after every message, in a thread."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "latest",
                "session.timeout.ms": 6000,
                "fetch.wait.max.ms": 50,
            }
        )
        self.assigned = threading.Event()
        self.consumer.subscribe([topic], on_assign=lambda _c, _p: self.assigned.set())
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self.consumer.poll(0.05)
            if message is None or message.error() is not None:
                continue
            self.received += 1
            self.consumer.commit(message, asynchronous=False)
        self.consumer.close()

    def wait_assigned(self, timeout: float = 30.0) -> None:
        assert self.assigned.wait(timeout), "the test consumer got no partitions"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
