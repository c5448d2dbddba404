"""Rates of monotonic positions (WAL bytes, binlog bytes) over a sliding time window."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

from lagwatch.store import LatestValue, Store


class RateWindow:
    """Per-second rate of a growing position, measured over the last ``window`` seconds.

    A window smooths the bursts a single interval shows (a checkpoint, a bulk
    load), so a time-to-loss derived from it does not jump by orders of
    magnitude between two cycles. A position that goes backwards (a new
    server, a reset counter) starts the window afresh rather than report a
    negative rate.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self._points: deque[tuple[float, float]] = deque()

    def add(self, ts: float, position: float) -> None:
        if self._points:
            last_ts, last_position = self._points[-1]
            if position < last_position:
                self._points.clear()
            elif ts <= last_ts:
                return
        self._points.append((ts, position))
        # Keep one point at or before the window start, so the rate spans the whole window.
        while len(self._points) > 2 and self._points[1][0] <= ts - self.window:
            self._points.popleft()

    def rate(self) -> float | None:
        """Return units per second, or None until two points are known."""
        if len(self._points) < 2:
            return None
        (t0, p0), (t1, p1) = self._points[0], self._points[-1]
        return (p1 - p0) / (t1 - t0)

    @property
    def empty(self) -> bool:
        return not self._points

    @property
    def last(self) -> tuple[float, float] | None:
        """Return the newest (time, position), or None."""
        return self._points[-1] if self._points else None


def newest(store: Store, name: str, labels: Mapping[str, str]) -> float | None:
    """Return the largest latest value of the series ``name`` matching ``labels``, or None."""
    found = newest_reading(store, name, labels)
    return found.value if found else None


def newest_reading(store: Store, name: str, labels: Mapping[str, str]) -> LatestValue | None:
    """Return the latest value (with its time) of the largest series matching, or None."""
    found = store.latest(name, dict(labels))
    return max(found, key=lambda v: v.value) if found else None


def when_reached(points: Sequence[tuple[float, float]], position: float) -> float | None:
    """Return when a growing position first reached ``position``, interpolating between points.

    None when the first point is already past it: the history does not reach back far enough.
    """
    before: tuple[float, float] | None = None
    for ts, value in points:
        if value >= position:
            if before is None:
                return None
            t0, v0 = before
            return t0 + (ts - t0) * (position - v0) / (value - v0) if value > v0 else ts
        before = (ts, value)
    return None


def seconds_behind(behind: float | None, rate: float | None) -> float | None:
    """Return how long a reader ``behind`` bytes takes to catch up at ``rate`` bytes/s written."""
    if behind is None:
        return None
    if behind <= 0:
        return 0.0
    return behind / rate if rate else None
