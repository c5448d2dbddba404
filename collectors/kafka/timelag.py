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
The history is saved in the store (``state.py``) and survives a restart;
an offset written while lagwatch was down is interpolated across the gap.
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


METHOD_NAMES = {m: m.name.lower() for m in LagMethod}


@dataclass(frozen=True, slots=True)
class TimeLag:
    """A time lag and how it was obtained (``seconds`` is None when unavailable)."""

    seconds: float | None
    method: LagMethod
    why: str = ""


# -- estimated -----------------------------------------------------------------


class _Rows:
    """One partition's log-end offsets (ascending) with when each was first and last seen."""

    __slots__ = ("ends", "first", "last")

    def __init__(self, end: int, ts: float) -> None:
        self.ends: list[int] = [end]
        self.first: list[float] = [ts]
        self.last: list[float] = [ts]

    def drop(self, old: slice) -> None:
        del self.ends[old], self.first[old], self.last[old]

    def thin(self, half: int) -> None:
        """Drop every other row of the older half, keeping the oldest."""
        self.ends[1:half] = self.ends[1:half:2]
        self.first[1:half] = self.first[1:half:2]
        self.last[1:half] = self.last[1:half:2]


class EndOffsetHistory:
    """Per partition, each log-end offset seen and when it was first and last seen."""

    def __init__(self, span: float, max_points: int = 240) -> None:
        self.span = span
        self.max_points = max_points
        self._rows: dict[TP, _Rows] = {}

    def observe(self, tp: TP, end: int, ts: float) -> None:
        rows = self._rows.get(tp)
        if rows is None or end < rows.ends[-1]:
            # New partition, or the log went backwards (topic recreated): start over.
            self._rows[tp] = _Rows(end, ts)
            return
        if rows.ends[-1] == end:
            rows.last[-1] = ts
            return
        rows.ends.append(end)
        rows.first.append(ts)
        rows.last.append(ts)
        old = 0
        while old + 1 < len(rows.ends) - 1 and rows.last[old + 1] < ts - self.span:
            old += 1
        if old:
            rows.drop(slice(0, old))
        if len(rows.ends) > self.max_points:
            # Thin the older half: dropping a row only widens one bracket, never lies.
            rows.thin(len(rows.ends) // 2)

    def forget(self, keep: set[TP]) -> None:
        for tp in [tp for tp in self._rows if tp not in keep]:
            del self._rows[tp]

    def snapshot(self) -> dict[TP, tuple[list[int], list[float], list[float]]]:
        """Return every partition's (ends, first seen, last seen) lists, for saving."""
        return {tp: (r.ends, r.first, r.last) for tp, r in self._rows.items()}

    def load(self, tp: TP, ends: list[int], first: list[float], last: list[float]) -> None:
        """Set a partition's rows from a snapshot (ends ascending); the next observation goes on from them."""
        if any(b <= a for a, b in zip(ends, ends[1:], strict=False)):
            raise ValueError("log-end offsets not ascending")
        rows = _Rows(ends[0], first[0])
        rows.ends, rows.first, rows.last = ends, first, last
        self._rows[tp] = rows

    def rows(self, tp: TP) -> list[tuple[int, float, float]]:
        """Return a partition's (end, first_seen, last_seen) rows, oldest first."""
        found = self._rows.get(tp)
        return [] if found is None else list(zip(found.ends, found.first, found.last, strict=True))

    def estimate(self, tp: TP, offset: int, now: float) -> TimeLag:
        """Return the estimated age of the record at ``offset``."""
        rows = self._rows.get(tp)
        if rows is None:
            return TimeLag(None, LagMethod.UNAVAILABLE, "no log-end history yet")
        i = bisect.bisect_right(rows.ends, offset)
        if i >= len(rows.ends):
            return TimeLag(None, LagMethod.UNAVAILABLE, "offset beyond the known log end")
        if i == 0:
            return TimeLag(
                max(0.0, now - rows.first[0]),
                LagMethod.AT_LEAST,
                "the backlog is older than lagwatch's log-end history",
            )
        end_before, last_seen_before = rows.ends[i - 1], rows.last[i - 1]
        end_after, first_seen_after = rows.ends[i], rows.first[i]
        share = (offset - end_before + 1) / (end_after - end_before)
        appeared = last_seen_before + share * (first_seen_after - last_seen_before)
        return TimeLag(
            max(0.0, now - appeared), LagMethod.ESTIMATED, "interpolated from log-end history"
        )


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
        paused: list[TopicPartition] = []
        try:
            while pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                finished: list[TopicPartition] = []
                for message in consumer.consume(num_messages=10000, timeout=min(0.05, left)):
                    tp = (message.topic() or "", message.partition() or 0)
                    offsets = pending.get(tp)
                    offset = message.offset() or 0
                    if offsets is None or offset < offsets[0]:
                        continue  # a finished partition's leftovers, or before the next wanted offset
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            for wanted in offsets:
                                if wanted < offset:
                                    self._remember_empty(tp, wanted, offset, found)
                        # Any other error (deleted topic, ...) leaves the rest to the estimate.
                        del pending[tp]
                        finished.append(TopicPartition(*tp))
                        continue
                    kind, ts_ms = message.timestamp()
                    while offsets and offsets[0] <= offset:
                        wanted = offsets.pop(0)
                        if kind != 0 and ts_ms >= 0:
                            self._remember(tp, wanted, ts_ms / 1000.0, found)
                    if not offsets:
                        del pending[tp]
                        finished.append(TopicPartition(*tp))
                    elif offsets[0] > offset + SEEK_GAP:
                        consumer.seek(TopicPartition(tp[0], tp[1], offsets[0]))
                if finished:
                    # Stop fetching partitions whose offsets are resolved: the rest is not needed.
                    consumer.pause(finished)
                    paused.extend(finished)
        finally:
            # A pause outlives unassign in librdkafka: lift it, or the next lookup reads nothing.
            if paused:
                consumer.resume(paused)
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
