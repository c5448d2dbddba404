"""A collector's typed origin: the runner writes it, the alert engine ties alerts to sources by it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lagwatch.alerts.topology import Topology, links_from
from lagwatch.build import build_all
from lagwatch.collectors.base import CollectorContext
from lagwatch.collectors.runner import Runner
from lagwatch.config import load
from lagwatch.store import Sample
from lagwatch.store.sqlite import SqliteStore

# A source named like the pipeline: the old reading of `probe:orders` as `source:orders`
# would tie the probe to it instead of to the pipeline's own source.
CONFIG = """\
sources:
  - {name: orders-db, kind: postgres, dsn: "postgresql://m@127.0.0.1:1/db"}
  - {name: orders, kind: postgres, dsn: "postgresql://m@127.0.0.1:1/other"}
kafka:
  - {name: main, bootstrap: "127.0.0.1:1"}
pipelines:
  - {name: orders, source: orders-db, slot: dbz_orders, topic: dbz.orders,
     groups: [indexer], slo: {freshness: 5s}}
probes:
  - {pipeline: orders, dsn: "postgresql://p@127.0.0.1:1/db", tap: {enabled: false}}
"""


class Failing:
    """Stands in for a collector whose run raises, with the origins of a real one."""

    def __init__(self, name: str, origins: tuple[str, ...]) -> None:
        self.name, self.origins, self.interval, self.timeout = name, origins, 1.0, 1.0

    def collect(self) -> Iterable[Sample]:
        raise ConnectionError("probe table unreachable")

    def check(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_failing_probe_is_tied_to_its_pipelines_source_not_a_source_named_like_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lagwatch.yaml"
    path.write_text(CONFIG)
    config = load(path)
    collectors = {c.name: c for c in build_all(config, CollectorContext())}
    try:
        probe = collectors["probe:orders"]
        assert probe.origins == ("source:orders-db", "cluster:main")
        assert collectors["postgres:orders"].origins == ("source:orders",)
        assert collectors["kafka:main"].origins == ("cluster:main",)

        # When the probe fails, its health series carries its origins...
        store = SqliteStore(tmp_path / "store.db")
        runner = Runner(store)
        runner.run(Failing(probe.name, probe.origins))
        runner.flush()
        (up,) = store.latest("lagwatch_collector_up", {"collector": "probe:orders"})
        assert up.value == 0.0
        assert up.label_dict["origin"] == "source:orders-db,cluster:main"

        # ...and the alert engine reads them: tied to orders-db and main, never to `orders`.
        origins = Topology(links_from(config.pipelines)).origins(up.label_dict)
        assert origins == {"source:orders-db", "cluster:main"}
    finally:
        for collector in collectors.values():
            collector.close()
