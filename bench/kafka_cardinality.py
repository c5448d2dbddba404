"""Benchmark: series written per Kafka cycle with `partition_series: all` and `problems`.

    python bench/kafka_cardinality.py

A cluster of 100 groups, each reading its own topic of 1,000 partitions
(100,000 group partitions), judged by the collector's own ``GroupEvaluator``
from built cluster readings (no broker: what is counted is what the
collector yields, and a reading of 100,000 partitions is not what the devstack
broker is for). Every partition is caught up except k of them, which lag past
`thresholds.warn_lag_messages` and so are WARN. For k in 0, 100 and 1,000 it
runs 3 cycles in each mode and prints, for the last cycle, the samples written
(every series once: each sample is one series of that cycle) and the
evaluator's CPU time, with `all` measured in the same run as the baseline.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lagwatch.collectors.kafka.groups import GroupEvaluator
from lagwatch.collectors.kafka.read import ClusterView, GroupView
from lagwatch.collectors.kafka.timelag import EndOffsetHistory
from lagwatch.collectors.kafka.verdict import Thresholds

GROUPS = 100
PARTITIONS = 1_000  # per group, each group its own topic
CYCLES = 3
STABLE = 3


def reading(now: float, bad: int) -> ClusterView:
    groups, ends = {}, {}
    # k partitions, spread over the groups, lag 5,000 messages behind a 1,000 warn limit
    behind = {(i % GROUPS, i // GROUPS) for i in range(bad)}
    for g in range(GROUPS):
        topic = f"topic-{g}"
        committed: dict[tuple[str, int], int | None] = {}
        for p in range(PARTITIONS):
            tp = (topic, p)
            ends[tp] = 100_000
            committed[tp] = 95_000 if (g, p) in behind else 100_000
        groups[f"group-{g}"] = GroupView(
            f"group-{g}", STABLE, 1, assigned=dict.fromkeys(committed, "c"), committed=committed
        )
    return ClusterView(now, 3, groups, ends, dict.fromkeys(ends, 0), {}, {}, [])


def cycle(problems_only: bool, bad: int) -> tuple[int, int, float]:
    """Return the last cycle's samples, its per-partition samples and its CPU seconds."""
    evaluator = GroupEvaluator(
        "big", 600, Thresholds(None, None, 1000, None), 86400, problems_only=problems_only
    )
    history = EndOffsetHistory(3600)
    samples, cpu = [], 0.0
    for c in range(CYCLES):
        view = reading(1_000_000.0 + 10 * c, bad)
        t0 = time.process_time()
        samples = evaluator.samples(view, {}, history.estimate)
        cpu = time.process_time() - t0
    partition = sum(1 for s in samples if s.name.startswith("lagwatch_kafka_partition_"))
    return len(samples), partition, cpu


def main() -> None:
    for bad in (0, 100, 1_000):
        every, every_partition, every_cpu = cycle(False, bad)
        some, some_partition, some_cpu = cycle(True, bad)
        base = {
            "partitions": GROUPS * PARTITIONS,
            "not_ok": bad,
            "baseline": "partition_series: all",
        }
        for metric, value, baseline, unit in (
            ("series_per_cycle", some, every, "series"),
            ("partition_series_per_cycle", some_partition, every_partition, "series"),
            ("evaluate_cpu_per_cycle", some_cpu, every_cpu, "s"),
        ):
            line = {"bench": "kafka_cardinality", "metric": metric, "value": round(value, 4),
                    "unit": unit, **base, "baseline_value": round(baseline, 4),
                    "ratio": round(value / baseline, 4) if baseline else None}  # fmt: skip
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
