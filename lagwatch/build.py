"""Every collector of a config, built in one place for the daemon, `collect` and `check`."""

from __future__ import annotations

from lagwatch.collectors import kafka, registry
from lagwatch.collectors.base import Collector, CollectorContext
from lagwatch.collectors.kinds import build_sources
from lagwatch.collectors.probe.collector import build_pipeline_collectors
from lagwatch.config import LagwatchConfig


def build_all(config: LagwatchConfig, context: CollectorContext) -> list[Collector]:
    """Return the collectors of every source, Kafka cluster, registry, pipeline and probe."""
    found: list[Collector] = build_sources(config.sources, context)
    for cluster in config.kafka:
        found.extend(kafka.build(cluster, context))
    for entry in config.registries:
        found.extend(registry.build(entry, config.cluster(entry.kafka), context))
    found += build_pipeline_collectors(
        config.pipelines, config.probes, config.sources, config.kafka, context
    )
    return found
