"""What the sampler's counts turn into: counters per topic and kind, payload sizes, and the
records of the last violating messages.

Counters are kept in the ``registry.state`` record with the positions they
were counted up to, so they go on across restarts without counting a message
twice. A topic seen for the first time gets its counters written at 0 at the
start of the cycle as well, so an alert on ``increase(…)`` sees the first
violations too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lagwatch.collectors.registry.check import HEAD_BYTES, KINDS
from lagwatch.store import Record, Sample
from lagwatch.store.contracts import Namespace

UP = "lagwatch_registry_up"
CHECKED = "lagwatch_registry_messages_checked_total"
VIOLATIONS = "lagwatch_registry_violations_total"
TOMBSTONES = "lagwatch_registry_tombstones_total"
PAYLOAD = "lagwatch_registry_payload_bytes"
BEHIND = "lagwatch_registry_sampler_behind_messages"
PRODUCED = "lagwatch_registry_topic_produced_per_second"
SAMPLER_UP = "lagwatch_registry_sampler_up"

SIZES_KEPT = 512
"""Payload sizes kept per topic for the quantiles: the last this many messages checked."""
SUBJECTS_KEPT = 20
KEEP_VIOLATIONS = 5
"""Violating messages kept per topic and kind."""


@dataclass
class TopicCounts:
    """One topic's counters and its recent payload sizes."""

    checked: int = 0
    tombstones: int = 0
    violations: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    sizes: deque[int] = field(default_factory=lambda: deque(maxlen=SIZES_KEPT))
    new: bool = True
    """Not yet written to the store: its counters start at 0."""
    subjects: set[str] = field(default_factory=set)
    """Subjects good messages were found in (record strategies: the catalog's only way to
    know a topic's subjects); at most ``SUBJECTS_KEPT``."""

    def as_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "tombstones": self.tombstones,
            "violations": self.violations,
            "sizes": list(self.sizes),
            "subjects": sorted(self.subjects),
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> TopicCounts:
        counts = cls(int(body["checked"]), int(body["tombstones"]), new=False)
        for kind, n in dict(body["violations"]).items():
            if kind in counts.violations:
                counts.violations[kind] = int(n)
        counts.sizes.extend(int(s) for s in body.get("sizes", []))
        counts.subjects = {str(s) for s in body.get("subjects", [])}
        return counts


def quantile(sorted_sizes: list[int], q: float) -> float:
    """Return the ``q`` quantile (nearest rank) of a sorted, non-empty list."""
    rank = max(0, min(len(sorted_sizes) - 1, int(q * len(sorted_sizes) + 0.5) - 1))
    return float(sorted_sizes[rank])


def counter_samples(
    registry: str, counts: dict[str, TopicCounts], started: float, now: float
) -> list[Sample]:
    """Return every topic's counters (and, for new topics, their zero at ``started``) and sizes."""
    out: list[Sample] = []
    for topic, c in counts.items():
        labels = {"registry": registry, "topic": topic}
        series: list[tuple[str, float, dict[str, str]]] = [
            (CHECKED, c.checked, labels),
            (TOMBSTONES, c.tombstones, labels),
        ]
        series += [(VIOLATIONS, n, {**labels, "kind": kind}) for kind, n in c.violations.items()]
        for name, value, lab in series:
            if c.new:
                out.append(Sample.of(name, 0, started, **lab))
            out.append(Sample.of(name, value, now, **lab))
        c.new = False
        if c.sizes:
            ordered = sorted(c.sizes)
            for q, value in (
                ("0.5", quantile(ordered, 0.5)),
                ("0.99", quantile(ordered, 0.99)),
                ("max", float(ordered[-1])),
            ):
                out.append(Sample.of(PAYLOAD, value, now, **labels, quantile=q))
    return out


@dataclass
class Violation:
    """One violating message, as kept: where it is and why, the first bytes, never the payload."""

    partition: int
    offset: int
    timestamp: float | None
    part: str
    head: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp,
            "part": self.part,
            "head": self.head,
            "reason": self.reason,
        }


def head_hex(data: bytes | None) -> str:
    return "" if not data else data[:HEAD_BYTES].hex()


def violations_key(registry: str, topic: str, kind: str) -> str:
    return f"{registry}/{topic}/{kind}"


class ViolationLog:
    """The last ``KEEP_VIOLATIONS`` violating messages per topic and kind."""

    def __init__(self, registry: str) -> None:
        self.registry = registry
        self.kept: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        self.changed: set[tuple[str, str]] = set()

    def load(self, records: Iterable[Record]) -> None:
        prefix = f"{self.registry}/"
        for record in records:
            if not record.key.startswith(prefix):
                continue
            topic, _, kind = record.key[len(prefix) :].rpartition("/")
            messages = record.body.get("messages")
            if topic and kind in KINDS and isinstance(messages, list):
                self.kept[(topic, kind)] = deque(
                    messages[-KEEP_VIOLATIONS:], maxlen=KEEP_VIOLATIONS
                )

    def add(self, topic: str, kind: str, violation: Violation) -> None:
        queue = self.kept.setdefault((topic, kind), deque(maxlen=KEEP_VIOLATIONS))
        queue.append(violation.as_json())
        self.changed.add((topic, kind))

    def records(self, now: float) -> list[Record]:
        out = [
            Record(
                Namespace.REGISTRY_VIOLATIONS,
                violations_key(self.registry, topic, kind),
                now,
                {"messages": list(self.kept[(topic, kind)])},
            )
            for topic, kind in sorted(self.changed)
        ]
        self.changed.clear()
        return out
