"""Every collector of a config, built in one place for the daemon, `collect` and `check`."""

from __future__ import annotations

from lagwatch.collectors import connect, kafka, registry
from lagwatch.collectors.base import Collector, CollectorContext
from lagwatch.collectors.kinds import build_sources
from lagwatch.collectors.probe.collector import build_pipeline_collectors
from lagwatch.config import LagwatchConfig


def build_all(config: LagwatchConfig, context: CollectorContext) -> list[Collector]:
    """Return the collectors of every source, Kafka and Connect cluster, registry, pipeline and
    probe.

    The connect: clusters become ``context.extras[connect.EXTRAS_KEY]`` first: MySQL readers
    that name a cluster (``connect: NAME``) read their connector's offsets through it.
    """
    if config.connect and connect.EXTRAS_KEY not in context.extras:
        context.extras[connect.EXTRAS_KEY] = connect.endpoints(config.connect, config.kafka)
    found: list[Collector] = build_sources(config.sources, context)
    for cluster in config.kafka:
        found.extend(kafka.build(cluster, context))
    for connect_cluster in config.connect:
        found.extend(connect.build(connect_cluster, context, config.sources))
    for entry in config.registries:
        found.extend(registry.build(entry, config.cluster(entry.kafka), context))
    found += build_pipeline_collectors(
        config.pipelines, config.probes, config.sources, config.kafka, context
    )
    return found
