"""What rules read: the latest values and short histories of series, live from the store or replayed."""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lagwatch.alerts.expr import Selector
from lagwatch.store import Labels, LatestValue, Sample, Series, Store
from lagwatch.store.protocol import Aggregation


class DataView(Protocol):
    """The data one evaluation sees, as of ``now``."""

    now: float
    started: float

    def select(self, selector: Selector) -> list[LatestValue]:
        """Return the newest value of every series the selector matches."""
        ...

    def history(
        self, selector: Selector, start: float, max_points: int = 500, agg: Aggregation = "max"
    ) -> list[Series]:
        """Return the matching series from ``start`` to now, at most ``max_points`` each."""
        ...


class _Index:
    """The points of one metric, indexed by label value so matchers test values, not points."""

    def __init__(self, points: list[LatestValue]) -> None:
        # Labels stay the store's sorted tuples: only the values that fire become dicts.
        self.points = points
        self._by_label: dict[str, dict[str, list[int]]] = {}
        self._selected: dict[Selector, list[LatestValue]] = {}

    def _values(self, label: str) -> dict[str, list[int]]:
        index = self._by_label.get(label)
        if index is None:
            index = self._by_label[label] = defaultdict(list)
            for i, point in enumerate(self.points):
                index[next((v for k, v in point.labels if k == label), "")].append(i)
        return index

    def select(self, selector: Selector) -> list[LatestValue]:
        found = self._selected.get(selector)
        if found is not None:
            return found
        chosen: set[int] | None = None
        for matcher in selector.matchers:
            values = self._values(matcher.name)
            if matcher.op == "=":
                hits = set(values.get(matcher.value, ()))
            else:
                hits = set()
                for value, rows in values.items():
                    if matcher.matches({matcher.name: value}):
                        hits.update(rows)
            chosen = hits if chosen is None else chosen & hits
            if not chosen:
                break
        found = list(self.points) if chosen is None else [self.points[i] for i in sorted(chosen)]
        self._selected[selector] = found
        return found


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

    def select(self, selector: Selector) -> list[LatestValue]:
        index = self._metrics.get(selector.metric)
        if index is None:
            values = self.store.latest(selector.metric)
            index = self._metrics[selector.metric] = _Index(values)
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


class ReplayView:
    """Recorded samples seen as of a moment, for ``lagwatch rules test``."""

    def __init__(self, samples: Sequence[Sample]) -> None:
        by_series: dict[tuple[str, Labels], list[tuple[float, float, str | None]]]
        by_series = defaultdict(list)
        for s in samples:
            by_series[(s.name, s.labels)].append((s.ts, s.value, s.note))
        self._series: dict[str, list[tuple[Labels, list[float], list[float], list[str | None]]]]
        self._series = defaultdict(list)
        for (name, labels), points in by_series.items():
            points.sort(key=lambda p: p[0])
            self._series[name].append(
                (labels, [p[0] for p in points], [p[1] for p in points], [p[2] for p in points])
            )
        self.times = sorted({s.ts for s in samples})
        self.now = self.times[0] if self.times else time.time()
        self.started = self.now

    def at(self, now: float) -> ReplayView:
        self.now = now
        return self

    def select(self, selector: Selector) -> list[LatestValue]:
        out = []
        for labels, times, values, notes in self._series.get(selector.metric, []):
            i = bisect.bisect_right(times, self.now) - 1
            if i >= 0 and selector.matches(dict(labels)):
                out.append(LatestValue(selector.metric, labels, values[i], times[i], notes[i]))
        return out

    def history(
        self, selector: Selector, start: float, max_points: int = 500, agg: Aggregation = "max"
    ) -> list[Series]:
        out = []
        for labels, times, values, _ in self._series.get(selector.metric, []):
            if not selector.matches(dict(labels)):
                continue
            lo = bisect.bisect_left(times, start)
            hi = bisect.bisect_right(times, self.now)
            points = list(zip(times[lo:hi], values[lo:hi], strict=True))[-max_points:]
            out.append(Series(selector.metric, labels, points))
        return out
