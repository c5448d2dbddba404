"""The runner turns failures into health series and keeps samples while the store is away."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pytest

from lagwatch.collectors.runner import Runner
from lagwatch.store import Sample, StoreUnavailable
from lagwatch.store.sqlite import SqliteStore


class Source:
    """A collector whose behaviour each test sets."""

    def __init__(self, name: str, behaviour: str = "ok", timeout: float = 1.0) -> None:
        self.name, self.behaviour, self.timeout, self.interval = name, behaviour, timeout, 1.0
        self.release = threading.Event()
        self.runs = 0

    def collect(self) -> Iterable[Sample]:
        if self.behaviour == "raise":
            raise ConnectionError("connection to 127.0.0.1:1 refused; password=hunter2")
        if self.behaviour == "hang":
            self.release.wait(10)
        self.runs += 1
        yield Sample.of("lagwatch_test_value", 42, time.time() - 10 + self.runs, source=self.name)

    def check(self) -> None:
        pass

    def close(self) -> None:
        self.release.set()


class FlakyStore(SqliteStore):
    """A real SQLite store that can be switched off, as a network store would go away."""

    down = False

    def write(self, samples: Sequence[Sample]) -> None:
        if self.down:
            raise StoreUnavailable("connection refused")
        super().write(samples)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FlakyStore]:
    db = FlakyStore(tmp_path / "db")
    yield db
    db.close()


def health(store: SqliteStore, name: str, collector: str) -> tuple[float, str | None]:
    [value] = store.latest(name, {"collector": collector})
    return value.value, value.note


def test_successful_run_writes_samples_and_health(store: FlakyStore) -> None:
    result = Runner(store).run(Source("good"))
    assert result.ok and result.samples == 1
    assert store.latest("lagwatch_test_value")[0].value == 42
    assert health(store, "lagwatch_collector_up", "good") == (1.0, None)
    assert health(store, "lagwatch_collector_samples", "good")[0] == 1


def test_raising_collector_is_down_with_its_error_redacted(store: FlakyStore) -> None:
    runner = Runner(store, redact=lambda text: text.replace("hunter2", "***"))
    result = runner.run(Source("bad", "raise"))
    assert not result.ok
    up, note = health(store, "lagwatch_collector_up", "bad")
    assert up == 0 and note is not None
    assert "connection to 127.0.0.1:1 refused" in note and "hunter2" not in note
    assert runner.run(Source("good")).ok  # the runner carries on


def test_hanging_collector_times_out_and_is_skipped_while_stuck(store: FlakyStore) -> None:
    runner = Runner(store)
    source = Source("slow", "hang", timeout=0.3)
    started = time.monotonic()
    first = runner.run(source)
    assert time.monotonic() - started < 2
    assert first.error == "timed out after 0.3s"
    second = runner.run(source)
    assert second.error is not None and "still stuck" in second.error
    source.release.set()
    time.sleep(0.2)
    assert runner.run(Source("slow")).ok
    assert health(store, "lagwatch_collector_duration_seconds", "slow")[0] < 0.3


def test_samples_wait_in_the_buffer_while_the_store_is_down(store: FlakyStore) -> None:
    runner = Runner(store)
    store.down = True
    source = Source("good")
    for _ in range(3):
        runner.run(source)
    assert runner.buffered == 3 * 4 and store.latest() == []
    store.down = False
    assert runner.flush()
    assert runner.buffered == 0
    [series] = store.query_range(
        "lagwatch_test_value", None, time.time() - 60, time.time() + 1, max_points=10**6
    )
    assert len(series.points) == 3
    [errors] = store.latest("lagwatch_store_write_errors_total")
    assert errors.value == 3
    assert store.latest("lagwatch_store_dropped_samples_total")[0].value == 0


def test_buffer_is_bounded_and_counts_what_it_drops(store: FlakyStore) -> None:
    runner = Runner(store, buffer_samples=10)
    store.down = True
    runner.submit([Sample.of("lagwatch_test_value", i, 1000.0 + i) for i in range(25)])
    assert runner.buffered == 10 and runner.dropped == 15
    store.down = False
    runner.flush()
    [series] = store.query_range("lagwatch_test_value", None, 0, 2000, max_points=10**6)
    assert [v for _, v in series.points] == list(range(15, 25))  # the newest are kept
    assert store.latest("lagwatch_store_dropped_samples_total")[0].value == 15


def test_after_cycle_listeners_run_after_each_write(store: FlakyStore) -> None:
    runner = Runner(store)
    seen: list[tuple[str, float]] = []

    def listener(collector: str, started: float) -> None:
        assert store.latest("lagwatch_collector_up", {"collector": collector})
        seen.append((collector, started))

    runner.after_cycle.append(listener)
    runner.run(Source("good"))
    assert [c for c, _ in seen] == ["good"]
