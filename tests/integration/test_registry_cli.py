"""`lagwatch catalog --json` and `lagwatch registry check` on the devstack's real registry, broker
and a real store, run as the command line is run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.integration.kafka_helpers import topic as scratch_topic
from tests.integration.registry_helpers import Registry, avro, framed, produce

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
V1 = {
    "type": "record",
    "name": "InvoiceSent",
    "namespace": "lagwatch.test",
    "doc": "An invoice left for the customer",
    "fields": [{"name": "id", "type": "long"}, {"name": "version", "type": "int"}],
}


def lagwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lagwatch", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def write_config(tmp: Path, bootstrap: str, url: str, topic: str, group: str) -> Path:
    path = tmp / "lagwatch.yaml"
    path.write_text(
        f"""
store: {{url: "sqlite:///{tmp}/lagwatch.db"}}
kafka:
  - {{name: main, bootstrap: "{bootstrap}", groups: {{include: ["{group}"]}}}}
registries:
  - name: main
    url: "{url}"
    kafka: main
    topics: {{include: ["{topic}"]}}
    subject_strategy: topic
    sample: {{max_per_second: 2000, backfill: 1000}}
    policy: {{compatibility: BACKWARD_TRANSITIVE, naming: past_tense, version_field: true,
             max_payload_bytes: 1048576}}
    owners: {{"lw-cli-.*": team-billing}}
alerts: {{enabled: false}}
daemon: {{metrics_listen: null}}
"""
    )
    return path


def test_catalog_lists_the_topic_with_its_subject_owner_groups_and_counts(
    tmp_path: Path, kafka_bootstrap: str, registry_url: str, unique: str
) -> None:
    """Given a topic with an Avro subject, a consumer group that committed on it, and two
    collections;
    when `lagwatch catalog --json` runs, then the topic's entry holds its subject at version 1
    with its level, fields and purpose, the owner from owners:, the group, payload sizes,
    messages checked and the raw value counted as no_magic_byte."""
    registry = Registry(registry_url)
    group = f"lw-cli-{unique}"
    with scratch_topic(kafka_bootstrap, f"lw-cli-{unique}") as topic:
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        try:
            schema_id = registry.register(f"{topic}-value", V1)
            config = write_config(tmp_path, kafka_bootstrap, registry_url, topic, group)
            good = framed(schema_id, avro(V1, {"id": 7, "version": 1}))
            produce(kafka_bootstrap, topic, [(b"k", good)] * 4 + [(b"k", b"not framed")])
            first = lagwatch("collect", "--once", "-c", str(config))
            assert first.returncode == 0, first.stdout + first.stderr
            produce(kafka_bootstrap, topic, [(b"k", good)] * 3)
            # A group that has read 6 of the 8 messages (commits, no members running)
            admin.alter_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 6)])]
            )[group].result(timeout=30)
            second = lagwatch("collect", "--once", "-c", str(config))
            assert second.returncode == 0, second.stdout + second.stderr

            out = lagwatch("catalog", "--json", "-c", str(config))

            assert out.returncode == 0, out.stderr
            catalog = json.loads(out.stdout)
            [summary] = catalog["registries"]
            assert summary["up"] == 1 and summary["flavour"] == "apicurio 3.3.3"
            [entry] = [t for t in catalog["topics"] if t["topic"] == topic]
            assert entry["owner"] == "team-billing"
            assert entry["messages_checked"] == 8
            assert entry["violations"]["no_magic_byte"] == 1
            assert sum(entry["violations"].values()) == 1
            assert entry["recent_violations"]["no_magic_byte"][0]["head"] == b"not framed".hex()
            assert entry["payload_bytes"]["max"] == len(b"not framed")
            assert entry["payload_bytes"]["p50"] == len(good)
            assert isinstance(entry["produced_per_second"], float)
            [subject] = entry["subjects"]
            assert subject["subject"] == f"{topic}-value"
            assert (subject["latest_version"], subject["latest_id"]) == (1, schema_id)
            assert subject["compatibility"] == "BACKWARD"
            assert subject["name"] == "lagwatch.test.InvoiceSent"
            assert subject["purpose"] == "An invoice left for the customer"
            assert subject["fields"] == ["id", "version"]
            assert subject["governance"] == {}
            assert entry["consumer_groups"] == [group]  # from the Kafka collector's lag series

            table = lagwatch("catalog", "-c", str(config))
            assert (
                table.returncode == 0 and topic in table.stdout and "team-billing" in table.stdout
            )
        finally:
            registry.cleanup()
            admin.delete_consumer_groups([group])[group].exception(timeout=30)


def test_registry_check_passes_a_compatible_schema_and_refuses_what_breaks_the_policy(
    tmp_path: Path, kafka_bootstrap: str, registry_url: str, unique: str
) -> None:
    """Given a subject at version 1 on the real registry; when `lagwatch registry check` is given
    a next version with a defaulted field, then it passes (exit 0); a field without a default, a
    generic name or a missing version field fail (exit 1) naming the rule; an unreadable or
    invalid file is bad input (exit 2)."""
    registry = Registry(registry_url)
    subject = f"lw-check-{unique}-value"
    try:
        registry.register(subject, V1)
        config = write_config(tmp_path, kafka_bootstrap, registry_url, "lw-check-none", "none")

        def check(
            schema: object, *extra: str, name: str = "next.avsc"
        ) -> subprocess.CompletedProcess[str]:
            path = tmp_path / name
            path.write_text(schema if isinstance(schema, str) else json.dumps(schema))
            return lagwatch("registry", "check", "-c", str(config), subject, str(path), *extra)

        fields = V1["fields"]
        assert isinstance(fields, list)
        ok = check(
            {**V1, "fields": [*fields, {"name": "due", "type": ["null", "long"], "default": None}]}
        )
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "passes the policy" in ok.stdout and "compatible at BACKWARD_TRANSITIVE" in ok.stdout

        broken = check({**V1, "fields": [*fields, {"name": "due", "type": "long"}]}, "--json")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        verdict = json.loads(broken.stdout)
        assert verdict["passed"] is False
        assert any("/fields/due" in p and "without a default" in p for p in verdict["problems"])

        generic = check(
            {"type": "record", "name": "DataUpdate", "fields": [{"name": "id", "type": "long"}]}
        )
        assert generic.returncode == 1
        assert "FAIL naming: DataUpdate is a generic name" in generic.stdout
        assert "FAIL no_version_field" in generic.stdout

        fresh = lagwatch("registry", "check", "-c", str(config), f"lw-new-{unique}-value",
                         str(tmp_path / "next.avsc"))  # fmt: skip
        assert fresh.returncode == 1 and "is a new subject" in fresh.stdout

        bad = check("{not json", name="bad.avsc")
        assert bad.returncode == 2 and "bad.avsc" in bad.stderr
        missing = lagwatch(
            "registry", "check", "-c", str(config), subject, str(tmp_path / "nope.avsc")
        )
        assert missing.returncode == 2 and "cannot read the schema" in missing.stderr
        other = lagwatch("registry", "check", "-c", str(config), "--registry", "nope", subject,
                         str(tmp_path / "next.avsc"))  # fmt: skip
        assert other.returncode == 2 and "no such registry" in other.stderr
    finally:
        registry.cleanup()
