"""When binlog files appeared, and the purge ETA that follows from it."""

from __future__ import annotations

from lagwatch.collectors.mysql.clock import Appearance, FileClock, purge_eta

DAY = 86400.0


def test_files_present_at_the_first_look_have_unknown_age() -> None:
    clock = FileClock()
    clock.observe([3, 4, 5], now=1000.0)
    assert clock.appearance(3) == Appearance(None, 1000.0)
    assert clock.appearance(5) == Appearance(None, 1000.0)


def test_a_new_file_appeared_after_the_previous_look() -> None:
    clock = FileClock()
    clock.observe([3, 4], now=1000.0)
    clock.observe([3, 4], now=1010.0)
    clock.observe([3, 4, 5, 6], now=1020.0)
    assert clock.appearance(5) == Appearance(1010.0, 1020.0)
    assert clock.appearance(6) == Appearance(1010.0, 1020.0)
    assert clock.appearance(7) is None


def test_history_seeds_appearances_from_the_bucket_before() -> None:
    # Buckets of the newest file number, as the store's max rollup returns them.
    clock = FileClock()
    clock.seed([(600.0, 4.0), (1200.0, 4.0), (1800.0, 6.0)])
    assert clock.appearance(4) == Appearance(None, 600.0)
    assert clock.appearance(6) == Appearance(1200.0, 1800.0)
    clock.observe([5, 6, 7], now=2000.0)
    # After history, the next file appeared after the last bucket's start.
    assert clock.appearance(7) == Appearance(1800.0, 2000.0)


def test_numbering_that_goes_back_forgets_the_old_files() -> None:
    clock = FileClock()
    clock.observe([41, 42], now=100.0)
    clock.observe([1], now=200.0)  # RESET MASTER
    assert clock.appearance(1) == Appearance(None, 200.0)
    assert clock.appearance(42) is None


def test_eta_counts_from_the_rotation_of_the_readers_file() -> None:
    clock = FileClock()
    clock.observe([1], now=0.0)
    clock.observe([1, 2], now=10.0)  # file 1 rotated between 0 and 10
    eta = purge_eta(DAY, next_file=2, clock=clock, now=3600.0)
    assert eta is not None and eta.seconds == DAY - 3600.0 and eta.note is None


def test_eta_of_the_current_file_is_the_whole_expiry() -> None:
    eta = purge_eta(DAY, next_file=None, clock=FileClock(), now=5.0)
    assert eta is not None and eta.seconds == DAY and "current file" in (eta.note or "")


def test_eta_of_a_file_rotated_before_lagwatch_looked_is_an_upper_bound() -> None:
    clock = FileClock()
    clock.observe([1, 2], now=100.0)
    eta = purge_eta(DAY, next_file=2, clock=clock, now=100.0)
    assert eta is not None and eta.seconds == DAY and "at most" in (eta.note or "")


def test_eta_past_expiry_is_zero_and_says_so() -> None:
    clock = FileClock()
    clock.observe([1], now=0.0)
    clock.observe([1, 2], now=10.0)
    eta = purge_eta(60.0, next_file=2, clock=clock, now=500.0)
    assert eta is not None and eta.seconds == 0 and "next rotation" in (eta.note or "")


def test_no_eta_when_files_never_expire() -> None:
    assert purge_eta(0.0, next_file=2, clock=FileClock(), now=1.0) is None
