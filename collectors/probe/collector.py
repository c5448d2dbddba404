"""The synthetic probe: send a row through the pipeline every interval and time every hop.

Each run of the collector writes one probe row (id, send time, W3C trace
context) into the probe table, then reports what the probe book knows:
per-hop latency summaries, lost probes, measured freshness and SLO events,
and yields each finished probe's trace and the tap's position as Records.
Three threads run beside it: the tap (commit → tap, and in relay mode the
producer of the topic's events), and the Kafka watcher (commit → topic,
commit → each consumer group).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from lagwatch.collectors.base import Collector, CollectorContext, SourceUnreachable
from lagwatch.collectors.kinds import kind_of
from lagwatch.collectors.probe.book import Probe, ProbeBook
from lagwatch.collectors.probe.config import PipelineConfig, ProbeConfig
from lagwatch.collectors.probe.pipeline import build_estimates, cluster_of
from lagwatch.collectors.probe.table import RING
from lagwatch.collectors.probe.trace import NAMESPACE as TRACES
from lagwatch.collectors.probe.trace import ProbeTracer
from lagwatch.collectors.probe.watch import KafkaWatcher
from lagwatch.collectors.tap import Change, Tap
from lagwatch.collectors.tap.relay import KafkaRelay
from lagwatch.store import Record, Sample
from lagwatch.store.contracts import Namespace, origin

log = logging.getLogger("lagwatch.probe")

POSITIONS = Namespace.TAP_POSITION
"""Record namespace of taps' read positions: key = tap name, body = TapPosition.body()."""


class ProbeCollector:
    """One pipeline's probe: a collector whose runs send probes and report the hops."""

    def __init__(self, probe: ProbeConfig, pipe: PipelineConfig, source: Any, cluster: Any) -> None:
        self.probe = probe
        self.pipe = pipe
        support = kind_of(source).probe
        assert support is not None, (
            "check_pipelines refuses a probe on a kind without probe support"
        )
        self.name = f"probe:{pipe.name}"
        self.origins: tuple[str, ...] = (
            origin("source", pipe.source),
            origin("cluster", cluster.name),
        )
        self.interval = probe.interval
        self.timeout = 10.0
        self.record_retention = {TRACES: probe.keep_traces}
        self.table = probe.table_name()
        self.topic = probe.topic or pipe.topic
        self.hops = (
            (["tap"] if probe.tap.enabled else [])
            + (["debezium"] if probe.debezium else [])
            + ["topic"]
            + [f"group:{g}" for g in pipe.groups]
        )
        self.final_hops = [h for h in self.hops if h.startswith("group:")] or ["topic"]
        self.book = ProbeBook(
            pipe.name, self.hops, self.final_hops, probe.timeout, probe.window,
            pipe.slo.freshness, pipe.slo.objective,
        )  # fmt: skip
        self.writer = support.writer(probe, 5.0)
        self.tracer = ProbeTracer(pipe.name, probe.otlp_endpoint)
        self.watcher = KafkaWatcher(
            cluster.bootstrap, self.topic, pipe.groups, self.book, debezium=probe.debezium
        )
        self.tap_name = probe.tap.name or f"{pipe.name}-tap"
        self.tap: Tap | None = (
            support.tap(probe, source, self.tap_name, {str(self.table), *probe.tap.tables})
            if probe.tap.enabled
            else None
        )
        self.relay = (
            KafkaRelay(cluster.bootstrap, self.topic, pipe.source)
            if probe.tap.relay and self.tap
            else None
        )
        self._seq = int(time.time())
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- threads ---------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        if change.table == str(self.table):
            probe_id = change.row.get("probe_id")
            if change.row.get("pipeline") == self.pipe.name and isinstance(probe_id, str):
                self.book.saw(probe_id, "tap", change.seen, commit_ts=change.commit_ts)
            elif self.relay is not None:
                return  # another pipeline's probe: its own tap relays it
        if self.relay is not None:
            self.relay(change)

    def start(self) -> None:
        """Start the tap and the Kafka watcher threads (idempotent)."""
        if self._threads:
            return
        self._threads.append(
            threading.Thread(
                target=self.watcher.run, args=(self._stop,), name=f"{self.name}:kafka", daemon=True
            )
        )
        if self.tap is not None:
            self._threads.append(
                threading.Thread(
                    target=self.tap.run,
                    args=(self._on_change, self._stop),
                    name=f"{self.name}:tap",
                    daemon=True,
                )
            )
        for thread in self._threads:
            thread.start()

    def ready(self) -> bool:
        """Return True once every reader streams, so a probe sent now can be seen at every hop."""
        return self.watcher.ready.is_set() and (self.tap is None or self.tap.ready.is_set())

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.ready()

    # -- the collector -----------------------------------------------------------

    def send(self) -> Probe:
        """Write one probe row; return its probe."""
        self._seq += 1
        sent_at = time.time()
        probe_id, traceparent = self.tracer.start(sent_at)
        probe = Probe(probe_id, self._seq, sent_at)
        # Booked before the write: a binlog tap can see the row before the write returns.
        self.book.add(probe)
        try:
            self.writer.write((self.pipe.name, self._seq % RING, probe_id, sent_at, traceparent))
        except Exception as exc:
            self.book.discard(probe_id)
            self.tracer.drop(probe_id)
            raise SourceUnreachable(
                f"probe {self.pipe.name}: cannot write {self.table}: {str(exc).strip()}; "
                "run `lagwatch probe init` and check the grants it prints"
            ) from None
        return probe

    def finish(self, now: float) -> list[Probe]:
        """Close the traces of probes that are done; return them."""
        done = self.book.sweep(now)
        for probe in done:
            self.tracer.finish(probe, self.hops, self.final_hops)
        return done

    def collect(self) -> Iterable[Sample | Record]:
        self.start()
        if self.relay is not None:
            self.relay.poll()
        writer_error = None
        if self.ready():
            try:
                self.send()
            except SourceUnreachable as exc:
                writer_error = str(exc)  # still report the probes already on their way
        now = time.time()
        self.finish(now)
        yield from self.book.samples(now)
        yield from self.health(now, writer_error)
        yield from self.tracer.records.take()
        if self.tap is not None and self.tap.position.ts:
            yield Record(POSITIONS, self.tap_name, self.tap.position.ts, self.tap.position.body())

    def health(self, now: float, writer_error: str | None) -> list[Sample]:
        """Return 1/0 per probe component (writer, tap, relay, kafka), the error as note."""
        parts: dict[str, tuple[bool, str | None]] = {
            "writer": (writer_error is None, writer_error),
            "kafka": (
                self.watcher.ready.is_set() and self.watcher.error is None,
                self.watcher.error,
            ),
        }
        if self.tap is not None:
            parts["tap"] = (self.tap.ready.is_set(), self.tap.error)
        if self.relay is not None:
            parts["relay"] = (self.relay.error is None, self.relay.error)
            self.relay.error = None
        return [
            Sample.of(
                "lagwatch_probe_component_up",
                1.0 if ok else 0.0,
                now,
                note=note,
                pipeline=self.pipe.name,
                component=name,
            )  # fmt: skip
            for name, (ok, note) in parts.items()
        ]

    def check(self) -> None:
        try:
            self.writer.check()
        except Exception as exc:
            raise SourceUnreachable(
                f"probe {self.pipe.name}: cannot read {self.table}: {str(exc).strip()}; "
                "run `lagwatch probe init` and check the grants it prints"
            ) from None

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        if self.relay is not None:
            self.relay.close()
        self.writer.close()
        self.tracer.close()


def build_probes(
    probes: Sequence[ProbeConfig], pipelines: Sequence[PipelineConfig], sources: Sequence[Any],
    kafka: Sequence[Any], context: CollectorContext,
) -> list[ProbeCollector]:  # fmt: skip
    """Return a probe collector per `probes:` entry of a validated config."""
    pipes = {p.name: p for p in pipelines}
    by_name = {s.name: s for s in sources}
    out = []
    for probe in probes:
        pipe = pipes[probe.pipeline]
        out.append(ProbeCollector(probe, pipe, by_name[pipe.source], cluster_of(pipe, kafka)))
    return out


def build_pipeline_collectors(
    pipelines: Sequence[PipelineConfig], probes: Sequence[ProbeConfig], sources: Sequence[Any],
    kafka: Sequence[Any], context: CollectorContext,
) -> list[Collector]:  # fmt: skip
    """Return the probes, and a freshness estimate for each pipeline without one."""
    found: list[Collector] = []
    found += build_probes(probes, pipelines, sources, kafka, context)
    found += build_estimates(pipelines, probes, sources, kafka, context)
    return found
