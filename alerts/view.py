"""What rules read: the latest values and short histories of series, live from the store or replayed."""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lagwatch.alerts.expr import Selector
from lagwatch.store import Labels, LatestValue, Row, Sample, Series, Store
from lagwatch.store.protocol import Aggregation


class DataView(Protocol):
    """The data one evaluation sees, as of ``now``."""

    now: float
    started: float

    def select(self, selector: Selector) -> list[LatestValue]:
        """Return the newest value of every series the selector matches."""
        ...

    def rows(self, selector: Selector) -> Sequence[Row]:
        """Return what ``select`` gives, as ``Row``s (a LatestValue is one): for rules that
        read every matched series, a view that keeps its data need build nothing."""
        ...

    def where(
        self, selector: Selector, key: Hashable, test: Callable[[float], bool]
    ) -> Iterable[LatestValue]:
        """Return the newest values ``select`` gives whose value passes ``test``, a pure
        function of the value named by ``key`` (a view that keeps its data may re-test only
        what changed)."""
        ...

    def history(
        self, selector: Selector, start: float, max_points: int = 500, agg: Aggregation = "max"
    ) -> list[Series]:
        """Return the matching series from ``start`` to now, at most ``max_points`` each."""
        ...


def _value(row: Row) -> LatestValue:
    return row if type(row) is LatestValue else LatestValue._make(row)


class _Index:
    """The rows of one metric, indexed by label value so matchers test values, not rows.

    It can be kept across cycles: ``apply`` puts newer rows in place, and what
    a selector matches is worked out again only when a new series appears. The
    rows stay plain tuples (which the garbage collector untracks): a LatestValue
    is built only for what a rule selects or finds past its threshold.
    """

    def __init__(self, rows: Sequence[Row]) -> None:
        # Labels stay the store's sorted tuples: only the values that fire become dicts.
        self.rows: list[Row] = list(rows)
        self._slot = {r[1]: i for i, r in enumerate(self.rows)}
        self._by_label: dict[str, dict[str, list[int]]] = {}
        self._matched: dict[Selector, list[int] | None] = {}
        self._matched_sets: dict[Selector, set[int]] = {}
        self._selected: dict[Selector, list[Row]] = {}
        self._values: dict[Selector, list[LatestValue]] = {}
        # Which positions the last ``apply`` changed (None: every one may have), and how many
        # applies there were: what lets ``holding`` re-test only what changed.
        self.changed: set[int] | None = None
        self.generation = 0
        self._holding: dict[tuple[Selector, Hashable], tuple[int, dict[int, LatestValue]]] = {}

    def apply(self, rows: Sequence[Row]) -> None:
        """Take newer rows of this metric's series (a new series is added)."""
        grew = False
        points, slot = self.rows, self._slot
        changed: set[int] = set()
        for row in rows:
            i = slot.get(row[1])
            if i is None:
                slot[row[1]] = len(points)
                points.append(row)
                grew = True
            elif row[3] >= points[i][3]:
                points[i] = row
                changed.add(i)
        if grew:
            self._by_label.clear()
            self._matched.clear()
            self._matched_sets.clear()
            self._holding.clear()
        self.changed = None if grew else changed
        self.generation += 1
        self._selected.clear()
        self._values.clear()

    def holding(
        self, selector: Selector, key: Hashable, test: Callable[[float], bool]
    ) -> Iterable[LatestValue]:
        """Return the selected values that pass ``test``, re-testing only those that changed."""
        cached = self._holding.get((selector, key))
        points = self.rows
        if cached is not None and cached[0] == self.generation:
            return cached[1].values()
        if cached is None or cached[0] != self.generation - 1 or self.changed is None:
            positions = self._match(selector)
            every = range(len(points)) if positions is None else positions
            held = {i: _value(points[i]) for i in every if test(points[i][2])}
        else:
            held = cached[1]
            matched = self._matched_sets.get(selector)
            if matched is None:
                positions = self._match(selector)
                matched = set(range(len(points)) if positions is None else positions)
                self._matched_sets[selector] = matched
            changed = self.changed
            for i in changed & matched if len(changed) < len(matched) else matched & changed:
                point = points[i]
                if test(point[2]):
                    held[i] = _value(point)
                else:
                    held.pop(i, None)
        self._holding[(selector, key)] = (self.generation, held)
        return held.values()

    def _by(self, label: str) -> dict[str, list[int]]:
        index = self._by_label.get(label)
        if index is None:
            index = self._by_label[label] = defaultdict(list)
            for i, point in enumerate(self.rows):
                index[next((v for k, v in point[1] if k == label), "")].append(i)
        return index

    def _match(self, selector: Selector) -> list[int] | None:
        """Return the positions of the series ``selector`` matches (None: every series)."""
        if selector in self._matched:
            return self._matched[selector]
        chosen: set[int] | None = None
        for matcher in selector.matchers:
            values = self._by(matcher.name)
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
        found = None if chosen is None else sorted(chosen)
        self._matched[selector] = found
        return found

    def select_rows(self, selector: Selector) -> list[Row]:
        found = self._selected.get(selector)
        if found is None:
            positions = self._match(selector)
            points = self.rows
            found = list(points) if positions is None else [points[i] for i in positions]
            self._selected[selector] = found
        return found

    def select(self, selector: Selector) -> list[LatestValue]:
        found = self._values.get(selector)
        if found is None:
            found = self._values[selector] = [_value(r) for r in self.select_rows(selector)]
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

    def rows(self, selector: Selector) -> Sequence[Row]:
        return self.select(selector)

    def where(
        self, selector: Selector, key: Hashable, test: Callable[[float], bool]
    ) -> Iterable[LatestValue]:
        return [p for p in self.select(selector) if test(p.value)]

    def history(
        self, selector: Selector, start: float, max_points: int = 500, agg: Aggregation = "max"
    ) -> list[Series]:
        return _history(self.store, self.ranges, self.now, selector, start, max_points, agg)


def _history(
    store: Store,
    ranges: RangeCache,
    now: float,
    selector: Selector,
    start: float,
    max_points: int,
    agg: Aggregation,
) -> list[Series]:
    window = now - start
    key = (str(selector), round(window), max_points, agg)
    # A window's answer may be reused for 1/60 of its length (at most a minute).
    ttl = min(60.0, window / 60.0)
    found = ranges.get(key, now, ttl)
    if found is None:
        found = store.query_range(
            selector.metric,
            selector.equalities,
            start,
            now,
            step=window / max_points,
            agg=agg,
            max_points=max_points,
        )
        ranges.put(key, now, found)
    return [s for s in found if selector.matches(s.label_dict)]


class FollowingView:
    """Keeps the latest values of the metrics rules read, and reads only what changed.

    The first ``refresh`` reads every series of those metrics; each later one asks
    the store for what was written since (``Store.latest_since``) and puts it in
    place. Series nobody writes any more stay with their old time, which is what
    absent rules judge. Ranges are read like ``LiveView`` does.
    """

    def __init__(
        self,
        store: Store,
        started: float,
        metrics: Collection[str] | None = None,
        ranges: RangeCache | None = None,
    ) -> None:
        self.store = store
        self.now = started
        self.started = started
        self.metrics = None if metrics is None else frozenset(metrics)
        self.ranges = ranges or RangeCache()
        self.cursor: int | None = None
        self._metrics: dict[str, _Index] = {}
        self.changed = 0  # series read by the last refresh

    def refresh(self, now: float) -> FollowingView:
        """Read what was written since the last refresh (everything, the first time)."""
        changes = self.store.latest_since(self.cursor, self.metrics)
        by_metric: dict[str, list[Row]] = defaultdict(list)
        for row in changes.rows:
            by_metric[row[0]].append(row)
        for name, rows in by_metric.items():
            index = self._metrics.get(name)
            if index is None:
                self._metrics[name] = _Index(rows)
            else:
                index.apply(rows)
        self.cursor = changes.cursor
        self.changed = len(changes.rows)
        self.now = now
        return self

    def select(self, selector: Selector) -> list[LatestValue]:
        index = self._metrics.get(selector.metric)
        return [] if index is None else index.select(selector)

    def rows(self, selector: Selector) -> Sequence[Row]:
        index = self._metrics.get(selector.metric)
        return [] if index is None else index.select_rows(selector)

    def where(
        self, selector: Selector, key: Hashable, test: Callable[[float], bool]
    ) -> Iterable[LatestValue]:
        index = self._metrics.get(selector.metric)
        return () if index is None else index.holding(selector, key, test)

    def history(
        self, selector: Selector, start: float, max_points: int = 500, agg: Aggregation = "max"
    ) -> list[Series]:
        return _history(self.store, self.ranges, self.now, selector, start, max_points, agg)


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

    def rows(self, selector: Selector) -> Sequence[Row]:
        return self.select(selector)

    def where(
        self, selector: Selector, key: Hashable, test: Callable[[float], bool]
    ) -> Iterable[LatestValue]:
        return [p for p in self.select(selector) if test(p.value)]

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
