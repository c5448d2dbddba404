"""The probe's trace records as the dashboard reads them.

Alert state, history and silences are not described here: the dashboard
reads and writes them with the alert engine's own definitions (see
``dashboard/data.py``). Unknown keys are ignored and missing ones get
defaults, so a partly filled trace still shows.

``probe.traces`` — one record per probe, key = trace id, ts = commit time; either the
probe's form (collectors/probe/trace.py), whose ``hops`` the waterfall reads::

    {"pipeline": "orders", "trace_id": "<32 hex>", "sent_at": <commit epoch s>,
     "status": "ok|lost", "hops": [{"hop": "tap", "latency_seconds": 0.0012,
     "status": "ok|lost"}, ...]}

or spans per hop without ``hops``: ``{"start": <s>, "spans": [{"hop": "tap",
"start": <s>, "end": <s or null>, "status": "ok|lost"}]}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lagwatch.store import Record
from lagwatch.store.contracts import Namespace

PROBE_TRACES = Namespace.PROBE_TRACES


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Span:
    """One hop of one probe: from the commit (trace start) to when the hop saw it."""

    hop: str
    start: float
    end: float | None
    status: str = "ok"


def _hop_span(hop: dict[str, Any], start: float) -> Span:
    latency = _float(hop.get("latency_seconds"))
    end = None if latency is None else start + latency
    status = str(hop.get("status") or ("ok" if end is not None else "lost"))
    return Span(str(hop.get("hop") or "?"), start, end, status)


@dataclass(frozen=True)
class Trace:
    """One probe's journey through a pipeline."""

    trace_id: str
    pipeline: str
    start: float
    status: str
    spans: list[Span] = field(default_factory=list)

    @classmethod
    def from_record(cls, record: Record) -> Trace:
        body = record.body
        start = _float(body.get("sent_at")) or _float(body.get("start")) or record.ts
        if isinstance(body.get("hops"), list):
            # The probe's own summary: commit → hop latency per hop (collectors/probe/trace.py).
            return cls(
                trace_id=str(body.get("trace_id") or record.key),
                pipeline=str(body.get("pipeline") or ""),
                start=start,
                status=str(body.get("status") or "ok"),
                spans=[_hop_span(h, start) for h in body["hops"] if isinstance(h, dict)],
            )
        spans = [
            Span(
                hop=str(s.get("hop") or s.get("name") or "?"),
                start=_float(s.get("start")) or start,
                end=_float(s.get("end")),
                status=str(s.get("status") or ("ok" if s.get("end") is not None else "lost")),
            )
            for s in body.get("spans") or ()
            if isinstance(s, dict)
        ]
        lost = any(s.status != "ok" for s in spans)
        return cls(
            trace_id=str(body.get("trace_id") or record.key),
            pipeline=str(body.get("pipeline") or ""),
            start=start,
            status=str(body.get("status") or ("lost" if lost else "ok")),
            spans=spans,
        )
