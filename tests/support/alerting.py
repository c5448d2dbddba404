"""A test harness around the real engine and dispatcher over a real SQLite store, with a hand clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lagwatch.alerts.build import build_notifiers
from lagwatch.alerts.config import AlertsConfig
from lagwatch.alerts.engine import Engine
from lagwatch.alerts.notifiers.log import LogNotifier
from lagwatch.alerts.outbox import Dispatcher, RetryPolicy
from lagwatch.alerts.topology import PipelineLink, Topology
from lagwatch.store import Sample
from lagwatch.store.sqlite import SqliteStore

T0 = 1_700_000_000.0


class Harness:
    """Given a store and a config; ``cycle(now)`` evaluates, writes the engine's samples, delivers."""

    def __init__(
        self,
        tmp: Path,
        config: dict[str, Any],
        links: Sequence[PipelineLink] = (),
        store: SqliteStore | None = None,
        real_time: bool = False,
    ) -> None:
        self.tmp = tmp
        self.config_data = config
        self.config = AlertsConfig.model_validate(config)
        self.links = list(links)
        self.store = store or SqliteStore(tmp / "lagwatch.db")
        self.real_time = real_time
        self.offset = 0.0  # real time: how far the hand clock has been moved ahead
        self._now = T0
        self.start()

    @property
    def now(self) -> float:
        return time.time() + self.offset if self.real_time else self._now

    @now.setter
    def now(self, value: float) -> None:
        self._now = value

    def start(self) -> None:
        """(Re)start engine and dispatcher on the same store, as a restarted daemon would."""
        self.engine = Engine(self.store, self.config, Topology(self.links), clock=lambda: self.now)
        d = self.config.delivery
        self.dispatcher = Dispatcher(
            self.store,
            build_notifiers(self.config),
            RetryPolicy(d.retry_initial, d.retry_max, d.give_up_after, d.broken_after),
            clock=lambda: self.now,
            rand=lambda: 1.0,  # backoff without jitter, so tests can check the delays
        )

    def restart(self) -> None:
        self.dispatcher.close()
        self.start()

    def write(self, name: str, value: float, note: str | None = None, **labels: str) -> None:
        self.store.write([Sample.of(name, value, self.now, note=note, **labels)])

    def skip(self, seconds: float) -> None:
        """Move the clock ahead, as if ``seconds`` had passed."""
        if self.real_time:
            self.offset += seconds
        else:
            self._now += seconds

    def cycle(self, at: float | None = None) -> None:
        if at is not None:
            self.now = at
        self.store.write(self.engine.evaluate(self.now))
        self.deliver()

    def deliver(self) -> None:
        self.store.write(self.dispatcher.deliver_due(self.now))

    def log(self, name: str = "log") -> LogNotifier:
        notifier = self.dispatcher.notifiers[name]
        assert isinstance(notifier, LogNotifier)
        return notifier

    def close(self) -> None:
        self.dispatcher.close()
        self.store.close()


class GroupVerdicts:
    """A collector yielding consumer-group status and lag as the Kafka collector does.

    ``set(group, status, lag)`` changes what the next collection reports and
    remembers when, so a test or benchmark can time what follows.
    """

    def __init__(self, cluster: str, interval: float, groups: dict[str, tuple[int, float]]) -> None:
        self.name = f"kafka:{cluster}"
        self.cluster = cluster
        self.interval = interval
        self.timeout = 5.0
        self.groups = dict(groups)
        self.changed_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def set(self, group: str, status: int, lag: float) -> None:
        with self._lock:
            self.groups[group] = (status, lag)
            self.changed_at[group] = time.time()

    def collect(self) -> Iterable[Sample]:
        now = time.time()
        with self._lock:
            items = list(self.groups.items())
        for group, (status, lag) in items:
            note = f"no commit for {lag:.0f}s" if status == 3 else None
            yield Sample.of("lagwatch_kafka_group_status", status, now, note=note,
                            cluster=self.cluster, group=group)  # fmt: skip
            yield Sample.of("lagwatch_kafka_group_max_lag_seconds", lag, now,
                            cluster=self.cluster, group=group)  # fmt: skip

    def check(self) -> None:
        pass

    def close(self) -> None:
        pass
