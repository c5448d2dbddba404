"""Replay a recording of real consumer groups (``record_kafka.py``) through the collector's own logic.

The recording holds one reading a second; a replay at interval I and phase P
takes the first reading at or after each P + k·I, hands it to the
collector's ``ClusterJudge`` with the record timestamps read at that moment,
exactly as a collector running every I seconds would have, and keeps every
sample it yields. The samples can then go through the alert engine's
built-in pack (``lagwatch.alerts.replay``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lagwatch.alerts.builtin import builtin_rules
from lagwatch.alerts.history import Change
from lagwatch.alerts.replay import replay
from lagwatch.collectors.kafka.collector import ClusterJudge
from lagwatch.collectors.kafka.config import KafkaCluster
from lagwatch.store import Sample
from tests.support.record_kafka import load, view_of

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = ROOT / "sample_data" / "kafka" / "cadence"
STATUS = "lagwatch_kafka_group_status"


@dataclass
class Replayed:
    """What a replay produced: the header, every sample, and the group status series."""

    header: dict[str, Any]
    samples: list[Sample]
    statuses: list[tuple[float, int, str]]

    @property
    def stop(self) -> float | None:
        stop = self.header.get("stop")
        return None if stop is None else float(stop["at"])

    def first_stuck(self, after: float) -> tuple[float, int, str] | None:
        """Return the first STOP or STALL verdict at or after ``after``."""
        return next((s for s in self.statuses if s[0] >= after and s[1] in (3, 4)), None)

    def stuck(self) -> list[tuple[float, int, str]]:
        return [s for s in self.statuses if s[1] in (3, 4)]

    def alerts(self) -> list[Change]:
        """Return the built-in pack's firing and resolving over the replayed samples."""
        return replay(list(builtin_rules()), self.samples)


def replay_case(
    case: str,
    interval: float,
    phase: float = 0.0,
    kafka: dict[str, Any] | None = None,
    directory: Path = RECORDINGS,
) -> Replayed:
    """Replay ``case`` as a collector every ``interval`` seconds, starting ``phase`` in."""
    header, readings = load(directory / f"{case}.jsonl.gz")
    config = KafkaCluster.model_validate(
        {"name": "replay", "bootstrap": "recorded:9092", "interval": f"{interval:g}s",
         **(kafka or {})}
    )  # fmt: skip
    judge = ClusterJudge(config)
    times = [r["t"] for r in readings]
    samples: list[Sample] = []
    statuses: list[tuple[float, int, str]] = []
    at = times[0] + phase
    while at <= times[-1]:
        i = bisect.bisect_left(times, at)
        if i >= len(times):
            break
        view, exact = view_of(readings[i])
        for item in judge.judge(view, exact):
            if isinstance(item, Sample):
                samples.append(item)
                if item.name == STATUS:
                    statuses.append((item.ts, int(item.value), item.note or ""))
        at += interval
    return Replayed(header, samples, statuses)


def cases(directory: Path = RECORDINGS) -> list[str]:
    return sorted(p.name.removesuffix(".jsonl.gz") for p in directory.glob("*.jsonl.gz"))
