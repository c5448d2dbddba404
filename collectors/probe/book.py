"""The probe book: which probe passed which hop when, and what that says about the pipeline.

Pure bookkeeping, no I/O, safe to call from the tap, Kafka and collector
threads. Every time is this process's clock: the probe's ``sent_at`` (taken
just before its insert) and the moment lagwatch observed the probe at a hop,
so no clock skew enters a latency.

Hops, in order: ``tap`` (lagwatch's tap decoded the row), ``topic``
(lagwatch's consumer saw it on the pipeline's topic), ``group:NAME`` (that
consumer group's committed offset passed the probe's offset).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from lagwatch.store import Sample

QUANTILES = (("0.5", 0.5), ("0.95", 0.95), ("0.99", 0.99), ("1", 1.0))
"""Latency summaries per hop; quantile "1" is the maximum over the window."""


@dataclass
class Probe:
    """One probe row on its way through the pipeline."""

    probe_id: str
    seq: int
    sent_at: float
    seen: dict[str, float] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    partition: int | None = None
    offset: int | None = None
    commit_ts: float | None = None
    slo_good: bool | None = None
    finished: bool = False

    def latency(self, hop: str) -> float | None:
        at = self.seen.get(hop)
        return None if at is None else at - self.sent_at

    def end_to_end(self, final_hops: list[str]) -> float | None:
        """Return the latency through the slowest final hop, or None if one was not reached."""
        ends = [self.latency(h) for h in final_hops]
        return None if any(e is None for e in ends) else max(e for e in ends if e is not None)


@dataclass
class HopMark:
    """The newest probe through a hop, and when the first probe after it was sent."""

    last_sent: float | None = None
    last_latency: float = 0.0
    next_sent: float | None = None


class ProbeBook:
    """Tracks probes of one pipeline and turns them into samples."""

    def __init__(
        self,
        pipeline: str,
        hops: list[str],
        final_hops: list[str],
        timeout: float,
        window: float,
        threshold: float,
        objective: float = 99.9,
    ) -> None:
        self.pipeline = pipeline
        self.objective = objective
        self.hops = hops
        self.final_hops = final_hops
        self.timeout = timeout
        self.window = window
        self.threshold = threshold
        self.sent = 0
        self.lost = dict.fromkeys(hops, 0)
        self.good = 0
        self.bad = 0
        self._pending: dict[str, Probe] = {}
        self._latencies: dict[str, deque[tuple[float, float]]] = {h: deque() for h in hops}
        self._marks = {h: HopMark() for h in hops}
        self._lock = threading.Lock()

    # -- events --------------------------------------------------------------

    def add(self, probe: Probe) -> None:
        """Record that ``probe`` was written to the source."""
        with self._lock:
            self.sent += 1
            self._pending[probe.probe_id] = probe
            for mark in self._marks.values():
                if mark.next_sent is None:
                    mark.next_sent = probe.sent_at

    def discard(self, probe_id: str) -> None:
        """Forget a probe whose row could not be written."""
        with self._lock:
            probe = self._pending.pop(probe_id, None)
            if probe is None:
                return
            self.sent -= 1
            for mark in self._marks.values():
                if mark.next_sent == probe.sent_at:
                    mark.next_sent = None

    def saw(self, probe_id: str, hop: str, at: float, **facts: float | int | None) -> bool:
        """Record that ``probe_id`` reached ``hop`` at ``at``; False for an unknown or lost probe."""
        with self._lock:
            probe = self._pending.get(probe_id)
            if probe is None or hop in probe.seen or hop not in self._marks:
                return False
            probe.seen[hop] = at
            for name, value in facts.items():
                setattr(probe, name, value)
            mark = self._marks[hop]
            if mark.last_sent is None or probe.sent_at > mark.last_sent:
                mark.last_sent = probe.sent_at
                mark.last_latency = at - probe.sent_at
                later = [p.sent_at for p in self._pending.values() if p.sent_at > probe.sent_at]
                mark.next_sent = min(later) if later else None
            return True

    def awaiting_groups(self) -> list[Probe]:
        """Return probes seen on the topic that some group has not yet passed."""
        with self._lock:
            return [
                p
                for p in self._pending.values()
                if p.offset is not None
                and any(h not in p.seen for h in self.hops if h.startswith("group:"))
            ]

    def sweep(self, now: float) -> list[Probe]:
        """Finish probes that passed every hop or ran out of time; return them."""
        done: list[Probe] = []
        with self._lock:
            for probe in list(self._pending.values()):
                age = now - probe.sent_at
                complete = all(h in probe.seen for h in self.hops)
                if probe.slo_good is None and age > self.threshold and not self._on_time(probe):
                    self.bad += 1  # counted as soon as it is late, so burn rates react early
                    probe.slo_good = False
                if not complete and age <= self.timeout:
                    continue
                for hop in self.hops:
                    if hop in probe.seen:
                        self._latencies[hop].append((now, probe.seen[hop] - probe.sent_at))
                    else:
                        probe.lost.append(hop)
                        self.lost[hop] += 1
                if probe.slo_good is None:
                    probe.slo_good = self._on_time(probe)
                    if probe.slo_good:
                        self.good += 1
                    else:
                        self.bad += 1
                probe.finished = True
                del self._pending[probe.probe_id]
                done.append(probe)
            for series in self._latencies.values():
                while series and series[0][0] < now - self.window:
                    series.popleft()
        return done

    def _on_time(self, probe: Probe) -> bool:
        end = probe.end_to_end(self.final_hops)
        return end is not None and end <= self.threshold

    # -- what it says ----------------------------------------------------------

    def hop_freshness(self, hop: str, now: float) -> float | None:
        """Return how stale the data past ``hop`` may be: the newest probe's latency through
        it, or the age of the first probe sent after that one if it is still not through."""
        mark = self._marks[hop]
        if mark.next_sent is None:
            return None if mark.last_sent is None else mark.last_latency
        waiting = now - mark.next_sent
        return waiting if mark.last_sent is None else max(mark.last_latency, waiting)

    def freshness(self, now: float) -> float | None:
        """Return the pipeline's measured freshness: the stalest of its final hops."""
        values = [self.hop_freshness(h, now) for h in self.final_hops]
        known = [v for v in values if v is not None]
        return max(known) if known else None

    def samples(self, now: float) -> list[Sample]:
        """Return latency summaries, lost and sent counts, freshness and SLO events."""
        with self._lock:
            p = self.pipeline
            out = [Sample.of("lagwatch_probe_sent_total", self.sent, now, pipeline=p)]
            for hop in self.hops:
                out.append(
                    Sample.of("lagwatch_probe_lost_total", self.lost[hop], now, pipeline=p, hop=hop)
                )
                values = sorted(v for _, v in self._latencies[hop])
                for label, q in QUANTILES if values else ():
                    out.append(
                        Sample.of(
                            "lagwatch_probe_latency_seconds",
                            nearest_rank(values, q),
                            now,
                            pipeline=p,
                            hop=hop,
                            quantile=label,
                        )
                    )
                fresh = self.hop_freshness(hop, now)
                if fresh is not None:
                    out.append(
                        Sample.of(
                            "lagwatch_probe_hop_freshness_seconds", fresh, now, pipeline=p, hop=hop
                        )
                    )
            freshness = self.freshness(now)
            if freshness is not None:
                out.append(
                    Sample.of(
                        "lagwatch_pipeline_freshness_seconds",
                        freshness,
                        now,
                        pipeline=p,
                        method="probe",
                    )
                )
            out += slo_samples(p, self.good, self.bad, self.threshold, self.objective, now)
        return out


def slo_samples(
    pipeline: str, good: int, bad: int, threshold: float, objective: float, now: float
) -> list[Sample]:
    """Return the SLO event counters and the SLO itself, as every freshness method emits them.

    A good event is a probe (or, when estimated, an evaluation) whose freshness
    was within the threshold; burn rate = bad / (good + bad) / (1 - objective).
    """
    return [
        Sample.of(
            "lagwatch_pipeline_slo_events_total", good, now, pipeline=pipeline, outcome="good"
        ),
        Sample.of("lagwatch_pipeline_slo_events_total", bad, now, pipeline=pipeline, outcome="bad"),
        Sample.of("lagwatch_pipeline_slo_threshold_seconds", threshold, now, pipeline=pipeline),
        Sample.of("lagwatch_pipeline_slo_objective_ratio", objective / 100, now, pipeline=pipeline),
    ]


def nearest_rank(ordered: list[float], q: float) -> float:
    """Return the nearest-rank ``q`` quantile of an ascending list."""
    index = max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))
    return ordered[index]
