"""The runner: runs collectors, adds their health series, and is the only writer of samples."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lagwatch.collectors.base import Collector
from lagwatch.store import Record, Sample, Store, StoreUnavailable
from lagwatch.store.contracts import ORIGIN_LABEL

log = logging.getLogger("lagwatch.runner")

UP = "lagwatch_collector_up"
DURATION = "lagwatch_collector_duration_seconds"
SAMPLES = "lagwatch_collector_samples"
BUFFERED = "lagwatch_store_buffered_samples"
DROPPED = "lagwatch_store_dropped_samples_total"
WRITE_ERRORS = "lagwatch_store_write_errors_total"

AfterCycle = Callable[[str, float], None]


@dataclass
class RunResult:
    """What one run of one collector produced."""

    collector: str
    ok: bool
    duration: float
    samples: int
    error: str | None = None
    records: int = 0


class Runner:
    """Runs each collector with a timeout and writes what it yields, buffering while the store is down.

    Failure policy: a collector that raises or overruns its timeout never stops
    the runner; it becomes ``lagwatch_collector_up=0`` with the error as note.
    A store that is down keeps samples in a bounded buffer, oldest dropped
    first and counted in ``lagwatch_store_dropped_samples_total``.
    """

    def __init__(
        self,
        store: Store,
        buffer_samples: int = 1_000_000,
        redact: Callable[[str], str] = lambda text: text,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.redact = redact
        self.clock = clock
        self.after_cycle: list[AfterCycle] = []
        self._buffer: deque[Sample] = deque()
        self._records: deque[Record] = deque()
        self._buffer_max = buffer_samples
        self._dropped = 0
        self._write_errors = 0
        self._write_lock = threading.Lock()
        self._stuck: dict[str, threading.Thread] = {}
        self.store_error: str | None = None
        # Who ran it, as the note of the duration series (a fleet daemon's id); None alone.
        self.ran_by: str | None = None

    # -- collecting ----------------------------------------------------------

    def run(self, collector: Collector) -> RunResult:
        """Run one collection of ``collector``, write its samples, then notify listeners."""
        started = self.clock()
        t0 = time.monotonic()
        found: list[Sample | Record] = []
        error: str | None = None
        stuck = self._stuck.get(collector.name)
        if stuck is not None and stuck.is_alive():
            error = f"previous run still stuck after its {collector.timeout:g}s timeout; skipped"
        else:
            self._stuck.pop(collector.name, None)
            found, error = self._collect_with_timeout(collector)
        samples = [item for item in found if isinstance(item, Sample)]
        records = [item for item in found if isinstance(item, Record)]
        duration = time.monotonic() - t0
        ok = error is None
        if error is not None:
            error = self.redact(error)
            log.warning("collector %s failed: %s", collector.name, error)
        now = self.clock()
        labels = {"collector": collector.name}
        origins = getattr(collector, "origins", ())
        if origins:
            labels[ORIGIN_LABEL] = ",".join(origins)
        health = [
            Sample.of(UP, 1.0 if ok else 0.0, now, note=error, **labels),
            Sample.of(DURATION, duration, now, note=self.ran_by, **labels),
            Sample.of(SAMPLES, len(samples), now, **labels),
        ]
        self.submit(samples + health, records)
        for listener in self.after_cycle:
            try:
                listener(collector.name, started)
            except Exception:
                log.exception("after-cycle listener failed for %s", collector.name)
        return RunResult(collector.name, ok, duration, len(samples), error, len(records))

    def _collect_with_timeout(
        self, collector: Collector
    ) -> tuple[list[Sample | Record], str | None]:
        box: dict[str, object] = {}

        def work() -> None:
            try:
                box["samples"] = list(collector.collect())
            except Exception as exc:  # any failure of a source is data, not a crash
                box["error"] = _describe(exc)

        thread = threading.Thread(target=work, name=f"collect:{collector.name}", daemon=True)
        thread.start()
        thread.join(collector.timeout)
        if thread.is_alive():
            self._stuck[collector.name] = thread
            return [], f"timed out after {collector.timeout:g}s"
        if "error" in box:
            return [], str(box["error"])
        found = box.get("samples", [])
        assert isinstance(found, list)
        return found, None

    # -- writing -------------------------------------------------------------

    def submit(self, samples: Sequence[Sample], records: Sequence[Record] = ()) -> None:
        """Queue samples and records and try to write everything queued."""
        with self._write_lock:
            self._buffer.extend(samples)
            self._records.extend(records)
            # Records share the bound: a long outage keeps the newest of each.
            overflow = _trim(self._buffer, self._buffer_max) + _trim(
                self._records, self._buffer_max
            )
            if overflow > 0:
                self._dropped += overflow
                log.error(
                    "store buffer full: dropped the %d oldest samples (%d in all)",
                    overflow,
                    self._dropped,
                )
        self.flush()

    def flush(self) -> bool:
        """Write the buffer; return False (keeping the samples) if the store is unavailable."""
        with self._write_lock:
            if not self._buffer and not self._records:
                return True
            batch = list(self._buffer)
            records = list(self._records)
            now = self.clock()
            bookkeeping = [
                Sample.of(BUFFERED, 0, now),
                Sample.of(DROPPED, self._dropped, now),
                Sample.of(WRITE_ERRORS, self._write_errors, now),
            ]
            try:
                # Records first: a retry after a failed sample write rewrites them harmlessly.
                self.store.put_records(records)
                self._records.clear()
                self.store.write(batch + bookkeeping)
            except StoreUnavailable as exc:
                self._write_errors += 1
                message = self.redact(str(exc))
                if self.store_error != message:
                    log.error(
                        "store unavailable, holding %d samples until it returns: %s",
                        len(batch),
                        message,
                    )
                self.store_error = message
                return False
            if self.store_error is not None:
                log.warning("store is back; wrote %d buffered samples", len(batch))
            self.store_error = None
            self._buffer.clear()
            return True

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def dropped(self) -> int:
        return self._dropped


def _trim(queue: deque[Sample] | deque[Record], keep: int) -> int:
    """Drop the oldest items past ``keep``; return how many went."""
    dropped = max(0, len(queue) - keep)
    for _ in range(dropped):
        queue.popleft()
    return dropped


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return text if text else type(exc).__name__
