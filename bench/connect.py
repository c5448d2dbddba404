"""Benchmark: one Kafka Connect collection cycle over 100 connectors × 2 tasks, next to a
sidecar exporter that asks for the same data with one curl per connector.

    python bench/connect.py            # start a worker, register the connectors, measure, clean up

The worker is a real Kafka Connect 4.3.1 worker from the devstack's jars, started for the
bench on its own port, group and internal topics (``tests/support/connect_worker.py``,
heap 768 MiB): 200 tasks and 100 rebalances are not put on the shared devstack worker
other tests use. The connectors are ``FileStreamSinkConnector`` (connect-file) with
``tasks.max=2`` on one 2-partition topic, writing to /dev/null: the source connector of
connect-file makes a single task, the sink one makes as many as asked.

Measured in the same run, against the same worker and connectors, each the median of
``ROUNDS`` rounds:

- ``cycle``: lagwatch's ``ConnectCollector.collect()`` — one
  ``GET /connectors?expand=status&expand=info`` and every sample of 100 connectors and 200
  tasks — against ``curl`` of ``/connectors`` and then one ``curl`` per connector fetching its
  ``/status`` and its config (``/connectors/{c}``), one after the other, as a sidecar exporter
  script does;
- ``offsets``: the offsets of all 100 connectors read the collector's way
  (``OffsetReader``: 8 in flight, one budget) against one ``curl`` per connector of
  ``/connectors/{c}/offsets``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from lagwatch.collectors.connect import ConnectCluster, ConnectCollector  # noqa: E402
from lagwatch.collectors.connect.read import OffsetReader, list_connectors  # noqa: E402
from lagwatch.collectors.connect.session import ConnectSession  # noqa: E402
from lagwatch.store import Sample  # noqa: E402
from tests.support.connect import Rest, env, wait_for  # noqa: E402
from tests.support.connect_worker import PrivateWorker  # noqa: E402

CONNECTORS = 100
TASKS = 2
ROUNDS = 7
SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"


def emit(metric: str, value: float, baseline: str, base: float) -> None:
    line = {
        "bench": "connect",
        "metric": metric,
        "value": round(value, 4),
        "unit": "s",
        "baseline": f"{baseline}: {round(base, 4)} s",
        "ratio": round(value / base, 4) if base else None,
    }
    print(json.dumps(line), flush=True)


def curl(*urls: str) -> None:
    """One curl process fetching every URL (and discarding the bodies)."""
    command = ["curl", "-sS", "-f"]
    for url in urls:
        command += ["-o", "/dev/null", url]
    subprocess.run(command, check=True)


def curl_status_and_config(url: str, names: list[str]) -> float:
    started = time.perf_counter()
    curl(f"{url}/connectors")
    for name in names:
        curl(f"{url}/connectors/{name}/status", f"{url}/connectors/{name}")
    return time.perf_counter() - started


def curl_offsets(url: str, names: list[str]) -> float:
    started = time.perf_counter()
    for name in names:
        curl(f"{url}/connectors/{name}/offsets")
    return time.perf_counter() - started


def main() -> None:
    suffix = uuid.uuid4().hex[:8]
    topic = f"lagwatch-bench-connect-{suffix}"
    names = [f"lw-bench-{suffix}-{i:03d}" for i in range(CONNECTORS)]
    admin = AdminClient({"bootstrap.servers": env("KAFKA_BOOTSTRAP")})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(timeout=30)
    worker = PrivateWorker(f"bench-{suffix}", heap="768m")
    worker.start()
    rest = Rest(worker.url)
    try:
        started = time.perf_counter()
        for name in names:
            rest.create(
                name,
                {
                    "connector.class": SINK,
                    "tasks.max": str(TASKS),
                    "topics": topic,
                    "file": "/dev/null",
                },
            )

        def all_running() -> bool:
            views = list_connectors(session)
            return len(views) == CONNECTORS and all(
                v.state == "RUNNING" and [t.state for t in v.tasks] == ["RUNNING"] * TASKS
                for v in views.values()
            )

        config = ConnectCluster(name="bench", url=worker.url, offsets="none")
        session = ConnectSession(config)
        wait_for(all_running, 600, step=1.0)
        print(
            f"# {CONNECTORS} connectors × {TASKS} tasks RUNNING on {worker.url} after "
            f"{time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )

        collector = ConnectCollector(config)
        cycles, samples = [], 0
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            out = collector.collect()
            cycles.append(time.perf_counter() - t0)
            samples = sum(1 for s in out if isinstance(s, Sample))
        sidecar = [curl_status_and_config(worker.url, names) for _ in range(ROUNDS)]
        print(f"# {samples} samples per cycle", file=sys.stderr)
        emit(
            "cycle_100_connectors_200_tasks",
            statistics.median(cycles),
            "curl /connectors, then one curl per connector for /status and its config",
            statistics.median(sidecar),
        )

        reader = OffsetReader(session, config.concurrency, 30.0)
        views = list(list_connectors(session).values())
        reads = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            found = reader.read(views)
            reads.append(time.perf_counter() - t0)
            assert all(r.entries is not None for r in found.values()), found
        one_by_one = [curl_offsets(worker.url, names) for _ in range(ROUNDS)]
        emit(
            "offsets_100_connectors",
            statistics.median(reads),
            "one curl per connector for /connectors/{c}/offsets",
            statistics.median(one_by_one),
        )
        reader.close()
        collector.close()
        session.close()
    finally:
        for name in names:
            rest.call("DELETE", f"/connectors/{name}", ok=(404,))
        # Deleted connectors' tasks leave their consumer groups as they stop; wait for that,
        # so the groups are empty and can be deleted, before the worker goes.
        wait_for(lambda: rest.call("GET", "/connectors") == [], 120, step=1.0)
        rest.close()
        groups = [f"connect-{n}" for n in names]
        deadline = time.monotonic() + 120
        while groups and time.monotonic() < deadline:
            failed = []
            for group, future in admin.delete_consumer_groups(groups, request_timeout=30).items():
                try:
                    future.result(timeout=30)
                except Exception as exc:
                    if "GROUP_ID_NOT_FOUND" not in str(exc):
                        failed.append(group)  # not empty yet: a task still stopping
            groups = failed
            if groups:
                time.sleep(2)
        worker.kill()
        worker.cleanup()
        admin.delete_topics([topic])[topic].result(timeout=30)
        if groups:
            print(f"# could not delete consumer groups {groups}", file=sys.stderr)


if __name__ == "__main__":
    main()
