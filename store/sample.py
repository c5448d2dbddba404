"""The values that flow through the store: samples, series keys, records."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Labels = tuple[tuple[str, str], ...]


def make_labels(labels: Mapping[str, object] | Labels | None = None) -> Labels:
    """Return labels as a sorted tuple of (name, value) string pairs."""
    if not labels:
        return ()
    items = labels.items() if isinstance(labels, Mapping) else labels
    return tuple(sorted((str(k), str(v)) for k, v in items))


def labels_key(labels: Labels) -> str:
    """Return the canonical text form of a label set, used as the series key."""
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Sample:
    """One observation of one series: name + labels, a value at a time.

    ``note`` is an optional short text kept with the latest value only, for
    example a collector's error or the reason behind a verdict.
    """

    name: str
    labels: Labels
    value: float
    ts: float
    note: str | None = None

    @classmethod
    def of(
        cls,
        name: str,
        value: float,
        ts: float,
        note: str | None = None,
        **labels: object,
    ) -> Sample:
        """Return a sample with labels given as keyword arguments."""
        return cls(name, make_labels(labels), float(value), ts, note)

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


# LatestValue's fields as a plain tuple: (name, labels, value, ts, note).
Row = tuple[str, Labels, float, float, str | None]


class LatestValue(NamedTuple):
    """The newest value of one series.

    A named tuple rather than a dataclass: readers build one per series per read,
    and a tuple is made several times faster. Only plain tuples are ever untracked
    by the garbage collector, though: a reader that keeps tens of thousands between
    reads (the alert engine) keeps them as ``Row``s, the same fields as a plain tuple.
    """

    name: str
    labels: Labels
    value: float
    ts: float
    note: str | None = None

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)

    def as_json(self) -> dict[str, Any]:
        """Return the stable scripting form used by ``lagwatch snapshot --json``."""
        out: dict[str, Any] = {
            "name": self.name,
            "labels": dict(self.labels),
            "value": self.value,
            "ts": self.ts,
        }
        if self.note is not None:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True)
class LatestChanges:
    """What ``Store.latest_since`` answers: the newest values written since a cursor, and the next.

    ``rows`` may repeat a series that did not change again; it never leaves out
    one that did. Pass ``cursor`` to the next call. The values come as ``Row``s,
    plain tuples in LatestValue's field order: a reader applying tens of thousands
    a cycle keeps them as they are (see LatestValue); ``values`` gives LatestValues.
    """

    rows: list[Row]
    cursor: int

    @property
    def values(self) -> list[LatestValue]:
        make = LatestValue._make
        return [make(row) for row in self.rows]


@dataclass(frozen=True, slots=True)
class Series:
    """Points of one series over a range: ``points`` holds (ts, value) pairs."""

    name: str
    labels: Labels
    points: list[tuple[float, float]] = field(default_factory=list)

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True, slots=True)
class Record:
    """A keyed JSON document in a namespace: alert state, silences, outbox, spans."""

    namespace: str
    key: str
    ts: float
    body: dict[str, Any]
