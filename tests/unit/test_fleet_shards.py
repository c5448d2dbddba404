"""Shards and timings of the fleet, and a Kafka cluster split by group over several collectors."""

from __future__ import annotations

from collections import Counter

from lagwatch.collectors.base import CollectorContext
from lagwatch.collectors.kafka import KafkaCluster, build
from lagwatch.collectors.kafka.read import in_part
from lagwatch.fleet import SHARDS, shard_of, timings


def test_a_collector_maps_to_the_same_shard_in_every_daemon() -> None:
    # crc32, not hash(): the same in every process whatever PYTHONHASHSEED says.
    assert shard_of("postgres:orders-db") == shard_of("postgres:orders-db")
    assert (
        shard_of("postgres:orders-db") == 3633168377 % SHARDS
    )  # zlib.crc32(b"postgres:orders-db")
    spread = Counter(shard_of(f"kafka:c{i}") for i in range(6400))
    assert len(spread) == SHARDS and max(spread.values()) < 2 * 100


def test_tick_and_lease_follow_the_shortest_interval() -> None:
    assert timings([2.0, 10.0]) == (0.5, 5.0)
    assert timings([10.0]) == (2.5, 15.0)
    assert timings([0.5]) == (0.25, 5.0)
    assert timings([3600.0]) == (2.5, 60.0)
    assert timings([]) == (2.5, 15.0)


def test_split_cluster_is_n_collectors_each_with_its_own_groups() -> None:
    config = KafkaCluster.model_validate({"name": "main", "bootstrap": "127.0.0.1:1", "split": 4})
    collectors = build(config, CollectorContext())
    try:
        assert [c.name for c in collectors] == [f"kafka:main#{k}" for k in range(4)]
        assert {c.origins for c in collectors} == {("cluster:main",)}
        groups = [f"group-{i}" for i in range(400)]
        owners = [[k for k in range(4) if in_part(g, (k, 4))] for g in groups]
        assert all(len(o) == 1 for o in owners)  # every group in exactly one part
        assert min(Counter(o[0] for o in owners).values()) > 50
        assert collectors[2].reader.wanted("group-0") == in_part("group-0", (2, 4))
    finally:
        for c in collectors:
            c.close()


def test_an_unsplit_cluster_keeps_its_name() -> None:
    config = KafkaCluster.model_validate({"name": "main", "bootstrap": "127.0.0.1:1"})
    [collector] = build(config, CollectorContext())
    assert collector.name == "kafka:main"
    collector.close()
