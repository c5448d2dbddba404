"""/metrics: the latest value of every series in Prometheus exposition format."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from lagwatch.catalog import catalog
from lagwatch.store import Store, StoreUnavailable

log = logging.getLogger("lagwatch.metrics")


class StoreExporter(Collector):
    """Exports the store's latest values at each scrape; counters are names ending in _total."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        try:
            values = self.store.latest()
        except StoreUnavailable as exc:
            log.warning("/metrics: store unavailable: %s", exc)
            return
        known = catalog()
        families: dict[tuple[str, tuple[str, ...]], GaugeMetricFamily | CounterMetricFamily] = {}
        for value in values:
            names = tuple(k for k, _ in value.labels)
            family = families.get((value.name, names))
            if family is None:
                info = known.get(value.name)
                text = info.help if info else value.name
                if (info.type if info else "") == "counter" or value.name.endswith("_total"):
                    family = CounterMetricFamily(value.name, text, labels=names)
                else:
                    family = GaugeMetricFamily(value.name, text, labels=names)
                families[(value.name, names)] = family
            family.add_metric([v for _, v in value.labels], value.value, timestamp=value.ts)
        yield from families.values()


def serve_metrics(store: Store, listen: str) -> Any:
    """Start /metrics on ``listen`` (host:port) in a background thread; return the server."""
    host, _, port = listen.rpartition(":")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreExporter(store))
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
    log.info("serving /metrics on http://%s:%s/metrics", host or "127.0.0.1", port)
    return server
