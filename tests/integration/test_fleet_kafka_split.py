"""A Kafka cluster split by group over several collectors: each group in exactly one part."""

from __future__ import annotations

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from lagwatch.collectors.base import CollectorContext
from lagwatch.collectors.kafka import KafkaCluster, build
from lagwatch.store import Sample
from tests.integration.kafka_helpers import topic
from tests.integration.kafka_lag_helpers import commit_offsets


def test_split_cluster_parts_each_watch_their_own_groups(kafka_bootstrap: str, unique: str) -> None:
    """Given 8 groups with commits on a devstack topic and a cluster entry with split: 3;
    when each part collects once, then every group is reported by exactly one part, each
    part's lagwatch_collector name is kafka:NAME#k, and only part #0 counts the groups."""
    groups = [f"fleet-split-{unique}-{i}" for i in range(8)]
    with topic(kafka_bootstrap, f"fleet-split-{unique}") as name:
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        for group in groups:
            commit_offsets(admin, group, [TopicPartition(name, 0, 0)])
        config = KafkaCluster.model_validate(
            {
                "name": "main",
                "bootstrap": kafka_bootstrap,
                "split": 3,
                "groups": {"include": [f"fleet-split-{unique}-.*"]},
            }
        )
        parts = build(config, CollectorContext())
        try:
            seen: dict[str, list[int]] = {}
            counts: dict[int, float] = {}
            for k, part in enumerate(parts):
                assert part.name == f"kafka:main#{k}"
                samples = [s for s in part.collect() if isinstance(s, Sample)]
                for s in samples:
                    labels = dict(s.labels)
                    assert labels.get("cluster") == "main"
                    if s.name == "lagwatch_kafka_group_status":
                        seen.setdefault(labels["group"], []).append(k)
                    if s.name == "lagwatch_kafka_groups":
                        counts[k] = s.value
        finally:
            for part in parts:
                part.close()
    assert sorted(seen) == sorted(groups)
    assert all(len(ks) == 1 for ks in seen.values()), seen
    assert len({ks[0] for ks in seen.values()}) >= 2  # spread over the parts
    assert counts == {0: 8.0}
