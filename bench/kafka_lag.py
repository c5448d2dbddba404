"""Benchmark: one Kafka lag collection cycle over 500 groups × 12 partitions, next to Kafka's own tool.

    python bench/kafka_lag.py            # set up the bench groups, measure, print JSON lines, clean up
    python bench/kafka_lag.py --keep     # leave the bench topics and groups for the next run
    python bench/kafka_lag.py --cleanup  # only delete the bench topics and groups

The groups are removed at the end by default: other collectors on the shared
broker watch every group and should not carry 500 extra ones.

Setup (reused when kept, fixed prefix ``lagwatch-bench-``): 50 topics × 12
partitions with 200 messages each; group i commits a random offset on every
partition of topic i mod 50, so nearly every partition lags. Commits are made
with AdminClient.alter_consumer_group_offsets, the fastest real way: the groups
have commits and no members, like consumers that are not running.

Measured in the same run, against the same broker and the same groups:
- ``kafka-consumer-groups --describe --all-groups`` (the Kafka 4.4 tool from
  the devstack's Maven jars), wall time including its JVM start, and its CPU
  time (user + system of the JVM);
- lagwatch's collector watching every group (include ".*", like --all-groups),
  each variant in a fresh child process running 20 cycles back to back with an
  8 s window (so later cycles judge full windows): without exact timestamps and
  with them. The first cycle with them has a cold cache and reads the record at
  every lagging committed offset (what every cycle costs when all consumers
  move); later ones hit the cache (consumers stopped). "steady" is the median
  of the second half of the cycles; CPU is the child's process time per cycle
  (every thread: Python and librdkafka's). The child's peak resident set size
  (ru_maxrss of the process that ran the cycles: interpreter, libraries,
  librdkafka buffers and lagwatch state) is reported as is.
- the same collector without exact timestamps but with a store, so that it
  yields its state records (``kafka.state``) every cycle as the daemon's does:
  its steady cycle next to the one without state, the records' JSON size per
  cycle, and the time to write them to a SQLite store (the runner's
  ``put_records``, outside the cycle).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PREFIX = "lagwatch-bench-"
TOPICS = 50
PARTITIONS = 12
GROUPS = 500
MESSAGES = 200
TOOL = "kafka-consumer-groups --describe --all-groups"


def emit(
    metric: str, value: float, unit: str, baseline: str = "", ratio: float | None = None
) -> None:
    line = {
        "bench": "kafka_lag",
        "metric": metric,
        "value": round(value, 4),
        "unit": unit,
        "baseline": baseline,
    }
    line["ratio"] = round(ratio, 4) if ratio is not None else None
    print(json.dumps(line), flush=True)


def setup(bootstrap: str) -> None:
    """Create the bench topics and messages if missing, and (re)commit every group's offsets."""
    from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [f"{PREFIX}t{i:02d}" for i in range(TOPICS)]
    existing = set(admin.list_topics(timeout=10).topics)
    missing = [t for t in topics if t not in existing]
    if missing:
        for future in admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in missing]).values():
            future.result()
        time.sleep(2)
    short = sorted({tp.topic for tp, end in log_ends(admin, topics).items() if end < MESSAGES})
    if short:
        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "linger.ms": 20,
                "queue.buffering.max.messages": 1_000_000,
            }
        )
        for topic in short:
            for i in range(PARTITIONS * MESSAGES):
                producer.produce(topic, value=b"x" * 100, partition=i % PARTITIONS)
            producer.poll(0)
        producer.flush(60)
    rng = random.Random(42)
    futures = {}
    for g in range(GROUPS):
        topic = topics[g % TOPICS]
        offsets = [TopicPartition(topic, p, rng.randrange(0, MESSAGES)) for p in range(PARTITIONS)]
        request = ConsumerGroupTopicPartitions(f"{PREFIX}g{g:03d}", offsets)
        futures.update(admin.alter_consumer_group_offsets([request], request_timeout=30))
    for future in futures.values():
        future.result()


def log_ends(admin: Any, topics: list[str]) -> dict[Any, int]:
    """Return every partition's log end, waiting for new topics to get their leaders."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    deadline = time.monotonic() + 60
    while True:
        futures = admin.list_offsets(
            {TopicPartition(t, p): OffsetSpec.latest() for t in topics for p in range(PARTITIONS)},
            request_timeout=30,
        )
        try:
            return {tp: future.result().offset for tp, future in futures.items()}
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def cleanup(bootstrap: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    groups = [f"{PREFIX}g{g:03d}" for g in range(GROUPS)]
    for future in admin.delete_consumer_groups(groups, request_timeout=30).values():
        try:
            future.result()
        except Exception as exc:
            if "GROUP_ID_NOT_FOUND" not in str(exc):
                print(f"group: {exc}", file=sys.stderr)
    topics = [f"{PREFIX}t{i:02d}" for i in range(TOPICS)]
    for future in admin.delete_topics(topics, request_timeout=60).values():
        try:
            future.result()
        except Exception as exc:
            print(f"topic: {exc}", file=sys.stderr)


def run_tool(env: dict[str, str]) -> tuple[float, float, int]:
    """Return the Kafka tool's wall time, CPU time (its JVM's user + system) and partition rows."""
    cmd = [
        env["LAGWATCH_KAFKA_TOOL"],
        "consumer-groups",
        "--bootstrap-server",
        env["LAGWATCH_KAFKA_BOOTSTRAP"],
        "--describe",
        "--all-groups",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env={**os.environ, **env}
    )
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if out.returncode != 0:
        raise SystemExit(f"the Kafka tool failed: {out.stderr[-2000:]}")
    rows = sum(1 for line in out.stdout.splitlines() if line.startswith(PREFIX))
    return elapsed, cpu, rows


def cycles(bootstrap: str, exact: bool, count: int, state: bool = False) -> None:
    """(Child process) run ``count`` collection cycles; print timings and peak RSS as JSON."""
    import tempfile

    from lagwatch.collectors.kafka import KafkaCluster, KafkaCollector
    from lagwatch.store import Record, Sample
    from lagwatch.store.sqlite import SqliteStore

    # A window of a few cycles, so the steady cycles judge full windows of history.
    config = KafkaCluster.model_validate(
        {
            "name": "bench",
            "bootstrap": bootstrap,
            "time_lag": {"exact": exact, "lookup_timeout": "5s"},
            "timeout": "30s",
            "interval": "1s",
            "window": "8s",
        }
    )
    scratch = tempfile.TemporaryDirectory()
    store = SqliteStore(f"{scratch.name}/state.db") if state else None
    collector = KafkaCollector(config, store=store)
    times, cpus, sizes, writes, state_bytes, state_records = [], [], [], [], [], []
    for _ in range(count):
        t0, c0 = time.perf_counter(), time.process_time()
        found = list(collector.collect())
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)  # all threads: Python and librdkafka
        samples = [s for s in found if isinstance(s, Sample)]
        records = [r for r in found if isinstance(r, Record)]
        sizes.append(len(samples))
        if store is not None:
            t0 = time.perf_counter()
            store.put_records(records)
            writes.append(time.perf_counter() - t0)
            state_bytes.append(sum(len(json.dumps(r.body)) for r in records))
            state_records.append(len(records))
    groups = sum(1 for s in samples if s.name == "lagwatch_kafka_group_status")
    partitions = sum(1 for s in samples if s.name == "lagwatch_kafka_partition_status")
    exact_lags = sum(
        1 for s in samples if s.name == "lagwatch_kafka_partition_lag_method" and s.value == 1
    )
    collector.close()
    if store is not None:
        store.close()
    scratch.cleanup()
    print(
        json.dumps(
            {
                "times": times,
                "cpus": cpus,
                "samples": sizes[-1],
                "groups": groups,
                "partitions": partitions,
                "exact": exact_lags,
                "fetched": collector.timestamps.fetched,
                "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "writes": writes,
                "state_bytes": state_bytes,
                "state_records": state_records,
            }
        )
    )


def child(variant: str, env: dict[str, str]) -> dict:
    bootstrap = env["LAGWATCH_KAFKA_BOOTSTRAP"]
    cmd = [
        sys.executable,
        __file__,
        "--child",
        variant,
        "--bootstrap",
        bootstrap,
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env={**os.environ, **env}, cwd=ROOT
    )
    if out.returncode != 0:
        raise SystemExit(f"the collector child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cleanup", action="store_true", help="only delete the bench topics and groups"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench topics and groups")
    parser.add_argument("--child", choices=["plain", "exact", "state"], help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument(
        "--cycles", type=int, default=20, help="cycles per collector variant (default 20)"
    )
    args = parser.parse_args()
    if args.child:
        # The child imports only what a collector needs, so its RSS is the collector's.
        cycles(args.bootstrap, args.child == "exact", args.cycles, args.child == "state")
        return
    from lagwatch.devstack import devstack_env

    env = devstack_env()
    bootstrap = env["LAGWATCH_KAFKA_BOOTSTRAP"]
    if args.cleanup:
        cleanup(bootstrap)
        return

    t0 = time.perf_counter()
    setup(bootstrap)
    print(f"setup: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    try:
        tool, tool_cpu, tool_rows = run_tool(env)
        plain = child("plain", env)
        exact = child("exact", env)
        kept = child("state", env)
        tool_again, tool_cpu_again, _ = run_tool(env)
    finally:
        if not args.keep:
            cleanup(bootstrap)
    tool, tool_cpu = min(tool, tool_again), min(tool_cpu, tool_cpu_again)

    emit("kafka_tool_seconds", tool, "s", f"{TOOL} (best of 2, JVM start included)", 1.0)
    emit("kafka_tool_cpu_seconds", tool_cpu, "s", f"{TOOL} (best of 2, user + system)", 1.0)
    emit("tool_bench_partition_rows", tool_rows, "rows", TOOL)
    emit("groups_watched", plain["groups"], "groups")
    emit("partitions_watched", plain["partitions"], "partitions")
    emit("samples_per_cycle", plain["samples"], "samples")
    for name, result in (("", plain), ("_exact", exact)):
        first, steady = result["times"][0], steady_of(result["times"])
        emit(f"cycle{name}_first_seconds", first, "s", TOOL, first / tool)
        emit(f"cycle{name}_steady_seconds", steady, "s", TOOL, steady / tool)
        cpu = steady_of(result["cpus"])
        emit(f"cycle{name}_steady_cpu_seconds", cpu, "s", f"{TOOL} CPU", cpu / tool_cpu)
    plain_steady = steady_of(plain["times"])
    kept_steady = steady_of(kept["times"])
    emit(
        "cycle_state_steady_seconds",
        kept_steady,
        "s",
        "steady cycle without state records",
        kept_steady / plain_steady,
    )
    write = steady_of(kept["writes"])
    emit(
        "state_write_seconds",
        write,
        "s",
        "steady cycle without state records",
        write / plain_steady,
    )
    emit("state_bytes_per_cycle", steady_of(kept["state_bytes"]), "bytes", "JSON of the records")
    emit("state_records_per_cycle", steady_of(kept["state_records"]), "records")
    emit("exact_time_lags", exact["exact"], "partitions", "partitions with lag (exact method)")
    emit("exact_records_read", exact["fetched"], "records")
    limit = 300 * 1024 * 1024
    for name, result in (("", plain), ("_exact", exact)):
        emit(
            f"collector{name}_peak_rss_bytes",
            result["maxrss"],
            "bytes",
            "target 300 MB",
            result["maxrss"] / limit,
        )


def steady_of(values: list[float]) -> float:
    """Return the median of the second half: the cycles that judge full windows."""
    return statistics.median(values[len(values) // 2 :])


if __name__ == "__main__":
    main()
