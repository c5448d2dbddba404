"""When each binlog file appeared, and so how long until expiry purges a reader's file.

SQL shows no file times. The server expires a file by its modification time,
which is when it rotated, i.e. when the next file appeared; so lagwatch
remembers, per file number, the last time it knew the file did not exist yet
(``after``) and the first time it saw it (``seen``). ``after`` is a safe lower
bound on the rotation time of the file before: a purge ETA from it is never
later than the real one.

Memory alone would forget this on restart. The collector's own series
``lagwatch_mysql_binlog_current_file_number`` already holds the history (the
newest file number each cycle), so on its first cycle the collector reads it
back from the store (read-only) with ``seed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Appearance:
    """When a file appeared: after ``after`` (None: before lagwatch watched) and by ``seen``."""

    after: float | None
    seen: float


@dataclass(frozen=True)
class PurgeEta:
    """Seconds until a reader's file may be purged by expiry, and what qualifies the figure."""

    seconds: float
    note: str | None


class FileClock:
    """Appearance times of binlog files by number, from history and from each cycle."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._known: dict[int, Appearance] = {}
        # Files numbered up to _base_max were already there at _base_ts.
        self._base_ts: float | None = None
        self._base_max = -1
        self._last_look: float | None = None

    def seed(self, points: Iterable[tuple[float, float]]) -> None:
        """Learn from (time, newest file number) history, oldest first, e.g. store rollups.

        Each time is the start of a bucket holding the highest number seen in
        it; a number first reached in one bucket appeared after the start of
        the bucket before.
        """
        previous: float | None = None
        for ts, value in points:
            number = int(value)
            if self._base_ts is None:
                self._base_ts, self._base_max = ts, number
            else:
                for n in range(max(self._newest() + 1, 0), number + 1):
                    self._known[n] = Appearance(previous, ts)
            previous = ts
        self._last_look = previous

    def observe(self, numbers: Iterable[int], now: float) -> None:
        """Record the files present at ``now``."""
        present = sorted(numbers)
        if not present:
            return
        if self._base_ts is not None and present[-1] < self._newest():
            # Numbering went backwards (RESET MASTER): the history is of other files.
            self._reset()
        if self._base_ts is None:
            self._base_ts, self._base_max = now, present[-1]
        for n in present:
            if n > self._newest():
                self._known[n] = Appearance(self._last_look, now)
        self._last_look = now

    def appearance(self, number: int) -> Appearance | None:
        """Return when file ``number`` appeared, or None if lagwatch never saw it."""
        if number in self._known:
            return self._known[number]
        if self._base_ts is not None and number <= self._base_max:
            return Appearance(None, self._base_ts)
        return None

    def _newest(self) -> int:
        return max([self._base_max, *self._known])


def purge_eta(
    retention: float, next_file: int | None, clock: FileClock, now: float
) -> PurgeEta | None:
    """Return how long until expiry may purge a file whose successor is ``next_file``.

    None when the server never expires files. A file not yet rotated (no
    successor) keeps at least the whole expiry period.
    """
    if retention <= 0:
        return None
    if next_file is None:
        return PurgeEta(retention, "in the current file: its expiry starts when it rotates")
    seen = clock.appearance(next_file)
    if seen is None:
        return None
    if seen.after is not None:
        eta, note = seen.after + retention - now, None
    else:
        eta = seen.seen + retention - now
        note = "at most: the file rotated before lagwatch first looked at this server"
    if eta <= 0:
        return PurgeEta(0.0, "past its expiry: purged at the next rotation or FLUSH BINARY LOGS")
    return PurgeEta(eta, note)
