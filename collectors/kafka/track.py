"""Kafka lag state kept between cycles: a bounded window of observations per group and partition.

Per partition the observations of the last window, when the committed offset
last changed, since when messages have waited on it and since when the
partition has lagged at all, and the last verdict (held while a group
rebalances); per group when a commit was last seen (empty-group expiry counts
from there, or from the start). ``state.py`` saves it as store records every
cycle and restores it after a restart, so the verdicts go on as if the
collector had never stopped (see ``PartitionTrack.observe`` for the gap).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from lagwatch.collectors.kafka.read import EMPTY, TP, GroupView
from lagwatch.collectors.kafka.verdict import Point, Verdict

# Observations kept per window: the first of each slice, every drop of the
# committed offset, and the newest; bounds the rules' work whatever the interval.
SLICES_PER_WINDOW = 16


@dataclass(slots=True)
class PartitionTrack:
    """What lagwatch remembers about one partition of one group."""

    watched_since: float
    committed: int | None = None
    committed_since: float = 0.0
    waiting_since: float | None = None
    lagging_since: float | None = None
    points: deque[Point] = field(default_factory=deque)
    verdict: Verdict | None = None
    resumed: bool = False

    def observe(
        self, now: float, committed: int | None, log_end: int, waiting: bool, window: float
    ) -> None:
        """Record one observation; ``waiting`` says whether messages wait to be consumed.

        After a restart (``resumed``) nothing was observed during the gap, and
        only what the offsets prove is kept, since offsets only grow: a commit
        equal on both sides did not move, so its clocks go on (a move and a
        rewind back to it is as invisible as between two cycles); a commit that
        differs moved at an unknown time, so its clocks start now; a partition
        still short of the log end seen before the gap lagged all through it,
        one that reached it may have caught up, so its lagging clock starts now.
        """
        if self.resumed:
            self.resumed = False
            if committed is None or committed >= self.points[-1][2]:
                self.lagging_since = None
        if not self.points or committed != self.committed:
            self.committed = committed
            self.committed_since = now
            self.waiting_since = None
        if not waiting:
            self.waiting_since = self.lagging_since = None
        else:
            self.waiting_since = now if self.waiting_since is None else self.waiting_since
            self.lagging_since = now if self.lagging_since is None else self.lagging_since
        self._keep((now, committed, log_end), window)

    def _keep(self, point: Point, window: float) -> None:
        points = self.points
        if len(points) >= 2:
            before, last = points[-2], points[-1]
            provisional = last[0] - before[0] < window / SLICES_PER_WINDOW
            if provisional and not _dropped(before, last) and not _dropped(last, point):
                points[-1] = point
                return
        points.append(point)
        # Keep the window plus the one observation just before it.
        while len(points) > 2 and points[1][0] <= point[0] - window:
            points.popleft()


def _dropped(before: Point, after: Point) -> bool:
    return before[1] is not None and after[1] is not None and after[1] < before[1]


@dataclass(slots=True)
class GroupTrack:
    """What lagwatch remembers about one group."""

    last_commit_seen: float
    commits: dict[TP, int | None] | None = None
    partitions: dict[TP, PartitionTrack] = field(default_factory=dict)

    def expired(self, group: GroupView, now: float, expiry: float) -> bool:
        """Note any new commit, then return True if the group is empty and quiet past ``expiry``."""
        if group.committed is not None and group.committed != self.commits:
            if self.commits is not None:
                self.last_commit_seen = now
            self.commits = dict(group.committed)
        if group.state == EMPTY and now - self.last_commit_seen > expiry:
            self.partitions.clear()
            return True
        return False
