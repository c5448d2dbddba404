"""Pure functions rules are made of: aggregation, range functions, trends and burn rates."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

Points = Sequence[tuple[float, float]]


def aggregate(
    items: Iterable[tuple[dict[str, str], float, float]], op: str, by: Sequence[str]
) -> list[tuple[dict[str, str], float, float]]:
    """Return one (labels, value, newest ts) per distinct value of the ``by`` labels.

    NaN values are left out: an unknown value must neither raise nor hide a max.
    """
    groups: Groups = {}
    for labels, value, ts in items:
        if math.isnan(value):
            continue
        key = tuple(labels.get(b, "") for b in by)
        found = groups.get(key)
        if found is None:
            found = groups[key] = ([], [])
        found[0].append(value)
        found[1].append(ts)
    return combine(groups, op, by)


# The values and times of each group, by the values of its ``by`` labels.
Groups = dict[tuple[str, ...], tuple[list[float], list[float]]]


def combine(
    groups: Groups, op: str, by: Sequence[str]
) -> list[tuple[dict[str, str], float, float]]:
    """Return what ``aggregate`` does for values already grouped (and NaN left out)."""
    out = []
    for key, (values, times) in groups.items():
        if op == "max":
            result = max(values)
        elif op == "min":
            result = min(values)
        elif op == "sum":
            result = math.fsum(values)
        elif op == "avg":
            result = math.fsum(values) / len(values)
        elif op == "count":
            result = float(len(values))
        else:
            raise ValueError(f"unknown aggregation {op!r}")
        labels = {b: v for b, v in zip(by, key, strict=True) if v}
        out.append((labels, result, max(times)))
    return out


def counter_increase(points: Points) -> float:
    """Return how much a counter grew over the points, counting a drop as a restart from 0."""
    total = 0.0
    for (_, before), (_, after) in zip(points, points[1:], strict=False):
        total += after - before if after >= before else after
    return total


def range_value(function: str, points: Points, window: float) -> float:
    """Return ``function`` (increase, rate, delta, *_over_time) of points spanning ``window``."""
    if not points:
        return math.nan
    values = [v for _, v in points]
    if function == "increase":
        return counter_increase(points)
    if function == "rate":
        return counter_increase(points) / window
    if function == "delta":
        return values[-1] - values[0]
    if function == "max_over_time":
        return max(values)
    if function == "min_over_time":
        return min(values)
    if function == "avg_over_time":
        return math.fsum(values) / len(values)
    raise ValueError(f"unknown range function {function!r}")


def time_to_limit(points: Points, limit: float) -> float:
    """Return seconds until a series growing toward the ceiling ``limit`` reaches it.

    The trend is a least-squares line through ``points``. Infinity when the
    trend is flat or falling, 0 when the newest point is already at the
    ceiling, NaN with fewer than two distinct times.
    """
    if len(points) < 2:
        return math.nan
    last = points[-1][1]
    if last >= limit:
        return 0.0
    n = len(points)
    t0 = points[0][0]
    xs = [t - t0 for t, _ in points]
    ys = [v for _, v in points]
    mean_x, mean_y = math.fsum(xs) / n, math.fsum(ys) / n
    var = math.fsum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return math.nan
    slope = math.fsum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var
    if slope <= 0:
        return math.inf
    return (limit - last) / slope


def error_ratio_from_events(good: float, bad: float) -> float:
    """Return bad ÷ (good + bad) for event counts over a window; NaN with no events."""
    total = good + bad
    return bad / total if total > 0 else math.nan


def error_ratio_from_sli(points: Points, threshold: float) -> float:
    """Return the share of points above ``threshold`` (a freshness SLI); NaN with no points."""
    if not points:
        return math.nan
    return sum(1 for _, v in points if v > threshold) / len(points)


def burn_rate(error_ratio: float, objective_percent: float) -> float:
    """Return how many times faster than allowed the error budget is spent."""
    budget = 1.0 - objective_percent / 100.0
    if math.isnan(error_ratio) or budget <= 0:
        return math.nan
    return error_ratio / budget
