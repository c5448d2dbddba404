"""Runs the engine right after each collection cycle and the dispatcher beside it, in two threads."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from lagwatch.alerts.engine import Engine
from lagwatch.alerts.outbox import Dispatcher
from lagwatch.store import Sample, StoreUnavailable

log = logging.getLogger("lagwatch.alerts")

LOCK_NAME = "alerts"
LOCK_RETRY = 30.0


class AlertService:
    """The engine and the dispatcher, active only while this process holds the store's alerts lock.

    ``wake`` is what the runner calls after each collection cycle: the engine
    evaluates at once (cycles that end while it runs fold into one more run).
    Samples it and the dispatcher produce go to ``submit`` (the runner).
    """

    def __init__(
        self,
        engine: Engine,
        dispatcher: Dispatcher,
        submit: Callable[[Sequence[Sample]], None],
        evaluate_every: float = 15.0,
        lock: Callable[[], bool] | None = None,
    ) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.submit = submit
        self.evaluate_every = evaluate_every
        # Who may run the engine: by default the store's alerts lock, tried every LOCK_RETRY
        # and then held for good; a fleet passes its own check, asked every time (it can be
        # lost: a stalled daemon's lease runs out and another takes over).
        self._leading = threading.Lock()
        self.lock: Callable[[], bool] | None = None
        self.follow(lock)
        self.active = False
        self._stop = threading.Event()
        self._evaluate = threading.Event()
        self._deliver = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock_tried_at = -LOCK_RETRY
        self.evaluations = 0

    def follow(self, lock: Callable[[], bool] | None) -> None:
        """Run the engine only while ``lock()`` says so, checked before every send too."""
        self.lock = lock
        if lock is not None:
            self.dispatcher.may_send = lock

    def wake(self, *_: object) -> None:
        """Ask for an evaluation now (the runner's after-cycle hook)."""
        self._evaluate.set()

    def start(self) -> None:
        for name, target in (
            ("alerts-deliver", self._deliver_loop),
            ("alerts-eval", self._eval_loop),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._evaluate.set()
        self._deliver.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self.dispatcher.close()

    def _hold_lock(self, now: float) -> bool:
        if self.lock is not None:
            return self._follow_lock(self.lock())
        if self.active:
            return True
        if now - self._lock_tried_at < LOCK_RETRY:
            return False
        self._lock_tried_at = now
        if self.engine.store.try_lock(LOCK_NAME):
            self.active = True
            log.info("this daemon runs the alert engine")
            self.engine.load()
            self._deliver.set()
        else:
            log.info("another lagwatch daemon runs the alert engine on this store; standing by")
        return self.active

    def _follow_lock(self, held: bool) -> bool:
        with self._leading:  # the two loops both ask; load the engine once
            return self._follow(held)

    def _follow(self, held: bool) -> bool:
        if held and not self.active:
            log.info("this daemon runs the alert engine")
            # State and outbox come from the store: whatever the last leader wrote.
            try:
                self.engine.load()
            except Exception as exc:  # the store is down: try again on the next wake
                log.warning("cannot load the alert engine's state yet: %s", exc)
                return False
            self.active = True
            self._deliver.set()
        elif not held and self.active:
            self.active = False
            log.warning("this daemon no longer holds the alert engine's lock; standing by")
        return self.active

    def _eval_loop(self) -> None:
        last = 0.0
        while not self._stop.is_set():
            due = self.engine.next_due()
            wait = self.evaluate_every - (time.monotonic() - last)
            if due is not None:
                wait = min(wait, due - time.time())
            self._evaluate.wait(timeout=max(0.05, wait))
            woken = self._evaluate.is_set()
            self._evaluate.clear()
            if self._stop.is_set() or not self._hold_lock(time.time()):
                continue
            try:
                if woken or time.monotonic() - last >= self.evaluate_every:
                    last = time.monotonic()
                    self.submit(self.engine.evaluate())
                    self.evaluations += 1
                else:
                    self.engine.settle()
            except StoreUnavailable as exc:
                log.warning("alert evaluation skipped, the store is unavailable: %s", exc)
            except Exception:
                log.exception("alert evaluation failed")
            self._deliver.set()

    def _deliver_loop(self) -> None:
        while not self._stop.is_set():
            if self.lock is not None:
                self._follow_lock(self.lock())
            if self.active:
                try:
                    self.submit(self.dispatcher.deliver_due())
                except StoreUnavailable as exc:
                    log.warning("alert delivery paused, the store is unavailable: %s", exc)
                except Exception:
                    log.exception("alert delivery failed")
            due = self.dispatcher.next_due()
            wait = 5.0 if due is None else min(5.0, max(0.05, due - time.time()))
            self._deliver.wait(timeout=wait)
            self._deliver.clear()
