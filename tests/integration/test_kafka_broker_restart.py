"""The broker is down, then back: the collector fails while it is down and reads the group
again soon after it is back.

Runs a private one-broker Kafka (the shared devstack broker must not stop). librdkafka's
admin client never gets its group-coordinator requests answered again after the broker
restarts, so the collector must not keep the client it had.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lagwatch.collectors.base import SourceUnreachable
from lagwatch.collectors.kafka import KafkaCluster, KafkaCollector
from tests.integration.kafka_lag_helpers import commit_offsets, find
from tests.support.private_kafka import PrivateKafka

pytestmark = pytest.mark.integration

STATUS = "lagwatch_kafka_group_status"


def test_the_group_is_read_again_after_the_broker_restarts(private_kafka: PrivateKafka) -> None:
    # Given a group with a commit, read by a collector
    admin = AdminClient({"bootstrap.servers": private_kafka.bootstrap})
    admin.create_topics([NewTopic("orders", 1, 1)])["orders"].result(60)
    commit_offsets(admin, "indexer", [TopicPartition("orders", 0, 0)])
    collector = KafkaCollector(
        KafkaCluster(
            name="private", bootstrap=private_kafka.bootstrap, request_timeout="3s", timeout="15s"
        )
    )
    try:
        assert find(list(collector.collect()), STATUS, group="indexer")
        # When the broker dies, lagwatch collects meanwhile, and the broker comes back
        private_kafka.kill(1)
        down: list[str] = []
        for _ in range(2):
            try:
                list(collector.collect())
                down.append("read")
            except SourceUnreachable as exc:
                down.append(str(exc))
        private_kafka.start(1)
        back = time.time()
        cycles: list[str] = []
        read_again = False
        while not read_again and time.time() < back + 60:
            try:
                read_again = bool(find(list(collector.collect()), STATUS, group="indexer"))
                cycles.append("read" if read_again else "no status")
            except Exception as exc:
                cycles.append(str(exc))
            time.sleep(1)
        # Then the cycles while it is down fail (collector_up 0), naming the brokers
        assert all("no broker answers" in d for d in down), down
        # And within a few cycles after, its status is written again
        assert read_again, f"the group was not read again within 60 s: {cycles[-3:]}"
        assert len(cycles) <= 5, cycles
    finally:
        collector.close()
