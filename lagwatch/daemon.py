"""The daemon: wires store, collectors, runner, scheduler and /metrics in one place.

Started in order "things taking requests before things sending requests":
store, runner, /metrics, the alert service, then the collector jobs. Stopped
in reverse, with a final flush of buffered samples.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from lagwatch.alerts.build import build_service
from lagwatch.alerts.service import AlertService
from lagwatch.alerts.topology import Topology, linked_connectors, links_from
from lagwatch.build import build_all
from lagwatch.collectors.base import Collector, CollectorContext
from lagwatch.collectors.runner import UP, Runner, RunResult
from lagwatch.config import LagwatchConfig
from lagwatch.fleet import Fleet, SoloFleet
from lagwatch.logs import Redactor
from lagwatch.metrics_http import serve_metrics
from lagwatch.store import Store, StoreUnavailable, open_store

log = logging.getLogger("lagwatch.daemon")

FLUSH_EVERY = 2.0
FINAL_FLUSH_SECONDS = 10.0


class Daemon:
    """Everything `lagwatch run` and `lagwatch collect --once` need, built from one config."""

    def __init__(self, config: LagwatchConfig, store: Store | None = None) -> None:
        self.config = config
        self.redact = Redactor(config.secrets())
        self.store = store or open_store(config.store)
        _create_schema(self.store)
        self.runner = Runner(self.store, config.store.buffer_samples, redact=self.redact)
        reader = open_store(config.store, read_only=True) if store is None else store
        self.context = CollectorContext(store=reader)
        self.collectors: list[Collector] = build_all(config, self.context)
        self.alerts: AlertService | None = None
        if config.alerts.enabled:
            # The engine evaluates right after each collection cycle; its samples go through
            # the runner like every other sample. Pipelines (when configured) tell it which
            # source each consumer group depends on.
            kafka = [k.name for k in config.kafka]
            links = links_from(
                config.pipelines, kafka, config.sources, linked_connectors(config.connect)
            )
            topology = Topology(links)
            self.alerts = build_service(
                config.alerts, self.store, self.runner.submit, self.redact, topology
            )
            self.runner.after_cycle.append(self.alerts.wake)
        self._scheduler: BackgroundScheduler | None = None
        self._metrics: Any = None
        self._stopped = threading.Event()
        # Alone (SQLite, `collect --once`) this daemon runs everything; `start` joins the
        # fleet on a PostgreSQL store, which then decides what runs here.
        self.fleet: Fleet | SoloFleet = SoloFleet()
        self._by_name = {c.name: c for c in self.collectors}
        self._stale: set[str] = set()  # run elsewhere since they last ran here: rebuild first
        self._rebuild_lock = threading.Lock()

    # -- one pass --------------------------------------------------------------

    def collect_once(self) -> list[RunResult]:
        """Run every collector once, concurrently, write the results and roll up."""
        if not self.collectors:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(self.collectors))) as pool:
            results = list(pool.map(self.runner.run, self.collectors))
        self._maintain()
        return results

    def _maintain(self) -> None:
        if not self.runner.flush():
            return
        now = time.time()
        try:
            self.store.maintain(now)
            for collector in self.collectors:
                retention: dict[str, float] = getattr(collector, "record_retention", {})
                for namespace, keep in retention.items():
                    self.store.delete_records(namespace, older_than=now - keep)
        except StoreUnavailable as exc:
            log.warning("store maintenance skipped: %s", self.redact(str(exc)))

    # -- the daemon ------------------------------------------------------------

    # -- the fleet -------------------------------------------------------------

    def _join_fleet(self) -> None:
        url = self.config.store.url.get_secret_value()
        if not url.startswith("postgresql"):
            return
        self.fleet = Fleet(
            url,
            [c.name for c in self.collectors],
            [c.interval for c in self.collectors],
            want_alerts=self.alerts is not None,
            on_gained=self._gained,
            on_lost=self._lost,
            on_leader=self.alerts.wake if self.alerts is not None else lambda: None,
        )
        self.runner.ran_by = self.fleet.daemon_id
        if self.alerts is not None:
            self.alerts.follow(self.fleet.lead_alerts)

    def _names(self, shards: set[int]) -> list[str]:
        assert isinstance(self.fleet, Fleet)
        return [n for n, s in self.fleet.collectors.items() if s in shards]

    def _gained(self, shards: set[int]) -> None:
        """Run the collectors of newly held shards when they are due: one interval after their
        last run in the store (whoever ran it), or now if that is past, rather than at this
        daemon's own next tick. Not before: a daemon killed just after a run has had that
        cycle, and a second run within it would be a cycle collected twice."""
        scheduler = self._scheduler
        names = self._names(shards)
        if scheduler is None or not names:
            return
        last = self._last_runs()
        now = time.time()
        for name in names:
            due = max(now, last.get(name, 0.0) + self._by_name[name].interval)
            try:
                scheduler.modify_job(name, next_run_time=datetime.fromtimestamp(due).astimezone())
            except Exception:  # the job is gone: shutting down
                log.debug("no job for %s", name)

    def _last_runs(self) -> dict[str, float]:
        """When each collector last ran, by its health series in the store ({} if unreadable)."""
        try:
            return {
                v.label_dict.get("collector", ""): v.ts
                for v in (self.context.store or self.store).latest(UP)
            }
        except StoreUnavailable as exc:
            log.debug("last runs not readable: %s", exc)
            return {}

    def _lost(self, shards: set[int]) -> None:
        """Their collectors run elsewhere now: rebuild them before they run here again."""
        names = self._names(shards)
        with self._rebuild_lock:
            self._stale.update(names)
        if names:
            log.info("fleet: %d collectors now run elsewhere: %s", len(names), ", ".join(names))

    def _collector(self, name: str) -> Collector:
        """The collector to run: a fresh one if it ran in another daemon since it last ran here,
        so it restores its state (Kafka windows, inactive timers) from the store again."""
        with self._rebuild_lock:
            if name not in self._stale:
                return self._by_name[name]
            self._stale.discard(name)
        fresh = {c.name: c for c in build_all(self.config, self.context)}
        old = self._by_name[name]
        self._by_name[name] = fresh.pop(name)
        for spare in [old, *fresh.values()]:
            try:
                spare.close()
            except Exception:
                log.exception("closing %s failed", spare.name)
        return self._by_name[name]

    def _run(self, name: str) -> None:
        """One scheduled run: only where the fleet says this collector belongs, under a fresh lease."""
        if not self.fleet.claim(name):
            return
        try:
            self.runner.run(self._collector(name))
        finally:
            self.fleet.release(name)

    def _fleet_samples(self) -> None:
        self.runner.submit(self.fleet.samples(time.time()))

    # -- the daemon ------------------------------------------------------------

    def start(self) -> None:
        """Start /metrics, join the fleet (PostgreSQL), and one scheduled job per collector."""
        # The collectors list is the one to run (an embedding program may add to it).
        self._by_name = {c.name: c for c in self.collectors}
        self._join_fleet()
        if self.config.daemon.metrics_listen:
            self._metrics = serve_metrics(
                self.context.store or self.store, self.config.daemon.metrics_listen
            )
        if self.alerts is not None:
            self.alerts.start()
        self.fleet.start()
        scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            executors={
                "default": {"type": "threadpool", "max_workers": max(4, len(self.collectors) + 2)}
            },
        )
        now = datetime.now().astimezone()
        for collector in self.collectors:
            scheduler.add_job(
                self._run,
                IntervalTrigger(seconds=collector.interval, jitter=self.config.daemon.jitter),
                args=[collector.name],
                id=collector.name,
                name=collector.name,
                next_run_time=now,
            )
        scheduler.add_job(self.runner.flush, IntervalTrigger(seconds=FLUSH_EVERY), id="flush")
        if self.fleet.enabled:
            scheduler.add_job(self._fleet_samples, IntervalTrigger(seconds=FLUSH_EVERY), id="fleet")
        scheduler.add_job(
            self._maintain,
            IntervalTrigger(seconds=self.config.store.maintain_every),
            id="maintain",
            next_run_time=now + timedelta(seconds=5),
        )
        self._scheduler = scheduler
        scheduler.start()
        if self.fleet.enabled:
            log.info("lagwatch fleet member: %d collectors in the config", len(self.collectors))
        else:
            log.info("lagwatch running %d collectors", len(self.collectors))

    def stop(self) -> None:
        """Stop the jobs, flush what is buffered, close sources and the store."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        if self.alerts is not None:
            self.alerts.stop()
        # Leave the fleet after the last run here: the others take the shards at their next tick.
        self.fleet.stop()
        deadline = time.monotonic() + FINAL_FLUSH_SECONDS
        while not self.runner.flush() and time.monotonic() < deadline:
            time.sleep(0.5)
        if self.runner.buffered:
            log.error(
                "store still unavailable at shutdown: %d samples not written", self.runner.buffered
            )
        if self._metrics is not None:
            self._metrics.shutdown()
        for collector in self._by_name.values():
            try:
                collector.close()
            except Exception:
                log.exception("closing %s failed", collector.name)
        if self.context.store is not None and self.context.store is not self.store:
            self.context.store.close()
        self.store.close()

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT, then stop cleanly."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stopped.set())
        self.start()
        self._stopped.wait()
        log.info("stopping: flushing %d buffered samples", self.runner.buffered)
        self.stop()


def _create_schema(store: Store) -> None:
    """Have the writer create a brand-new store's tables before any collector runs.

    Collectors read their own earlier state through a read-only view of the store
    (Kafka lag windows, a slot's inactive time); on a new file that view would
    otherwise find no tables and report an error instead of "nothing saved yet".
    A store that is down now is left to the runner, which buffers until it is back.
    """
    try:
        store.get_record("lagwatch.daemon", "schema")
    except StoreUnavailable:
        log.debug("store not reachable at start; the runner will retry")
