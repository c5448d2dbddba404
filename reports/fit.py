"""A least-squares line through a series' points: the trend a capacity report extrapolates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Trend:
    """A fitted line: ``slope`` per second, the fitted value at ``end`` and how sure we are.

    ``slope_error`` is the standard error of the slope (0 for a perfect fit); ``points``
    and ``span`` (seconds from first to last point) say how much history backs the line.
    """

    slope: float
    value_at_end: float
    slope_error: float
    points: int
    span: float
    end: float

    @property
    def significant(self) -> bool:
        """True when the slope is more than two standard errors away from zero."""
        return abs(self.slope) > 2 * self.slope_error

    def time_to(self, value: float, target: float) -> float | None:
        """Seconds from ``value`` (now) until the trend reaches ``target``.

        0 when ``value`` is at ``target``; None when the trend is flat or moves away from it.
        """
        gap = target - value
        if gap == 0:
            return 0.0
        seconds = gap / self.slope if self.slope else -1.0
        return seconds if seconds > 0 else None


def fit_line(points: Sequence[tuple[float, float]]) -> Trend | None:
    """Fit value = a + b·t by ordinary least squares, like PromQL's deriv/predict_linear.

    Returns None for fewer than two distinct timestamps, where no line is defined.
    """
    n = len(points)
    if n < 2:
        return None
    # Centre time on its mean so large epoch seconds do not cost precision.
    t_mean = math.fsum(t for t, _ in points) / n
    v_mean = math.fsum(v for _, v in points) / n
    sxx = math.fsum((t - t_mean) ** 2 for t, _ in points)
    if sxx == 0:
        return None
    sxy = math.fsum((t - t_mean) * (v - v_mean) for t, v in points)
    slope = sxy / sxx
    end = max(t for t, _ in points)
    if n > 2:
        residual = math.fsum((v - v_mean - slope * (t - t_mean)) ** 2 for t, v in points)
        slope_error = math.sqrt(residual / (n - 2) / sxx)
    else:
        slope_error = math.inf  # two points say nothing about noise
    return Trend(
        slope=slope,
        value_at_end=v_mean + slope * (end - t_mean),
        slope_error=slope_error,
        points=n,
        span=end - min(t for t, _ in points),
        end=end,
    )
