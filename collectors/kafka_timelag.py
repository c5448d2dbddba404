"""Kafka time lag: exact from the record at the committed offset, else estimated from log-end history.

Exact: a dedicated consumer reads the first record at or after a group's
committed offset; now minus that record's timestamp is how long the oldest
unread message has waited. Results are cached per (topic, partition, offset),
since a record's timestamp never changes.

Estimated: lagwatch remembers, per partition, when each log-end offset was
first and last seen. The record at offset c appeared after the last time the
end was ≤ c and no later than the first time it was > c; we interpolate inside
that bracket. An idle producer adds no points, so it cannot stretch the
estimate; a backlog older than the history gives a lower bound, said as such.
"""

from __future__ import annotations

import bisect
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

TP = tuple[str, int]


class LagMethod(IntEnum):
    """How a time-lag value was obtained; the value is what the ``*_lag_method`` series holds."""

    NONE = 0  # no messages wait: 0 s by definition
    EXACT = 1  # timestamp of the record at the committed offset
    ESTIMATED = 2  # interpolated from log-end offset history
    AT_LEAST = 3  # backlog older than the history: a lower bound
    UNAVAILABLE = 4  # no value this cycle; the series is not written


@dataclass(frozen=True, slots=True)
class TimeLag:
    """A time lag and how it was obtained (``seconds`` is None when unavailable)."""

    seconds: float | None
    method: LagMethod
    why: str = ""


# -- estimated -----------------------------------------------------------------


class EndOffsetHistory:
    """Per partition, the log-end offsets seen and when: [end, first_seen, last_seen] rows, end ascending."""

    def __init__(self, span: float, max_points: int = 240) -> None:
        self.span = span
        self.max_points = max_points
        self._rows: dict[TP, list[list[float]]] = {}

    def observe(self, tp: TP, end: int, ts: float) -> None:
        rows = self._rows.get(tp)
        if rows is None or (rows and end < rows[-1][0]):
            # New partition, or the log went backwards (topic recreated): start over.
            self._rows[tp] = [[end, ts, ts]]
            return
        last = rows[-1]
        if last[0] == end:
            last[2] = ts
            return
        rows.append([end, ts, ts])
        while len(rows) > 1 and rows[1][2] < ts - self.span:
            del rows[0]
        if len(rows) > self.max_points:
            # Thin the older half: dropping a row only widens one bracket, never lies.
            half = len(rows) // 2
            rows[1:half] = rows[1:half:2]

    def forget(self, keep: set[TP]) -> None:
        for tp in [tp for tp in self._rows if tp not in keep]:
            del self._rows[tp]

    def estimate(self, tp: TP, offset: int, now: float) -> TimeLag:
        """Return the estimated age of the record at ``offset``."""
        rows = self._rows.get(tp)
        if not rows:
            return TimeLag(None, LagMethod.UNAVAILABLE, "no log-end history yet")
        i = bisect.bisect_right([r[0] for r in rows], offset)
        if i >= len(rows):
            return TimeLag(None, LagMethod.UNAVAILABLE, "offset beyond the known log end")
        if i == 0:
            return TimeLag(
                max(0.0, now - rows[0][1]),
                LagMethod.AT_LEAST,
                "the backlog is older than lagwatch's log-end history",
            )
        end_before, _, last_seen_before = rows[i - 1]
        end_after, first_seen_after, _ = rows[i]
        share = (offset - end_before + 1) / (end_after - end_before)
        appeared = last_seen_before + share * (first_seen_after - last_seen_before)
        return TimeLag(
            max(0.0, now - appeared), LagMethod.ESTIMATED, "interpolated from log-end history"
        )

    def seed(self, tp: TP, points: list[tuple[float, float]]) -> None:
        """Fill a partition's history from stored (ts, log-end) points, oldest first."""
        for ts, end in points:
            self.observe(tp, int(end), ts)


# -- exact -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoRecord:
    """Nothing readable between the offset and ``end``: only transaction markers or aborted records."""

    end: int


Found = float | NoRecord

# Read forward through at most this many offsets to reach the next wanted
# offset of the same partition; farther than that, seek.
SEEK_GAP = 500


class RecordTimestamps:
    """Reads record timestamps with its own consumer; it never joins a group or commits."""

    def __init__(self, settings: Mapping[str, Any], cache_size: int = 200_000) -> None:
        self._settings = {
            **settings,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "max.partition.fetch.bytes": 65536,
            "fetch.wait.max.ms": 50,
            "queued.max.messages.kbytes": 16384,
        }
        self._consumer: Consumer | None = None
        self._cache: OrderedDict[tuple[str, int, int], float] = OrderedDict()
        self._empty: dict[tuple[str, int, int], int] = {}
        self._cache_size = cache_size
        self.fetched = 0
        self.cached = 0

    def cached_lookup(self, tp: TP, offset: int, end: int) -> Found | None:
        key = (tp[0], tp[1], offset)
        ts = self._cache.get(key)
        if ts is not None:
            self._cache.move_to_end(key)
            return ts
        if self._empty.get(key) == end:
            return NoRecord(end)
        return None

    def lookup(
        self, wanted: Mapping[TP, set[int]], ends: Mapping[TP, int], timeout: float
    ) -> dict[tuple[TP, int], Found]:
        """Return the timestamp (s) of the first record at or after each wanted offset, within ``timeout``.

        Offsets not resolved in time are left out; the caller falls back to the
        estimate for those.
        """
        found: dict[tuple[TP, int], Found] = {}
        pending: dict[TP, list[int]] = {}
        for tp, offsets in wanted.items():
            todo = []
            for offset in sorted(offsets):
                hit = self.cached_lookup(tp, offset, ends[tp])
                if hit is None:
                    todo.append(offset)
                else:
                    found[(tp, offset)] = hit
                    self.cached += 1
            if todo:
                pending[tp] = todo
        if pending:
            self._read(pending, found, time.monotonic() + timeout)
        return found

    def _read(
        self, pending: dict[TP, list[int]], found: dict[tuple[TP, int], Found], deadline: float
    ) -> None:
        consumer = self._get_consumer()
        consumer.assign([TopicPartition(t, p, offs[0]) for (t, p), offs in pending.items()])
        try:
            while pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                for message in consumer.consume(num_messages=5000, timeout=min(0.05, left)):
                    tp = (message.topic() or "", message.partition() or 0)
                    offsets = pending.get(tp)
                    if offsets is None:
                        continue
                    offset = message.offset() or 0
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            for wanted in offsets:
                                if wanted < offset:
                                    self._remember_empty(tp, wanted, offset, found)
                        # Any other error (deleted topic, ...) leaves the rest to the estimate.
                        del pending[tp]
                        continue
                    kind, ts_ms = message.timestamp()
                    while offsets and offsets[0] <= offset:
                        wanted = offsets.pop(0)
                        if kind != 0 and ts_ms >= 0:
                            self._remember(tp, wanted, ts_ms / 1000.0, found)
                    if not offsets:
                        del pending[tp]
                    elif offsets[0] > offset + SEEK_GAP:
                        consumer.seek(TopicPartition(tp[0], tp[1], offsets[0]))
        finally:
            consumer.unassign()

    def _remember(self, tp: TP, offset: int, ts: float, found: dict[tuple[TP, int], Found]) -> None:
        found[(tp, offset)] = ts
        self.fetched += 1
        self._cache[(tp[0], tp[1], offset)] = ts
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _remember_empty(
        self, tp: TP, offset: int, end: int, found: dict[tuple[TP, int], Found]
    ) -> None:
        found[(tp, offset)] = NoRecord(end)
        self.fetched += 1
        if len(self._empty) >= self._cache_size:
            self._empty.clear()
        self._empty[(tp[0], tp[1], offset)] = end

    def _get_consumer(self) -> Consumer:
        if self._consumer is None:
            try:
                self._consumer = Consumer(self._settings)
            except KafkaException as exc:
                raise RuntimeError(f"cannot create the timestamp consumer: {exc}") from None
        return self._consumer

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
