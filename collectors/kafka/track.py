"""Kafka lag state kept between cycles: observations, clocks and commit cadence per group and partition.

Per partition the observations of the last window, when the committed offset
last changed, since when messages have waited on it (and the cycle before,
the earliest it can have begun) and since when the partition has lagged at
all, its recent commit gaps (how long messages waited before the commit moved,
as the cycles saw it: the cadence the STOP and STALL limits come from), and
the last verdict (held while a group rebalances, kept while it is stuck). Per
group when a commit was last seen (empty-group expiry counts from there, or
from the start), since when it has had no members or been rebalancing, and
whether it was seen coming back after having no members. ``state.py`` saves
it as store records every cycle and restores it after a restart, so the
verdicts go on as if the collector had never stopped (see
``PartitionTrack.observe`` for the gap).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from lagwatch.collectors.kafka.read import EMPTY, REBALANCING, TP, GroupView
from lagwatch.collectors.kafka.verdict import GAPS_KEPT, NO_MEMBERS, GroupFacts, Point, Verdict
from lagwatch.store.contracts import GroupState

# Observations kept per window: the first of each slice, every drop of the
# committed offset, and the newest; bounds the rules' work whatever the interval.
SLICES_PER_WINDOW = 16
# A group seen coming back after having no members counts as one that runs now and then this long.
INTERMITTENT_FOR = 86400.0


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
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=GAPS_KEPT))
    waiting_from: float | None = None
    arriving: bool = False

    def observe(
        self,
        now: float,
        committed: int | None,
        log_end: int,
        waiting: bool,
        window: float,
        interval: float = 0.0,
    ) -> None:
        """Record one observation; ``waiting`` says whether messages wait to be consumed.

        After a restart (``resumed``) nothing was observed during the gap, and
        only what the offsets prove is kept, since offsets only grow: a commit
        equal on both sides did not move, so its clocks go on (a move and a
        rewind back to it is as invisible as between two cycles); a commit that
        differs moved at an unknown time, so its clocks start now and the gap
        teaches nothing about its cadence; a partition still short of the log
        end seen before the gap lagged all through it, one that reached it may
        have caught up, so its lagging clock starts now.
        """
        before = self.points[-1] if self.points else None
        resumed, self.resumed = self.resumed, False
        if resumed and before is not None and (committed is None or committed >= before[2]):
            self.lagging_since = None
        self.arriving = before is not None and log_end > before[2]
        if before is None or committed != self.committed:
            if (
                before is not None
                and not resumed
                and committed is not None
                and self.committed is not None
                and committed > self.committed
            ):
                # How long messages waited before this move, as the cycles saw it.
                start = self.waiting_since if self.waiting_since is not None else before[0]
                self.gaps.append(round(now - start, 3))
            self.committed = committed
            self.committed_since = now
            self.waiting_since = self.waiting_from = None
        if not waiting:
            self.waiting_since = self.waiting_from = self.lagging_since = None
        else:
            if self.waiting_since is None:
                self.waiting_since = now
                # They began after the cycle before (at most one interval before, across a gap).
                earliest = before[0] if before is not None else now
                self.waiting_from = max(earliest, now - interval) if interval else earliest
            self.lagging_since = now if self.lagging_since is None else self.lagging_since
        self._keep((now, committed, log_end), window)

    def stuck(self, now: float, lag_seconds: float | None) -> float | None:
        """Return how long messages have waited on this commit: the time lag, within what the cycles prove."""
        if self.waiting_since is None:
            return None
        least = now - self.waiting_since
        most = now - (self.waiting_from if self.waiting_from is not None else self.waiting_since)
        if lag_seconds is None:
            return least
        return min(max(lag_seconds, least), most)

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
    state: int | None = None
    empty_since: float | None = None
    rebalancing_since: float | None = None
    had_members: bool = False
    came_back_at: float | None = None
    seen_at: float | None = None
    # Partitions whose last written series said they were not OK (``partition_series:
    # problems``): they are written once more when they turn OK. Not kept across restarts:
    # the first cycle writes every partition.
    shown: set[TP] = field(default_factory=set)

    def expired(self, group: GroupView, now: float, expiry: float) -> bool:
        """Note any new commit, then return True if the group is empty and quiet past ``expiry``."""
        moved = False
        if group.committed is not None and group.committed != self.commits:
            if self.commits is not None:
                self.last_commit_seen = now
                moved = True
            self.commits = dict(group.committed)
        self._membership(group, now, moved)
        if group.state == EMPTY and now - self.last_commit_seen > expiry:
            self.partitions.clear()
            return True
        return False

    def _membership(self, group: GroupView, now: float, moved: bool) -> None:
        """Follow the coordinator's state: since when the group has had no members or rebalanced."""
        self.seen_at = now
        if group.state == GroupState.Unknown:
            return  # not listed this cycle: what it was goes on
        empty = group.state in NO_MEMBERS or group.members == 0
        was_empty = self.empty_since is not None
        if empty:
            if was_empty and moved:
                self.came_back_at = now  # commits moved while nobody was seen: it comes and goes
            if self.empty_since is None:
                self.empty_since = now
        else:
            if was_empty and self.had_members:
                self.came_back_at = now  # back after having no members
            self.empty_since = None
            self.had_members = self.had_members or bool(group.members)
        if group.state in REBALANCING:
            self.rebalancing_since = self.rebalancing_since or now
        else:
            self.rebalancing_since = None
        self.state = group.state

    def facts(self, group: GroupView, now: float) -> GroupFacts:
        intermittent = self.came_back_at is not None and now - self.came_back_at < INTERMITTENT_FOR
        return GroupFacts(
            group.state,
            group.members,
            self.empty_since,
            self.rebalancing_since,
            intermittent,
            described=group.members is not None,
        )
