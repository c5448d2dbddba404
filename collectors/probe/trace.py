"""Each probe is one OpenTelemetry trace: a root span for the probe and one span per hop.

Spans go through the OpenTelemetry SDK to two exporters: `RecordExporter`,
which turns each finished trace into a `probe.traces` Record that the probe
collector yields (the runner stores it), and optionally OTLP over HTTP.

`probe.traces` record: key = trace id (32 hex), ts = sent_at, body:

    {"pipeline": "orders", "trace_id": "…32 hex…", "probe_id": "lwprobe-…",
     "sent_at": 1767225600.1234, "status": "ok" | "lost",
     "slo": "good" | "bad", "freshness_seconds": 0.0421 | null,
     "hops": [{"hop": "tap", "latency_seconds": 0.0012, "status": "ok"},
              {"hop": "group:indexer", "latency_seconds": null, "status": "lost"}, …],
     "spans": [{"span_id": "…16 hex…", "parent_span_id": null | "…",
                "name": "probe orders" | "hop tap", "start": 1767225600.1234,
                "end": 1767225600.1246, "status": "ok" | "error",
                "attributes": {…}}, …]}
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Span, Status, StatusCode

from lagwatch.collectors.probe.book import Probe
from lagwatch.store import Record
from lagwatch.store.contracts import Namespace

NAMESPACE = Namespace.PROBE_TRACES
NS = 1_000_000_000


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / NS


class RecordExporter(SpanExporter):
    """Collects finished spans by trace and hands out one Record per finished trace."""

    def __init__(self) -> None:
        self._spans: dict[int, list[dict[str, Any]]] = {}
        self._done: list[Record] = []
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            for span in spans:
                context = span.get_span_context()
                assert context is not None
                attributes = dict(span.attributes or {})
                self._spans.setdefault(context.trace_id, []).append(
                    {
                        "span_id": f"{context.span_id:016x}",
                        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
                        "name": span.name,
                        "start": _seconds(span.start_time),
                        "end": _seconds(span.end_time),
                        "status": "error" if span.status.status_code == StatusCode.ERROR else "ok",
                        "attributes": attributes,
                    }
                )
                if span.parent is None:  # the root ends last: the trace is complete
                    self._done.append(self._record(context.trace_id, attributes))
        return SpanExportResult.SUCCESS

    def _record(self, trace_id: int, root: dict[str, Any]) -> Record:
        spans = sorted(
            self._spans.pop(trace_id), key=lambda s: (s["parent_span_id"] is not None, s["start"])
        )
        hops = [
            {
                "hop": s["attributes"]["lagwatch.hop"],
                "latency_seconds": s["attributes"].get("lagwatch.latency_seconds"),
                "status": "lost" if s["status"] == "error" else "ok",
            }
            for s in spans
            if "lagwatch.hop" in s["attributes"]
        ]
        body = {
            "pipeline": root["lagwatch.pipeline"],
            "trace_id": f"{trace_id:032x}",
            "probe_id": root["lagwatch.probe_id"],
            "sent_at": root["lagwatch.sent_at"],
            "status": "lost" if any(h["status"] == "lost" for h in hops) else "ok",
            "slo": root["lagwatch.slo"],
            "freshness_seconds": root.get("lagwatch.freshness_seconds"),
            "hops": hops,
            "spans": spans,
        }
        return Record(NAMESPACE, body["trace_id"], body["sent_at"], body)

    def take(self) -> list[Record]:
        """Return the traces finished since the last call."""
        with self._lock:
            done, self._done = self._done, []
        return done

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class ProbeTracer:
    """Starts a probe's root span when it is sent and ends the trace when the probe finishes."""

    def __init__(self, pipeline: str, otlp_endpoint: str | None = None) -> None:
        self.pipeline = pipeline
        self.records = RecordExporter()
        self.provider = TracerProvider(
            resource=Resource.create(
                {"service.name": "lagwatch-probe", "lagwatch.pipeline": pipeline}
            ),
            shutdown_on_exit=False,
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.records))
        if otlp_endpoint:
            self.provider.add_span_processor(BatchSpanProcessor(otlp_exporter(otlp_endpoint)))
        self.tracer = self.provider.get_tracer("lagwatch.probe")
        self._roots: dict[str, Span] = {}

    def start(self, sent_at: float) -> tuple[str, str]:
        """Start a probe's trace; return (probe id, traceparent) to write into the probe row."""
        root = self.tracer.start_span(f"probe {self.pipeline}", start_time=int(sent_at * NS))
        context = root.get_span_context()
        probe_id = f"lwprobe-{context.trace_id:032x}"
        self._roots[probe_id] = root
        return probe_id, f"00-{context.trace_id:032x}-{context.span_id:016x}-01"

    def drop(self, probe_id: str) -> None:
        """Forget a probe whose row could not be written."""
        self._roots.pop(probe_id, None)

    def finish(self, probe: Probe, hops: list[str], final_hops: list[str]) -> None:
        """End the probe's trace with one span per hop (an error span for a lost hop)."""
        root = self._roots.pop(probe.probe_id, None)
        if root is None:
            return
        parent = trace.set_span_in_context(root)
        start = int(probe.sent_at * NS)
        end = start
        for hop in hops:
            span = self.tracer.start_span(f"hop {hop}", context=parent, start_time=start)
            span.set_attribute("lagwatch.hop", hop)
            latency = probe.latency(hop)
            if latency is None:
                span.set_status(
                    Status(StatusCode.ERROR, f"not seen at {hop} within the probe timeout")
                )
                span.end(end_time=start)
                continue
            span.set_attribute("lagwatch.latency_seconds", latency)
            if hop == "topic" and probe.offset is not None:
                span.set_attribute("messaging.kafka.offset", probe.offset)
                span.set_attribute("messaging.kafka.destination.partition", probe.partition or 0)
            hop_end = start + int(latency * NS)
            end = max(end, hop_end)
            span.end(end_time=hop_end)
        root.set_attribute("lagwatch.pipeline", self.pipeline)
        root.set_attribute("lagwatch.probe_id", probe.probe_id)
        root.set_attribute("lagwatch.sent_at", probe.sent_at)
        root.set_attribute("lagwatch.slo", "good" if probe.slo_good else "bad")
        freshness = probe.end_to_end(final_hops)
        if freshness is not None:
            root.set_attribute("lagwatch.freshness_seconds", freshness)
        if probe.commit_ts is not None:
            root.set_attribute("db.commit_ts", probe.commit_ts)
        if probe.lost:
            root.set_status(Status(StatusCode.ERROR, "lost at " + ", ".join(probe.lost)))
        root.end(end_time=end)

    def close(self) -> None:
        self.provider.shutdown()


def otlp_exporter(endpoint: str) -> SpanExporter:
    """Return an OTLP/HTTP span exporter, or explain how to install it."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise ValueError(
            "probes[].otlp_endpoint needs the OTLP exporter: pip install 'lagwatch[otlp]'"
        ) from None
    return OTLPSpanExporter(endpoint=endpoint, timeout=5)
