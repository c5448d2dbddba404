"""The registry side of the registry tests: registering and deleting schemas through the real
API, writing Confluent-framed messages, and running the collector through the real runner."""

from __future__ import annotations

import io
import json
import struct
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import fastavro
import httpx
from confluent_kafka import Producer

from lagwatch.collectors.kafka import KafkaCluster
from lagwatch.collectors.registry import RegistryCollector, RegistryConfig
from lagwatch.collectors.runner import Runner
from lagwatch.store.sqlite import SqliteStore

HEADERS = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


class Registry:
    """Test-side calls to a registry's Confluent API; remembers subjects to delete after."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=30)
        self.made: list[str] = []

    def register(self, subject: str, schema: Any, schema_type: str = "AVRO") -> int:
        body: dict[str, Any] = {"schema": schema if isinstance(schema, str) else json.dumps(schema)}
        if schema_type != "AVRO":
            body["schemaType"] = schema_type
        answer = self.http.post(
            f"{self.url}/subjects/{subject}/versions", json=body, headers=HEADERS
        )
        assert answer.status_code == 200, answer.text
        if subject not in self.made:
            self.made.append(subject)
        return int(answer.json()["id"])

    def set_compatibility(self, subject: str, level: str) -> None:
        answer = self.http.put(
            f"{self.url}/config/{subject}", json={"compatibility": level}, headers=HEADERS
        )
        assert answer.status_code == 200, answer.text

    def soft_delete(self, subject: str) -> None:
        answer = self.http.delete(f"{self.url}/subjects/{subject}")
        assert answer.status_code == 200, answer.text

    def cleanup(self) -> None:
        for subject in self.made:
            self.http.delete(f"{self.url}/subjects/{subject}")
            self.http.delete(f"{self.url}/subjects/{subject}", params={"permanent": "true"})
        self.http.close()


def avro(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


def framed(schema_id: int, payload: bytes) -> bytes:
    """Return the Confluent wire format: magic byte 0, the id, the payload."""
    return b"\x00" + struct.pack(">I", schema_id) + payload


def produce(
    bootstrap: str, topic: str, messages: Iterable[tuple[bytes | None, bytes | None]]
) -> int:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    n = 0
    for key, value in messages:
        producer.produce(topic, value=value, key=key)
        n += 1
    assert producer.flush(30) == 0
    return n


def config(name: str, url: str, topic_regex: str, **extra: Any) -> RegistryConfig:
    data = {
        "name": name,
        "url": url,
        "kafka": "main",
        "interval": "5s",
        "timeout": "30s",
        "topics": {"include": [topic_regex]},
        "sample": {"max_per_second": 5000, "backfill": 1000},
        "policy": {"compatibility": "BACKWARD_TRANSITIVE", "max_payload_bytes": 2000},
        **extra,
    }
    return RegistryConfig.model_validate(data)


class Watched:
    """A registry collector run by the real runner into a real SQLite store."""

    def __init__(self, tmp: Path, registry: RegistryConfig, bootstrap: str) -> None:
        self.store = SqliteStore(tmp / "lagwatch.db")
        self.cluster = KafkaCluster.model_validate({"name": "main", "bootstrap": bootstrap})
        self.runner = Runner(self.store)
        self.registry = registry
        self.collector = RegistryCollector(registry, self.cluster, store=self.store)

    def cycle(self) -> None:
        result = self.runner.run(self.collector)
        assert result.ok, result.error

    def latest(self, name: str, **labels: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {v.labels: v.value for v in self.store.latest(name, labels)}

    def value(self, name: str, **labels: str) -> float | None:
        found = self.store.latest(name, labels)
        assert len(found) <= 1, found
        return found[0].value if found else None

    def note(self, name: str, **labels: str) -> str | None:
        found = self.store.latest(name, labels)
        return found[0].note if found else None

    def until_caught_up(self, topic: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.cycle()
            behind = self.value(
                "lagwatch_registry_sampler_behind_messages",
                registry=self.registry.name,
                topic=topic,
            )
            if behind == 0:
                return
            assert time.monotonic() < deadline, f"the sampler is still {behind} behind on {topic}"
            time.sleep(0.5)

    def restart(self) -> None:
        """Close the collector and build it anew on the same store, as a restarted daemon would."""
        self.collector.close()
        self.collector = RegistryCollector(self.registry, self.cluster, store=self.store)

    def close(self) -> None:
        self.collector.close()
        self.store.close()
