"""The record shapes the dashboard reads and writes, assumed in this one file.

The alert engine and the probe own these namespaces; when their shapes
settle, align the ``from_record``/``to_record`` functions here and nothing
else changes. Unknown keys are ignored and missing ones get defaults, so a
partly filled record still shows.

``alerts.state`` — one record per alert instance, key = fingerprint, ts = last change::

    {"rule": "KafkaGroupStalled", "state": "pending|firing|resolved",
     "labels": {"alertname": "...", "severity": "page|warning|info", "group": "..."},
     "since": <epoch s the state began>, "active_at": <epoch s first seen>,
     "value": 312.0, "summary": "...", "description": "...", "runbook_url": "...",
     "flapping": false, "silenced_by": ["<silence id>"]}

``alerts.history`` — one record per state change, key = "<fingerprint>:<ms>", ts = when::

    {"fingerprint": "...", "rule": "...", "labels": {...}, "from": "pending",
     "to": "firing", "value": 312.0, "summary": "..."}

``alerts.silences`` — key = silence id, ts = creation::

    {"id": "...", "matchers": [{"name": "group", "value": "ledger-.*", "regex": true}],
     "comment": "...", "author": "...", "created_at": <s>, "starts_at": <s>, "ends_at": <s>}

``probe.traces`` — one record per probe, key = trace id, ts = commit time; either the
probe's form (collectors/probe_trace.py), whose ``hops`` the waterfall reads::

    {"pipeline": "orders", "trace_id": "<32 hex>", "sent_at": <commit epoch s>,
     "status": "ok|lost", "hops": [{"hop": "tap", "latency_seconds": 0.0012,
     "status": "ok|lost"}, ...]}

or spans per hop without ``hops``: ``{"start": <s>, "spans": [{"hop": "tap",
"start": <s>, "end": <s or null>, "status": "ok|lost"}]}``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from store import Record

ALERT_STATE = "alerts.state"
ALERT_HISTORY = "alerts.history"
SILENCES = "alerts.silences"
PROBE_TRACES = "probe.traces"

STATE_ORDER = {"firing": 0, "pending": 1, "resolved": 2}


def _labels(body: dict[str, Any]) -> dict[str, str]:
    raw = body.get("labels") or {}
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Alert:
    """One alert instance and its current state."""

    fingerprint: str
    rule: str
    state: str
    labels: dict[str, str]
    since: float
    value: float | None = None
    summary: str = ""
    description: str = ""
    runbook_url: str = ""
    flapping: bool = False
    silenced_by: tuple[str, ...] = ()

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @classmethod
    def from_record(cls, record: Record) -> Alert:
        body = record.body
        labels = _labels(body)
        return cls(
            fingerprint=record.key,
            rule=str(body.get("rule") or labels.get("alertname") or record.key),
            state=str(body.get("state") or "firing"),
            labels=labels,
            since=_float(body.get("since")) or record.ts,
            value=_float(body.get("value")),
            summary=str(body.get("summary") or ""),
            description=str(body.get("description") or ""),
            runbook_url=str(body.get("runbook_url") or ""),
            flapping=bool(body.get("flapping")),
            silenced_by=tuple(str(s) for s in body.get("silenced_by") or ()),
        )


@dataclass(frozen=True)
class AlertEvent:
    """One state change of one alert."""

    ts: float
    fingerprint: str
    rule: str
    labels: dict[str, str]
    before: str
    after: str
    value: float | None
    summary: str

    @classmethod
    def from_record(cls, record: Record) -> AlertEvent:
        body = record.body
        labels = _labels(body)
        return cls(
            ts=record.ts,
            fingerprint=str(body.get("fingerprint") or record.key.rsplit(":", 1)[0]),
            rule=str(body.get("rule") or labels.get("alertname") or ""),
            labels=labels,
            before=str(body.get("from") or ""),
            after=str(body.get("to") or ""),
            value=_float(body.get("value")),
            summary=str(body.get("summary") or ""),
        )


@dataclass(frozen=True)
class Matcher:
    """A label matcher of a silence: exact, or a full-match regular expression."""

    name: str
    value: str
    regex: bool = False

    def matches(self, labels: dict[str, str]) -> bool:
        have = labels.get(self.name, "")
        if self.regex:
            return re.fullmatch(self.value, have) is not None
        return have == self.value

    def __str__(self) -> str:
        return f'{self.name}{"=~" if self.regex else "="}"{self.value}"'


def parse_matchers(text: str) -> list[Matcher]:
    """Return matchers from lines of name=value or name=~regex; raise ValueError naming the bad one."""
    out = []
    for line in filter(None, (part.strip() for part in text.replace(",", "\n").splitlines())):
        regex = "=~" in line
        name, _, value = line.partition("=~" if regex else "=")
        name, value = name.strip(), value.strip().strip('"')
        if not name or not value:
            raise ValueError(f"'{line}' is not name=value or name=~regex")
        out.append(Matcher(name, value, regex))
    if not out:
        raise ValueError("add at least one matcher, e.g. group=ledger-writer")
    return out


@dataclass(frozen=True)
class Silence:
    """A silence: alerts whose labels match every matcher are not notified until it ends."""

    id: str
    matchers: tuple[Matcher, ...]
    comment: str
    author: str
    created_at: float
    starts_at: float
    ends_at: float

    def active(self, at: float) -> bool:
        return self.starts_at <= at < self.ends_at

    def matches(self, labels: dict[str, str]) -> bool:
        return bool(self.matchers) and all(m.matches(labels) for m in self.matchers)

    @classmethod
    def new(
        cls, matchers: list[Matcher], comment: str, author: str, at: float, seconds: float
    ) -> Silence:
        return cls(uuid.uuid4().hex, tuple(matchers), comment, author, at, at, at + seconds)

    def expired(self, at: float) -> Silence:
        return replace(self, ends_at=min(self.ends_at, at))

    @classmethod
    def from_record(cls, record: Record) -> Silence:
        body = record.body
        matchers = tuple(
            Matcher(str(m.get("name", "")), str(m.get("value", "")), bool(m.get("regex")))
            for m in body.get("matchers") or ()
            if isinstance(m, dict)
        )
        created = _float(body.get("created_at")) or record.ts
        return cls(
            id=str(body.get("id") or record.key),
            matchers=matchers,
            comment=str(body.get("comment") or ""),
            author=str(body.get("author") or ""),
            created_at=created,
            starts_at=_float(body.get("starts_at")) or created,
            ends_at=_float(body.get("ends_at")) or created,
        )

    def to_record(self) -> Record:
        return Record(
            SILENCES,
            self.id,
            self.created_at,
            {
                "id": self.id,
                "matchers": [
                    {"name": m.name, "value": m.value, "regex": m.regex} for m in self.matchers
                ],
                "comment": self.comment,
                "author": self.author,
                "created_at": self.created_at,
                "starts_at": self.starts_at,
                "ends_at": self.ends_at,
            },
        )


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
            # The probe's own summary: commit → hop latency per hop (collectors/probe_trace.py).
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
