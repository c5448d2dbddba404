"""The least-squares trend the capacity report extrapolates."""

from __future__ import annotations

import math
import random

import pytest

from lagwatch.reports.fit import fit_line


def test_a_perfect_line_gives_its_slope_and_no_error() -> None:
    points = [(1_700_000_000.0 + 60 * i, 500.0 + 3.0 * 60 * i) for i in range(30)]
    trend = fit_line(points)
    assert trend is not None
    assert trend.slope == pytest.approx(3.0)
    assert trend.value_at_end == pytest.approx(points[-1][1])
    assert trend.slope_error == pytest.approx(0.0, abs=1e-9)
    assert (trend.points, trend.span, trend.end) == (30, 29 * 60.0, points[-1][0])
    assert trend.significant


def test_noise_around_a_slope_is_averaged_out() -> None:
    rng = random.Random(7)
    points = [(60.0 * i, 1000.0 - 0.5 * 60 * i + rng.uniform(-20, 20)) for i in range(120)]
    trend = fit_line(points)
    assert trend is not None
    assert trend.slope == pytest.approx(-0.5, rel=0.02)
    assert 0 < trend.slope_error < 0.05
    assert trend.significant


def test_pure_noise_is_not_a_significant_trend() -> None:
    rng = random.Random(11)
    trend = fit_line([(10.0 * i, 50.0 + rng.uniform(-1, 1)) for i in range(60)])
    assert trend is not None
    assert not trend.significant


def test_too_few_or_simultaneous_points_give_no_line() -> None:
    assert fit_line([]) is None
    assert fit_line([(1.0, 2.0)]) is None
    assert fit_line([(5.0, 1.0), (5.0, 9.0)]) is None
    two = fit_line([(0.0, 0.0), (10.0, 20.0)])
    assert two is not None and two.slope == 2.0 and math.isinf(two.slope_error)


def test_time_to_a_target_only_in_the_direction_of_travel() -> None:
    growing = fit_line([(0.0, 0.0), (10.0, 10.0), (20.0, 20.0)])
    assert growing is not None
    assert growing.time_to(20.0, 100.0) == pytest.approx(80.0)
    assert growing.time_to(20.0, 0.0) is None  # moving away
    assert growing.time_to(20.0, 20.0) == 0.0
    flat = fit_line([(0.0, 5.0), (10.0, 5.0), (20.0, 5.0)])
    assert flat is not None and flat.time_to(5.0, 9.0) is None
