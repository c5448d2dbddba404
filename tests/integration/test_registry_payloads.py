"""The sampling consumer against the devstack's real Apicurio Registry and Kafka broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests.integration.kafka_helpers import topic as scratch_topic
from tests.integration.registry_helpers import Registry, Watched, avro, config, framed, produce

pytestmark = pytest.mark.integration

SHIPPED = {
    "type": "record",
    "name": "OrderShipped",
    "namespace": "lagwatch.test",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "version", "type": "int"},
        {"name": "status", "type": "string"},
    ],
}
OTHER = {
    "type": "record",
    "name": "CustomerMoved",
    "namespace": "lagwatch.test",
    "fields": [{"name": "customer", "type": "string"}, {"name": "version", "type": "int"}],
}
EXPECTED = {
    "no_magic_byte": 3,
    "unknown_schema_id": 2,
    "wrong_subject": 2,
    "invalid_payload": 3,
    "oversized_payload": 1,
}


def test_a_scripted_mix_gives_exactly_its_counts_per_kind_and_survives_a_restart(
    tmp_path: Path, kafka_bootstrap: str, registry_url: str, unique: str
) -> None:
    """Given a topic whose subject holds OrderShipped, and another subject's schema; when a mix of
    5 good records, 3 raw JSON values, 2 unknown ids, 2 ids of the other subject, 2 truncated
    records and 1 with bytes left over, 1 oversized record and 2 tombstones is written and the
    sampler catches up, then each kind has exactly its count, the tombstones are counted apart,
    the violating messages are kept without their payload, no consumer group appears, and after a
    restart nothing is counted twice while new messages are counted on top."""
    registry = Registry(registry_url)
    name = f"reg-{unique}"
    with scratch_topic(kafka_bootstrap, f"lw-reg-{unique}", partitions=2) as topic:
        watched = None
        try:
            good_id = registry.register(f"{topic}-value", SHIPPED)
            other_id = registry.register(f"lw-reg-other-{unique}-value", OTHER)
            assert good_id != other_id
            good = avro(SHIPPED, {"id": 1, "version": 1, "status": "shipped"})
            big = avro(SHIPPED, {"id": 2, "version": 1, "status": "x" * 3000})
            unknown = 2_000_000_000 + int(unique, 16) % 100_000_000
            mix = (
                [(b"order-%d" % i, framed(good_id, good)) for i in range(5)]
                + [(b"raw", b'{"id": 1, "status": "shipped"}')] * 3
                + [(b"unknown", framed(unknown, good))] * 2
                + [(b"other", framed(other_id, avro(OTHER, {"customer": "c", "version": 1})))] * 2
                + [(b"truncated", framed(good_id, good[:-3]))] * 2
                + [(b"leftover", framed(good_id, good + b"\x02\x04"))]
                + [(b"big", framed(good_id, big))]
                + [(b"gone", None)] * 2
            )
            produce(kafka_bootstrap, topic, mix)
            watched = Watched(tmp_path, config(name, registry_url, topic), kafka_bootstrap)

            watched.until_caught_up(topic)

            labels = {"registry": name, "topic": topic}
            assert watched.value("lagwatch_registry_up", registry=name) == 1
            assert "apicurio 3.3.3" in (watched.note("lagwatch_registry_up", registry=name) or "")
            assert watched.value("lagwatch_registry_messages_checked_total", **labels) == 18
            assert watched.value("lagwatch_registry_tombstones_total", **labels) == 2
            counts = {
                dict(k)["kind"]: v
                for k, v in watched.latest("lagwatch_registry_violations_total", **labels).items()
            }
            assert counts == EXPECTED
            sizes = {
                dict(k)["quantile"]: v
                for k, v in watched.latest("lagwatch_registry_payload_bytes", **labels).items()
            }
            assert sizes["max"] == len(framed(good_id, big))
            assert sizes["0.5"] < 100 < sizes["max"]

            kept = watched.store.get_record("registry.violations", f"{name}/{topic}/wrong_subject")
            assert kept is not None
            assert [m["part"] for m in kept.body["messages"]] == ["value", "value"]
            first = kept.body["messages"][0]
            assert (
                first["head"]
                == framed(other_id, b"")[:5].hex()
                + avro(OTHER, {"customer": "c", "version": 1})[:11].hex()
            )
            assert f"not a version of subject {topic}-value" in first["reason"]
            assert set(first) == {"partition", "offset", "timestamp", "part", "head", "reason"}
            truncated = watched.store.get_record(
                "registry.violations", f"{name}/{topic}/invalid_payload"
            )
            assert truncated is not None
            reasons = [m["reason"] for m in truncated.body["messages"]]
            assert sum("truncated" in r for r in reasons) == 2
            assert sum("left over" in r for r in reasons) == 1

            groups = (
                AdminClient({"bootstrap.servers": kafka_bootstrap})
                .list_consumer_groups(request_timeout=10)
                .result()
            )
            assert "lagwatch-registry-sampler" not in {g.group_id for g in groups.valid}

            # When the daemon restarts and two more raw values arrive
            watched.restart()
            produce(kafka_bootstrap, topic, [(b"raw", b"plain text")] * 2)
            watched.until_caught_up(topic)

            # Then the counters go on from where they were: nothing counted twice
            assert watched.value("lagwatch_registry_messages_checked_total", **labels) == 20
            assert (
                watched.value("lagwatch_registry_violations_total", **labels, kind="no_magic_byte")
                == 5
            )
        finally:
            if watched is not None:
                watched.close()
            registry.cleanup()
