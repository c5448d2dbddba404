"""The estimated time lag: interpolation over lagwatch's own log-end history."""

from __future__ import annotations

import pytest

from lagwatch.collectors.kafka.timelag import EndOffsetHistory, LagMethod

TP = ("orders", 0)


def test_steady_producer_interpolates_inside_one_poll() -> None:
    # Given 10 messages/s observed every 10 s, offset 1,050 was written at t=105.
    history = EndOffsetHistory(span=3600)
    for t in range(0, 301, 10):
        history.observe(TP, 1000 + t * 10, float(t))
    lag = history.estimate(TP, 1050, 300.0)
    assert lag.method == LagMethod.ESTIMATED
    # Record 1,050 is the 51st of the 100 written between t=0 and t=10.
    assert lag.seconds == pytest.approx(300 - 5.1)


def test_idle_producer_does_not_stretch_the_estimate() -> None:
    # Given a producer idle from t=0 to t=590 that writes 100 messages at t≈595,
    # the record cannot be older than the last time the end was seen unchanged (t=590).
    history = EndOffsetHistory(span=3600)
    for t in range(0, 591, 10):
        history.observe(TP, 500, float(t))
    history.observe(TP, 600, 600.0)
    lag = history.estimate(TP, 550, 660.0)
    assert lag.method == LagMethod.ESTIMATED
    assert 60 <= (lag.seconds or 0) <= 70


def test_backlog_older_than_history_is_a_lower_bound() -> None:
    history = EndOffsetHistory(span=3600)
    for t in range(100, 201, 10):
        history.observe(TP, 5000 + t, float(t))
    lag = history.estimate(TP, 10, 200.0)
    assert lag.method == LagMethod.AT_LEAST
    assert lag.seconds == pytest.approx(100.0)


def test_unknown_partition_gives_no_number() -> None:
    lag = EndOffsetHistory(span=3600).estimate(TP, 10, 200.0)
    assert lag.method == LagMethod.UNAVAILABLE and lag.seconds is None


def test_thinning_keeps_the_estimate_bracketed() -> None:
    # Given far more polls than rows kept, old rows are thinned; the answer stays inside its bracket.
    history = EndOffsetHistory(span=10**6, max_points=20)
    for t in range(0, 2001, 10):
        history.observe(TP, t, float(t))
    rows = history.rows(TP)
    assert len(rows) <= 20
    assert rows[0][0] == 0
    lag = history.estimate(TP, 555, 2000.0)
    assert lag.method == LagMethod.ESTIMATED
    assert 2000 - 1000 <= (lag.seconds or 0) <= 2000 - 400


def test_a_recreated_topic_starts_a_new_history() -> None:
    history = EndOffsetHistory(span=3600)
    history.observe(TP, 1000, 0.0)
    history.observe(TP, 10, 10.0)
    assert history.rows(TP) == [(10, 10.0, 10.0)]
