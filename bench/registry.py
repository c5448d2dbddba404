"""Benchmark: the registry sampler's checks per second per core, next to a plain consumer.

    python bench/registry.py              # set up, measure, print JSON lines, clean up
    python bench/registry.py --messages 50000 --seconds 60

Against the devstack's Kafka and Apicurio Registry (``eval "$(devstack/env)"``).
Setup: two fresh single-partition topics with ``--messages`` records each, one of
Avro records (an OrderShipped of 8 fields, ~90 bytes) and one of JSON Schema
documents (the same fields, draft-07 schema, ~200 bytes), both framed with their
schema ids, under unique subjects that are deleted at the end.

Measured in the same run, each in a fresh child process whose CPU time is its
process time (user + system, every thread: Python's and librdkafka's):

- baseline: a plain confluent-kafka consumer (assign + seek to 0, ``consume`` in
  batches of 500, no checks) reading every message of the topic;
- lagwatch: the registry sampler reading the same messages from offset 0 with
  every check (framing, id lookup through its cache, subject, decode: fastavro or
  fastjsonschema, leftover bytes, size) in one cycle.

Both as messages per CPU second (= per core); the ratio is lagwatch's over the
baseline's. Then the CPU share at 2,000 msg/s: a producer writes 2,000 Avro
messages a second for ``--seconds`` while the sampler runs its cycles every 5 s
with ``max_per_second: 2000``; the share is the sampler process's CPU seconds
over the wall seconds (1.0 = one core), the baseline a plain consumer following
the same stream.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import resource
import struct
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AVRO = {
    "type": "record",
    "name": "OrderShipped",
    "namespace": "lagwatch.bench",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "version", "type": "int"},
        {"name": "customer", "type": "string"},
        {"name": "carrier", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "items", "type": "int"},
        {"name": "express", "type": "boolean"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}
JSON_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "OrderShipped",
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "version": {"type": "integer"},
        "customer": {"type": "string"},
        "carrier": {"type": "string", "enum": ["ups", "dhl", "post"]},
        "amount": {"type": "number", "minimum": 0},
        "items": {"type": "integer"},
        "express": {"type": "boolean"},
        "note": {"type": ["string", "null"]},
    },
    "required": ["id", "version", "customer", "amount"],
}


def emit(metric: str, value: float, unit: str, baseline: str, base: float) -> None:
    line = {
        "bench": "registry",
        "metric": metric,
        "value": round(value, 4),
        "unit": unit,
        "baseline": baseline,
        "baseline_value": round(base, 4),
        "ratio": round(value / base, 4) if base else None,
    }
    print(json.dumps(line), flush=True)


def record(i: int) -> dict[str, Any]:
    return {
        "id": i, "version": 1, "customer": f"customer-{i % 977}", "carrier": "dhl",
        "amount": 19.5 + i % 100, "items": 1 + i % 7, "express": i % 3 == 0,
        "note": None if i % 2 else "leave at the door",
    }  # fmt: skip


def frame(schema_id: int, payload: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id) + payload


def avro_bytes(parsed: Any, i: int) -> bytes:
    import fastavro

    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, record(i))
    return out.getvalue()


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- child processes ------------------------------------------------------------------------


def plain_child(bootstrap: str, topic: str, count: int, out: Any) -> None:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "lagwatch-bench-plain",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 100})  # fmt: skip
    consumer.list_topics(topic, timeout=10)
    c0, t0 = cpu(), time.monotonic()
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen = 0
    while seen < count:
        for message in consumer.consume(500, timeout=1.0):
            if message.error() is None:
                seen += 1
    out.put((seen, cpu() - c0, time.monotonic() - t0))
    consumer.close()


def sampler_child(bootstrap: str, url: str, topic: str, count: int, out: Any) -> None:
    from lagwatch.collectors.registry.config import RegistryConfig
    from lagwatch.collectors.registry.flavour import detect
    from lagwatch.collectors.registry.read import SchemaCache
    from lagwatch.collectors.registry.sampler import Sampler
    from lagwatch.collectors.registry.session import Session

    config = RegistryConfig.model_validate({
        "name": "bench", "url": url, "kafka": "main", "interval": "10s", "timeout": "300s",
        "topics": {"include": [topic]},
        "sample": {"max_per_second": 10_000_000, "backfill": count},
        "policy": {"max_payload_bytes": 1048576},
    })  # fmt: skip
    session = Session("bench", url, 5.0)
    cache = SchemaCache(session, detect(session))
    sampler = Sampler(config, "main", {"bootstrap.servers": bootstrap}, 5.0)
    sampler.consumer.list_topics(topic, timeout=10)
    c0, t0 = cpu(), time.monotonic()
    result = sampler.cycle(cache, time.monotonic() + 280)
    elapsed, used = time.monotonic() - t0, cpu() - c0
    bad = sum(sum(c.violations.values()) for c in sampler.counts.values())
    out.put((result.checked, used, elapsed, bad))
    sampler.close()
    session.close()


def follow_child(bootstrap: str, url: str | None, topic: str, seconds: float, out: Any) -> None:
    """Follow a live topic for ``seconds``: the sampler's cycles every 5 s (url given) or a plain
    consumer (url None); report messages handled, CPU seconds and wall seconds."""
    from confluent_kafka import Consumer, TopicPartition

    if url is None:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "lagwatch-bench-plain",
                             "enable.auto.commit": False, "fetch.wait.max.ms": 100})  # fmt: skip
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, high)])
        c0, t0, seen = cpu(), time.monotonic(), 0
        while time.monotonic() - t0 < seconds:
            seen += sum(1 for m in consumer.consume(500, timeout=0.5) if m.error() is None)
        out.put((seen, cpu() - c0, time.monotonic() - t0))
        consumer.close()
        return
    from lagwatch.collectors.registry.config import RegistryConfig
    from lagwatch.collectors.registry.flavour import detect
    from lagwatch.collectors.registry.read import SchemaCache
    from lagwatch.collectors.registry.sampler import Sampler
    from lagwatch.collectors.registry.session import Session

    config = RegistryConfig.model_validate({
        "name": "bench", "url": url, "kafka": "main", "interval": "5s", "timeout": "25s",
        "topics": {"include": [topic]}, "sample": {"max_per_second": 2000, "backfill": 0},
    })  # fmt: skip
    session = Session("bench", url, 5.0)
    cache = SchemaCache(session, detect(session))
    sampler = Sampler(config, "main", {"bootstrap.servers": bootstrap}, 5.0)
    sampler.cycle(cache, time.monotonic() + 15)  # positions at the log end: backfill 0
    c0, t0, seen = cpu(), time.monotonic(), 0
    while time.monotonic() - t0 < seconds:
        started = time.monotonic()
        seen += sampler.cycle(cache, started + 15).checked
        time.sleep(max(0.0, 5.0 - (time.monotonic() - started)))
    out.put((seen, cpu() - c0, time.monotonic() - t0))
    sampler.close()
    session.close()


def in_child(target: Any, *args: Any) -> Any:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=target, args=(*args, queue))
    process.start()
    got = queue.get(timeout=900)
    process.join(timeout=60)
    return got


# -- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=30000, help="messages per topic")
    parser.add_argument("--seconds", type=float, default=40.0, help="length of the 2,000 msg/s run")
    args = parser.parse_args()

    import fastavro
    import httpx
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    bootstrap = os.environ.get("LAGWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    url = os.environ.get("LAGWATCH_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7")
    tag = uuid.uuid4().hex[:6]
    topics = {kind: f"lagwatch-bench-registry-{kind}-{tag}" for kind in ("avro", "json", "live")}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in topics.values()]).values():
        future.result(timeout=30)
    http = httpx.Client(timeout=30)
    headers = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
    subjects = []

    def register(subject: str, schema: dict[str, Any], kind: str | None = None) -> int:
        body: dict[str, Any] = {"schema": json.dumps(schema)}
        if kind:
            body["schemaType"] = kind
        answer = http.post(f"{url}/subjects/{subject}/versions", json=body, headers=headers)
        answer.raise_for_status()
        subjects.append(subject)
        return int(answer.json()["id"])

    try:
        avro_id = register(f"{topics['avro']}-value", AVRO)
        register(f"{topics['live']}-value", AVRO)
        json_id = register(f"{topics['json']}-value", JSON_SCHEMA, "JSON")
        parsed = fastavro.parse_schema(AVRO)
        producer = Producer(
            {"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000}
        )
        for i in range(args.messages):
            producer.produce(topics["avro"], frame(avro_id, avro_bytes(parsed, i)), b"k%d" % i)
            producer.produce(
                topics["json"], frame(json_id, json.dumps(record(i)).encode()), b"k%d" % i
            )
            if i % 10000 == 0:
                producer.poll(0)
        assert producer.flush(120) == 0

        for kind in ("avro", "json"):
            seen, used, _ = in_child(plain_child, bootstrap, topics[kind], args.messages)
            checked, lw_used, _, bad = in_child(
                sampler_child, bootstrap, url, topics[kind], args.messages
            )
            assert seen == checked == args.messages and bad == 0, (seen, checked, bad)
            emit(f"{kind}_messages_checked_per_core_second", checked / lw_used, "msg/s",
                 "plain confluent-kafka consumer, no checks", seen / used)  # fmt: skip

        # 2,000 msg/s live: a producer thread here, the sampler (then a plain consumer) in a child.
        stop = threading.Event()

        def produce_live() -> None:
            live = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
            start, n = time.monotonic(), 0
            while not stop.is_set():
                due = int((time.monotonic() - start) * 2000)
                while n < due:
                    live.produce(topics["live"], frame(avro_id, avro_bytes(parsed, n)), b"k")
                    n += 1
                live.poll(0)
                time.sleep(0.005)
            live.flush(30)

        thread = threading.Thread(target=produce_live, daemon=True)
        thread.start()
        try:
            time.sleep(1.0)
            checked, used, wall = in_child(
                follow_child, bootstrap, url, topics["live"], args.seconds
            )
            seen, base_used, base_wall = in_child(
                follow_child, bootstrap, None, topics["live"], args.seconds
            )
        finally:
            stop.set()
            thread.join(timeout=60)
        emit("sampler_cpu_share_at_2000_msg_s", used / wall, "cores",
             "plain confluent-kafka consumer following the same stream", base_used / base_wall)  # fmt: skip
        emit("sampler_messages_checked_per_second_live", checked / wall, "msg/s",
             "messages the plain consumer read per second", seen / base_wall)  # fmt: skip
    finally:
        for subject in subjects:
            http.delete(f"{url}/subjects/{subject}")
            http.delete(f"{url}/subjects/{subject}", params={"permanent": "true"})
        for future in admin.delete_topics(list(topics.values())).values():
            try:
                future.result(timeout=30)
            except Exception as exc:
                print(f"could not delete a bench topic: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
