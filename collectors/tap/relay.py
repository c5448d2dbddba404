"""Relay mode: publish a tap's changes to a Kafka topic as JSON with a `traceparent` header.

This makes DB → tap → Kafka → consumer group a complete pipeline without any
other CDC tool (the demo and the tests use it). The event value is

    {"source": NAME, "table": "schema.table", "op": "insert|update|delete|message",
     "commit_ts": 1767225600.123456, "position": "0/16B3748" | "file:pos",
     "row": {...}, "old": {...} | null}

and its headers carry `traceparent` (the row's own `traceparent` column when it
has a valid one, as probe rows do, else a new trace) and `lagwatch-commit-ts`.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from lagwatch.collectors.tap.change import Change

log = logging.getLogger("lagwatch.tap.relay")

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
KEY_COLUMNS = ("aggregateid", "pipeline", "id")


def new_traceparent() -> str:
    """Return a W3C traceparent for a new, sampled trace."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def event_json(source: str, change: Change) -> bytes:
    """Return the relay's JSON event for one change."""
    return json.dumps(
        {
            "source": source,
            "table": change.table,
            "op": change.op,
            "commit_ts": change.commit_ts,
            "position": change.position,
            "row": change.row,
            "old": change.old,
        },
        default=str,
        separators=(",", ":"),
    ).encode()


class KafkaRelay:
    """A change handler that produces each change to ``topic``.

    Failure policy: a delivery error is counted in ``failed`` with the last
    error kept in ``error`` (the probe then sees its row lost on the topic
    hop); a full local queue waits for the producer instead of dropping.
    """

    def __init__(self, bootstrap: str, topic: str, source: str) -> None:
        self.topic = topic
        self.source = source
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "linger.ms": 1,
                "acks": "all",
                "enable.idempotence": True,
                "client.id": f"lagwatch-tap-relay:{source}",
            }
        )
        self.sent = 0
        self.failed = 0
        self.error: str | None = None
        self._lock = threading.Lock()

    def __call__(self, change: Change) -> None:
        parent = change.row.get("traceparent")
        traceparent = parent if isinstance(parent, str) and TRACEPARENT.match(parent) else None
        headers: list[tuple[str, str | bytes | None]] = [
            ("traceparent", (traceparent or new_traceparent()).encode()),
            ("lagwatch-commit-ts", repr(change.commit_ts).encode()),
        ]
        key = next((str(change.row[c]) for c in KEY_COLUMNS if change.row.get(c) is not None), None)
        value = event_json(self.source, change)
        while True:
            try:
                self.producer.produce(
                    self.topic, value, key, headers=headers, on_delivery=self._delivered
                )
                break
            except BufferError:
                self.producer.poll(0.1)
        self.producer.poll(0)

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        with self._lock:
            if err is None:
                self.sent += 1
            else:
                self.failed += 1
                self.error = f"relay to {self.topic}: {err.str()}"
                log.warning(self.error)

    def poll(self) -> None:
        """Serve delivery reports; call this while idle."""
        self.producer.poll(0)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued, waiting at most ``timeout`` seconds."""
        self.producer.flush(timeout)


def row_text(row: dict[str, Any], column: str) -> str | None:
    """Return a row value as text (MySQL values come typed, PostgreSQL ones as text)."""
    value = row.get(column)
    return None if value is None else str(value)
