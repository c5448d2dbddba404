"""One broker down: its partitions are unknown (with the error), everything else is still reported.

Runs a private two-node Kafka (the shared devstack broker cannot lose a broker).
"""

from __future__ import annotations

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lagwatch.collectors.kafka import KafkaCluster, KafkaCollector
from tests.integration.kafka_lag_helpers import commit_offsets, find, one, value, wait_until
from tests.support.private_kafka import PrivateKafka

pytestmark = pytest.mark.integration

LAG = "lagwatch_kafka_partition_lag_messages"


def test_a_dead_leader_makes_only_its_partitions_unknown(private_kafka: PrivateKafka) -> None:
    # Given group offsets kept on node 1, topic "orders" with partition 0 on node 1 and
    # partition 1 on node 2, topic "audit" on node 1, and a group on each
    admin = AdminClient({"bootstrap.servers": private_kafka.bootstrap})
    admin.create_topics([NewTopic("audit", 1, 1)])["audit"].result()
    wait_until(
        lambda: admin.list_topics("audit", timeout=5).topics["audit"].partitions[0].leader == 1,
        30,
        "audit leader",
    )
    commit_offsets(
        admin, "auditor", [TopicPartition("audit", 0, 0)]
    )  # the offsets topic is now on node 1
    private_kafka.start(2)
    wait_until(
        lambda: len(admin.describe_cluster(request_timeout=5).result().nodes) == 2, 30, "node 2"
    )
    admin.create_topics([NewTopic("orders", 2, replica_assignment=[[1], [2]])])["orders"].result()
    wait_until(
        lambda: all(
            p.leader >= 1
            for p in admin.list_topics("orders", timeout=5).topics["orders"].partitions.values()
        ),
        30,
        "orders leaders",
    )
    producer = Producer({"bootstrap.servers": private_kafka.bootstrap})
    for i in range(20):
        producer.produce("orders", b"o", partition=i % 2)
        producer.produce("audit", b"a", partition=0)
    producer.flush(30)
    commit_offsets(
        admin, "indexer", [TopicPartition("orders", 0, 3), TopicPartition("orders", 1, 4)]
    )
    collector = KafkaCollector(
        KafkaCluster(
            name="private", bootstrap=private_kafka.bootstrap, request_timeout="3s", timeout="15s"
        )
    )
    try:
        # When node 2 dies while lagwatch watches, and we collect
        collector.collect()
        private_kafka.kill(2)

        def leaderless() -> bool:
            meta = admin.list_topics("orders", timeout=5).topics["orders"].partitions
            return meta[1].leader < 0

        wait_until(leaderless, 30, "the controller to notice node 2 is gone")
        samples = collector.collect()

        # Then orders[1] is unknown with the broker's error, and has no lag or status
        flag = one(
            samples,
            "lagwatch_kafka_partition_unknown",
            group="indexer",
            topic="orders",
            partition=1,
        )
        assert flag.value == 1 and "cannot list offsets of orders[1]" in (flag.note or ""), flag
        assert not find(
            samples,
            LAG,
            group="indexer",
            topic="orders",
            partition=1,
        )
        assert not find(
            samples, "lagwatch_kafka_partition_status", group="indexer", topic="orders", partition=1
        )
        # no sum that would leave it out
        assert not find(samples, "lagwatch_kafka_group_lag_messages", group="indexer")
        assert not find(
            samples, "lagwatch_kafka_group_topic_lag_messages", group="indexer", topic="orders"
        )
        # the rest of the group is reported, and the group says it is partly unknown
        assert value(samples, LAG, group="indexer", topic="orders", partition=0) == 7
        status = one(samples, "lagwatch_kafka_group_status", group="indexer")
        assert "1 partition(s) unknown" in (status.note or "")
        unknown = one(samples, "lagwatch_kafka_group_unknown", group="indexer")
        assert unknown.value == 1 and "orders[1]" in (unknown.note or "")
        # and the other group is whole
        context = [(x.name, x.value, x.note) for x in samples if "auditor" in str(x.labels)]
        context += [(x.name, x.value, x.note) for x in samples if x.name == "lagwatch_kafka_groups"]
        lags = find(samples, "lagwatch_kafka_group_lag_messages", group="auditor")
        assert [x.value for x in lags] == [20], context
        assert value(samples, "lagwatch_kafka_group_unknown", group="auditor") == 0
        # the dead broker's silence is said, not hidden
        listing = one(samples, "lagwatch_kafka_groups")
        assert listing.value == 2 and "Timed out" in (listing.note or ""), listing

        # When node 2 comes back, orders[1] is known again
        private_kafka.start(2)

        seen: list[str | None] = []

        def known() -> bool:
            found = collector.collect()
            flags = find(
                found,
                "lagwatch_kafka_partition_unknown",
                group="indexer",
                topic="orders",
                partition=1,
            )
            seen.extend(f.note for f in flags)
            return bool(flags) and flags[0].value == 0

        try:
            wait_until(known, 60, "orders[1] to be known again", every=1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last notes: {seen[-3:]}") from None
        samples = collector.collect()
        assert value(samples, LAG, group="indexer", topic="orders", partition=1) == 6
        assert value(samples, "lagwatch_kafka_group_lag_messages", group="indexer") == 13
    finally:
        collector.close()
