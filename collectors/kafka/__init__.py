"""Kafka cluster: consumer-group lag in messages and seconds, and a verdict per partition and group."""

from lagwatch.collectors.kafka.collector import KafkaCollector, build
from lagwatch.collectors.kafka.config import GroupFilter, KafkaCluster, LagThresholds, TimeLagConfig

__all__ = [
    "GroupFilter",
    "KafkaCluster",
    "KafkaCollector",
    "LagThresholds",
    "TimeLagConfig",
    "build",
]
