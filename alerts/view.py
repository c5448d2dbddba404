"""What rules read: the latest values and short histories of series, live from the store or replayed."""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from alerts.expr import Selector
from store import LatestValue, Sample, Series, Store
from store.protocol import Aggregation


@dataclass(frozen=True, slots=True)
class Point:
    """The newest value of one series with its labels as a dict (built once per cycle)."""

    labels: dict[str, str]
    value: float
    ts: float
    note: str | None = None


class DataView(Protocol):
    """The data one evaluation sees, as of ``now``."""

    now: float
    started: float

    def select(self, selector: Selector) -> list[Point]:
        """Return the newest value of every series the selector matches."""
        ...

    def history(
        self, selector: Selector, start: float, max_points: int = 500, agg: Aggregation = "max"
    ) -> list[Series]:
        """Return the matching series from ``start`` to now, at most ``max_points`` each."""
        ...


class _Index:
    """The points of one metric, with a lazy index on label=value for equality matchers."""

    def __init__(self, points: list[Point]) -> None:
        self.points = points
        self._by_label: dict[str, dict[str, list[int]]] = {}

    def select(self, selector: Selector) -> list[Point]:
        candidates: Iterable[int] | None = None
        for name, value in selector.equalities.items():
            index = self._by_label.get(name)
            if index is None:
                index = defaultdict(list)
                for i, point in enumerate(self.points):
                    index[point.labels.get(name, "")].append(i)
                self._by_label[name] = index
            hits = index.get(value, [])
            candidates = hits if candidates is None else sorted(set(candidates) & set(hits))
        chosen = self.points if candidates is None else [self.points[i] for i in candidates]
        rest = [m for m in selector.matchers if m.op != "="]
        if not rest:
            return list(chosen)
        return [p for p in chosen if all(m.matches(p.labels) for m in rest)]


@dataclass
class RangeCache:
    """Keeps range queries between cycles for a short time: long windows barely move in 10 s."""

    entries: dict[tuple[object, ...], tuple[float, list[Series]]] = field(default_factory=dict)

    def get(self, key: tuple[object, ...], now: float, ttl: float) -> list[Series] | None:
        hit = self.entries.get(key)
        if hit is None or now - hit[0] > ttl:
            return None
        return hit[1]

    def put(self, key: tuple[object, ...], now: float, value: list[Series]) -> None:
        if len(self.entries) > 10_000:
            self.entries.clear()
        self.entries[key] = (now, value)


class LiveView:
    """Reads the store: one ``latest(name)`` per metric per cycle, ranges cached briefly."""

    def __init__(
        self, store: Store, now: float, started: float, ranges: RangeCache | None = None
    ) -> None:
        self.store = store
        self.now = now
        self.started = started
        self.ranges = ranges or RangeCache()
        self._metrics: dict[str, _Index] = {}

    def select(self, selector: Selector) -> list[Point]:
        index = self._metrics.get(selector.metric)
        if index is None:
            values = self.store.latest(selector.metric)
            index = self._metrics[selector.metric] = _Index([_point(v) for v in values])
        return index.select(selector)

    def history(
        self, selector: Selector, start: float, max_points: int = 500, agg: Aggregation = "max"
    ) -> list[Series]:
        window = self.now - start
        key = (str(selector), round(window), max_points, agg)
        # A window's answer may be reused for 1/60 of its length (at most a minute).
        ttl = min(60.0, window / 60.0)
        found = self.ranges.get(key, self.now, ttl)
        if found is None:
            found = self.store.query_range(
                selector.metric,
                selector.equalities,
                start,
                self.now,
                step=window / max_points,
                agg=agg,
                max_points=max_points,
            )
            self.ranges.put(key, self.now, found)
        return [s for s in found if selector.matches(s.label_dict)]


def _point(value: LatestValue) -> Point:
    return Point(dict(value.labels), value.value, value.ts, value.note)


class ReplayView:
    """Recorded samples seen as of a moment, for ``lagwatch rules test``."""

    def __init__(self, samples: Sequence[Sample]) -> None:
        by_series: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float, str | None]]]
        by_series = defaultdict(list)
        for s in samples:
            by_series[(s.name, s.labels)].append((s.ts, s.value, s.note))
        self._series: dict[str, list[tuple[dict[str, str], list[float], list[float], list[str | None]]]]
        self._series = defaultdict(list)
        for (name, labels), points in by_series.items():
            points.sort(key=lambda p: p[0])
            self._series[name].append(
                (dict(labels), [p[0] for p in points], [p[1] for p in points], [p[2] for p in points])
            )
        self.times = sorted({s.ts for s in samples})
        self.now = self.times[0] if self.times else time.time()
        self.started = self.now

    def at(self, now: float) -> ReplayView:
        self.now = now
        return self

    def select(self, selector: Selector) -> list[Point]:
        out = []
        for labels, times, values, notes in self._series.get(selector.metric, []):
            i = bisect.bisect_right(times, self.now) - 1
            if i >= 0 and selector.matches(labels):
                out.append(Point(labels, values[i], times[i], notes[i]))
        return out

    def history(
        self, selector: Selector, start: float, max_points: int = 500, agg: Aggregation = "max"
    ) -> list[Series]:
        out = []
        for labels, times, values, _ in self._series.get(selector.metric, []):
            if not selector.matches(labels):
                continue
            lo = bisect.bisect_left(times, start)
            hi = bisect.bisect_right(times, self.now)
            points = list(zip(times[lo:hi], values[lo:hi], strict=True))[-max_points:]
            out.append(Series(selector.metric, tuple(sorted(labels.items())), points))
        return out
