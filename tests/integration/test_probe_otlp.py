"""Given an OTLP/HTTP receiver on loopback, a probe's trace is exported there as well as stored."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from lagwatch.collectors.probe.book import Probe
from lagwatch.collectors.probe.trace import ProbeTracer


class Receiver(BaseHTTPRequestHandler):
    got: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.got.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *_args: object) -> None:
        pass


def test_probe_trace_is_exported_over_otlp_http() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}/v1/traces"
        tracer = ProbeTracer("orders", otlp_endpoint=endpoint)
        probe_id, _ = tracer.start(1000.0)
        probe = Probe(probe_id, 1, 1000.0, seen={"tap": 1000.01, "topic": 1000.02})
        probe.slo_good = True
        tracer.finish(probe, ["tap", "topic"], ["topic"])
        tracer.close()  # flushes the batch exporter
        assert Receiver.got, "the OTLP receiver got nothing"
        path, content_type, body = Receiver.got[0]
        assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
        request = ExportTraceServiceRequest.FromString(body)
        spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
        assert sorted(s.name for s in spans) == ["hop tap", "hop topic", "probe orders"]
        assert {s.trace_id.hex() for s in spans} == {probe_id.removeprefix("lwprobe-")}
        # The store's copy is made either way.
        assert len(tracer.records.take()) == 1
    finally:
        server.shutdown()
