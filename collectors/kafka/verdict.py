"""Kafka consumer verdicts: small pure rules over one partition's offsets and its group's membership.

Every rule looks at the same ``PartitionFacts`` and either fires with a
``Verdict`` or returns None. ``evaluate_partition`` runs them all and keeps
the worst; ``evaluate_group`` keeps the worst partition. Nothing here talks to
Kafka or keeps state: the collector builds the facts, these functions judge.

STOP and STALL come from evidence (``Cadence``): how long messages have
waited on an unmoved commit against the partition's own usual commit gap,
the group coordinator's state (no members while messages arrive), and a
rebalance that lasts too long. With a fixed ``window`` configured instead,
they need a whole window without a commit, as Burrow does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from lagwatch.store.contracts import GroupState, KafkaStatus
from lagwatch.store.types import format_duration

Status = KafkaStatus
"""Verdicts ordered from least to most bad; the value is what the status series holds."""

TREND_WINDOW = 600.0
"""Without a fixed window: what the trend rules (falling behind, rewind) look at."""
LEARN_GAPS = 3
"""Commit gaps a partition must show before its cadence is trusted."""
GAPS_KEPT = 16
"""Commit gaps remembered per partition: the usual gap is the longest of them."""
NO_MEMBERS = (GroupState.Empty, GroupState.Dead)
REBALANCING = (GroupState.PreparingRebalance, GroupState.CompletingRebalance)
STUCK = (Status.STOP, Status.STALL)


@dataclass(frozen=True, slots=True)
class Cadence:
    """The settings of the evidence rules (``kafka[].verdict``) and the collection interval."""

    interval: float
    gap_factor: float = 3.0
    min_wait: float = 8.0
    unlearned_wait: float = 600.0
    empty_wait: float = 5.0
    rebalance_limit: float = 60.0

    def usual_gap(self, gaps: Sequence[float]) -> float | None:
        """Return the partition's usual commit gap as lagwatch sees it, or None until learnt.

        The longest recent gap, rounded to whole intervals: a gap is seen on the
        cycles' grid, and the daemon's jitter (or a late cycle) makes one that
        moved at every cycle look a little longer than an interval.
        """
        if len(gaps) < LEARN_GAPS:
            return None
        longest = max(gaps)
        if not self.interval:
            return longest
        return max(1, round(longest / self.interval)) * self.interval

    def limit(self, gaps: Sequence[float]) -> float:
        """Return how long messages may wait on an unmoved commit before it is judged stuck.

        ``gap_factor`` times the usual gap, the gap taken as half an interval
        shorter than seen (a move seen at a cycle happened on average half an
        interval before it): a partition whose commit moves at every cycle is
        judged after 1.5 intervals, one that commits once a minute after about
        three minutes. Never below ``min_wait``; ``unlearned_wait`` until learnt.
        """
        usual = self.usual_gap(gaps)
        if usual is None:
            return max(self.unlearned_wait, self.min_wait)
        return max(self.min_wait, self.gap_factor * (usual - self.interval / 2))


@dataclass(frozen=True, slots=True)
class GroupFacts:
    """What the coordinator says of the partition's group, and what lagwatch saw of it."""

    state: int = GroupState.Stable
    members: int | None = None
    empty_since: float | None = None  # first cycle of the current run without members
    rebalancing_since: float | None = None  # first cycle of the current rebalance
    intermittent: bool = False  # seen coming back after having no members: empty is normal for it
    described: bool = True  # False when the describe failed: who holds what is unknown

    @property
    def has_no_members(self) -> bool:
        return self.state in NO_MEMBERS or self.members == 0

    @property
    def assignment_known(self) -> bool:
        return self.described or self.has_no_members


NO_GROUP = GroupFacts()


Point = tuple[float, int | None, int]
"""One observation of a partition: (when, the group's committed offset or None, the log end).

Plain tuples of numbers, which the garbage collector stops tracking: a
collector keeps some hundred thousand of them.
"""


def lag_at(point: Point) -> int | None:
    """Return the messages waiting at one observation (None without a committed offset)."""
    _, committed, log_end = point
    return None if committed is None else max(0, log_end - committed)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Optional limits that turn a moving but far-behind partition into WARN or ERR."""

    warn_lag_seconds: float | None = None
    err_lag_seconds: float | None = None
    warn_lag_messages: float | None = None
    err_lag_messages: float | None = None


NO_THRESHOLDS = Thresholds()


@dataclass(frozen=True, slots=True)
class PartitionFacts:
    """What the rules may look at for one partition of one group.

    ``history`` is oldest first and ends with the current observation; it
    covers at least the window when the partition has been watched that long.
    ``waiting_since`` is when the current run of "same committed offset and
    messages waiting" began (None when nothing waits); ``committed_since`` is
    when the committed offset last changed (or was first seen);
    ``lagging_since`` is when messages last started to wait at all (None: caught up now).
    ``lag`` is the messages waiting now when the collector knows better than
    the offsets (0 when only transaction markers remain); ``lag_seconds`` is
    the time lag, if known.

    For the evidence rules (``cadence`` set): ``stuck`` is how long messages
    have waited on the current commit, the time lag held between what the
    cycles prove (at least since the first cycle that saw them wait, at most
    since the cycle before it); ``gaps`` the partition's recent commit gaps;
    ``arriving`` whether the log end grew since the previous cycle; ``group``
    the coordinator's view; ``previous`` the last verdict, which a stuck
    partition keeps until its commit moves or nothing waits.
    """

    now: float
    window: float
    history: Sequence[Point]
    watched_since: float
    committed_since: float
    waiting_since: float | None
    lagging_since: float | None
    earliest: int
    assigned: bool
    lag_seconds: float | None = None
    lag: int | None = None
    thresholds: Thresholds = NO_THRESHOLDS
    cadence: Cadence | None = None
    stuck: float | None = None
    gaps: Sequence[float] = ()
    arriving: bool = False
    group: GroupFacts = NO_GROUP
    previous: Verdict | None = None

    @property
    def committed(self) -> int | None:
        return self.history[-1][1]

    @property
    def still(self) -> bool:
        """True when messages wait and the commit has not moved since the previous cycle."""
        return (
            self.committed is not None
            and bool(self.messages_waiting)
            and self.waiting_since is not None
            and self.waiting_since < self.now
        )

    @property
    def messages_waiting(self) -> int | None:
        return lag_at(self.history[-1]) if self.lag is None else self.lag

    def in_window(self) -> Sequence[Point]:
        """Return the observations of the last window, plus the one just before it."""
        start = self.now - self.window
        points = self.history
        i = len(points) - 1
        while i > 0 and points[i][0] > start:
            i -= 1
        return points[i:]

    @property
    def full_window(self) -> bool:
        return self.now - self.watched_since >= self.window


@dataclass(frozen=True, slots=True)
class Verdict:
    """A status, the rule that gave it, and one line a person can act on."""

    status: Status
    rule: str
    explanation: str

    @property
    def note(self) -> str:
        return f"{STATUS_NAMES[self.status]} ({self.rule}): {self.explanation}"


# Enum .name is slow and this runs for every partition every cycle.
STATUS_NAMES = {s: s.name for s in Status}


# -- wording -------------------------------------------------------------------


def messages_text(count: int) -> str:
    return f"{count:,} message" + ("" if count == 1 else "s")


def _wait_text(count: int) -> str:
    return messages_text(count) + (" waits" if count == 1 else " wait")


def _waited_text(count: int, seconds: float) -> str:
    verb = " has" if count == 1 else " have"
    return f"{messages_text(count)}{verb} waited {format_duration(seconds)}"


# -- the rules -------------------------------------------------------------------


def rule_rewind(f: PartitionFacts) -> Verdict | None:
    """REWIND: the committed offset went back within the window and has not yet passed where it was."""
    peak: int | None = None
    drop: tuple[int, int, float] | None = None
    for ts, committed, _ in f.in_window():
        if committed is None:
            continue
        if peak is not None and committed < peak and (drop is None or committed < drop[1]):
            drop = (peak, committed, ts)
        peak = committed if peak is None else max(peak, committed)
    current = f.committed
    if drop is None or current is None or current >= drop[0]:
        return None
    before, after, _ = drop
    return Verdict(
        Status.REWIND,
        "rewind",
        f"committed offset moved back from {before:,} to {after:,} "
        f"{format_duration(f.now - drop[2])} ago; {messages_text(before - current)} "
        "left to re-read before it is back",
    )


def _stuck_for(f: PartitionFacts) -> float | None:
    """Return how long messages have waited on an unchanged commit, if for a full window."""
    if f.waiting_since is None or not f.messages_waiting:
        return None
    stuck = f.now - f.waiting_since
    return stuck if stuck >= f.window else None


def _still_for(f: PartitionFacts) -> float:
    return f.stuck if f.stuck is not None else f.now - (f.waiting_since or f.now)


def _cadence_text(f: PartitionFacts, limit: float) -> str:
    assert f.cadence is not None
    usual = f.cadence.usual_gap(f.gaps)
    if usual is None:
        return f"its commit cadence is not learnt yet: limit {format_duration(limit)}"
    return (
        f"its commit usually moves within {format_duration(usual)}: limit {format_duration(limit)}"
    )


def _over_cadence(f: PartitionFacts) -> tuple[float, float] | None:
    """Return (wait, limit) when messages have waited on an unmoved commit past the cadence limit."""
    if f.cadence is None or not f.still:
        return None
    limit = f.cadence.limit(f.gaps)
    waited = _still_for(f)
    return (waited, limit) if waited >= limit else None


def rule_stop(f: PartitionFacts) -> Verdict | None:
    """STOP: messages wait, the commit has not moved for too long and no consumer owns the partition."""
    if f.assigned or f.committed is None or not f.group.assignment_known:
        return None
    waiting = f.messages_waiting or 0
    if f.cadence is not None:
        over = _over_cadence(f)
        if over is None:
            return None
        waited, limit = over
        return Verdict(
            Status.STOP,
            "stop",
            f"no consumer is assigned and nothing was committed while "
            f"{_waited_text(waiting, waited)} ({_cadence_text(f, limit)})",
        )
    if _stuck_for(f) is None:
        return None
    return Verdict(
        Status.STOP,
        "stop",
        f"no commit for {format_duration(f.now - f.committed_since)} while {_wait_text(waiting)} "
        "and no consumer is assigned",
    )


def rule_stall(f: PartitionFacts) -> Verdict | None:
    """STALL: a consumer owns the partition, yet its commit has not moved for too long while messages wait."""
    if not f.assigned:
        return None
    if f.committed is None:
        # Assigned but never committed: stuck if messages arrived over a whole window.
        if not f.full_window:
            return None
        arrived = f.history[-1][2] - f.in_window()[0][2]
        if arrived <= 0:
            return None
        return Verdict(
            Status.STALL,
            "stall",
            f"assigned for {format_duration(f.now - f.watched_since)} without any commit "
            f"while {messages_text(arrived)} arrived",
        )
    waiting = f.messages_waiting or 0
    if f.cadence is not None:
        over = _over_cadence(f)
        if over is None:
            return None
        waited, limit = over
        return Verdict(
            Status.STALL,
            "stall",
            f"a consumer is assigned but nothing was committed while "
            f"{_waited_text(waiting, waited)} ({_cadence_text(f, limit)})",
        )
    if _stuck_for(f) is None:
        return None
    return Verdict(
        Status.STALL,
        "stall",
        f"a consumer is assigned but has not committed for "
        f"{format_duration(f.now - f.committed_since)} while {_wait_text(waiting)}",
    )


def rule_no_members(f: PartitionFacts) -> Verdict | None:
    """STOP: the group has had no members for two cycles while messages wait and more arrive.

    Nobody can be consuming, so the cadence is not waited for. Only for a
    partition lagwatch has seen being consumed (its cadence is learnt), and not
    for a group seen coming back after having no members (a consumer that runs
    now and then): for those an empty group may be normal, and the cadence decides.
    """
    g = f.group
    if f.cadence is None or not g.has_no_members or g.intermittent or not f.still:
        return None
    if f.cadence.usual_gap(f.gaps) is None:
        return None
    if g.empty_since is None or g.empty_since >= f.now or not f.arriving:
        return None
    waited = _still_for(f)
    if waited < f.cadence.empty_wait:
        return None
    state = GroupState(g.state).name if g.state in NO_MEMBERS else "no members"
    return Verdict(
        Status.STOP,
        "no-members",
        f"the group has no members ({state} for {format_duration(f.now - g.empty_since)}) "
        f"while {_wait_text(f.messages_waiting or 0)} and more arrive; nothing was committed "
        f"in the {format_duration(waited)} they have waited",
    )


def rule_rebalance_too_long(f: PartitionFacts) -> Verdict | None:
    """STALL: the group has been rebalancing too long while messages wait on an unmoved commit."""
    g = f.group
    if f.cadence is None or g.state not in REBALANCING or g.rebalancing_since is None:
        return None
    if not f.still:
        return None
    limit = max(f.cadence.rebalance_limit, f.cadence.limit(f.gaps))
    rebalancing, waited = f.now - g.rebalancing_since, _still_for(f)
    if rebalancing < limit or waited < limit:
        return None
    return Verdict(
        Status.STALL,
        "rebalance",
        f"the group has been rebalancing for {format_duration(rebalancing)} "
        f"(limit {format_duration(limit)}) and nothing was committed while "
        f"{_waited_text(f.messages_waiting or 0, waited)}",
    )


def rule_still_stuck(f: PartitionFacts) -> Verdict | None:
    """STOP/STALL again: judged stuck before, and the commit has not moved since while messages wait.

    A stuck partition stays stuck until its commit moves or nothing waits,
    whatever else a cycle shows (the producer pausing, the group's members
    coming and going, a cycle that could not describe the group): so one cycle
    cannot resolve and re-raise its alert. It changes only from STALL to STOP,
    when the consumer that held it is gone; a STOP stays a STOP even if a
    consumer that does not commit either joins.
    """
    if f.previous is None or f.previous.status not in STUCK or not f.still:
        return None
    if not f.group.assignment_known:
        return f.previous  # not described this cycle: keep what was judged
    waited = _waited_text(f.messages_waiting or 0, _still_for(f))
    status = Status.STALL if f.previous.status == Status.STALL and f.assigned else Status.STOP
    who = "a consumer is assigned but" if f.assigned else "no consumer is assigned and"
    return Verdict(
        status,
        f.previous.rule,
        f"{who} nothing was committed while {waited} (judged "
        f"{STATUS_NAMES[f.previous.status]} by the {f.previous.rule} rule; the commit has not "
        "moved since)",
    )


def rule_deleted_unread(f: PartitionFacts) -> Verdict | None:
    """ERR: the committed offset is below the earliest offset, so data was deleted before it was read."""
    committed = f.committed
    if committed is None or committed >= f.earliest:
        return None
    return Verdict(
        Status.ERR,
        "deleted-unread",
        f"committed offset {committed:,} is below the earliest offset {f.earliest:,}: "
        f"{messages_text(f.earliest - committed)} were deleted before this group read them",
    )


def _over(value: float | None, limit: float | None) -> bool:
    return value is not None and limit is not None and value >= limit


def _threshold(
    f: PartitionFacts, status: Status, seconds: float | None, messages: float | None
) -> Verdict | None:
    waiting = f.messages_waiting
    if _over(f.lag_seconds, seconds):
        assert f.lag_seconds is not None and seconds is not None
        return Verdict(
            status,
            f"lag-seconds-{status.name.lower()}",
            f"{format_duration(f.lag_seconds)} behind, limit {format_duration(seconds)}",
        )
    if waiting is not None and _over(waiting, messages):
        assert messages is not None
        return Verdict(
            status,
            f"lag-messages-{status.name.lower()}",
            f"{_wait_text(waiting)}, limit {int(messages):,}",
        )
    return None


def rule_threshold_err(f: PartitionFacts) -> Verdict | None:
    """ERR: lag is at or past an err_* threshold."""
    t = f.thresholds
    return _threshold(f, Status.ERR, t.err_lag_seconds, t.err_lag_messages)


def rule_threshold_warn(f: PartitionFacts) -> Verdict | None:
    """WARN: lag is at or past a warn_* threshold."""
    t = f.thresholds
    return _threshold(f, Status.WARN, t.warn_lag_seconds, t.warn_lag_messages)


# A consumer counts as falling behind when, over a full window, its lag grew by
# more than this share of what arrived: a steady consumer's batching wobble
# stays well below it, one that reads at 90 % of the produce rate does not.
FALLING_BEHIND_SHARE = 0.1


def rule_falling_behind(f: PartitionFacts) -> Verdict | None:
    """WARN: over a full window the consumer commits but never catches up and the lag grows."""
    if not f.full_window or f.lagging_since is None or f.lagging_since > f.now - f.window:
        return None
    points = f.in_window()
    (first_ts, first_committed, first_end), (last_ts, last_committed, last_end) = (
        points[0],
        points[-1],
    )
    if first_committed is None or last_committed is None:
        return None
    first_lag, last_lag = max(0, first_end - first_committed), max(0, last_end - last_committed)
    arrived = last_end - first_end
    consumed = last_committed - first_committed
    if consumed <= 0 or arrived <= 0 or last_lag - first_lag <= FALLING_BEHIND_SHARE * arrived:
        return None
    return Verdict(
        Status.WARN,
        "falling-behind",
        f"lag grew from {first_lag:,} to {last_lag:,} in {format_duration(last_ts - first_ts)}: "
        f"{consumed:,} consumed while {arrived:,} arrived",
    )


Rule = Callable[[PartitionFacts], "Verdict | None"]

# The order breaks ties between rules giving the same status: the first wins.
RULES: tuple[Rule, ...] = (
    rule_rewind,
    rule_stall,
    rule_rebalance_too_long,
    rule_no_members,
    rule_stop,
    rule_deleted_unread,
    rule_threshold_err,
    rule_falling_behind,
    rule_threshold_warn,
)


def _ok(f: PartitionFacts) -> Verdict:
    waiting = f.messages_waiting
    if f.committed is None:
        return Verdict(Status.OK, "ok", "no committed offset yet; lag is not counted")
    if not waiting:
        return Verdict(Status.OK, "ok", "caught up")
    if f.cadence is not None:
        if f.still:
            limit = f.cadence.limit(f.gaps)
            return Verdict(
                Status.OK,
                "ok",
                f"{_waited_text(waiting, _still_for(f))} on an unmoved commit "
                f"({_cadence_text(f, limit)})",
            )
        return Verdict(Status.OK, "ok", f"{_wait_text(waiting)} and the consumer is keeping up")
    if not f.full_window:
        return Verdict(
            Status.OK,
            "ok",
            f"{_wait_text(waiting)}; watched for {format_duration(f.now - f.watched_since)} "
            f"of the {format_duration(f.window)} window",
        )
    return Verdict(Status.OK, "ok", f"{_wait_text(waiting)} and the consumer is keeping up")


def evaluate_partition(f: PartitionFacts, rules: Sequence[Rule] = RULES) -> Verdict:
    """Return the worst verdict any rule gives, or OK with a short reason.

    A partition judged stuck before keeps that (``rule_still_stuck``) unless a
    worse status comes: the evidence rules may say more, never less.
    """
    worst: Verdict | None = None
    for rule in rules:
        verdict = rule(f)
        if verdict is not None and (worst is None or verdict.status > worst.status):
            worst = verdict
    held = rule_still_stuck(f)
    if held is not None and (worst is None or worst.status <= Status.STALL):
        if worst is not None and worst.status == held.status:
            return worst  # the same status from fresh evidence says it better
        return held
    return worst if worst is not None else _ok(f)


def evaluate_group(
    partitions: Mapping[tuple[str, int], Verdict], lags: Mapping[tuple[str, int], int | None]
) -> Verdict:
    """Return the group's verdict: its worst partition's (most lag among equals), naming that partition."""
    if not partitions:
        return Verdict(Status.OK, "ok", "no partitions assigned or committed")
    key = max(partitions, key=lambda k: (partitions[k].status, lags.get(k) or 0))
    worst = partitions[key]
    if worst.status == Status.OK:
        lagging = sum(1 for k in partitions if lags.get(k))
        if not lagging:
            every = "the partition" if len(partitions) == 1 else f"all {len(partitions)} partitions"
            return Verdict(Status.OK, "ok", f"{every} caught up")
        text = f"{key[0]}[{key[1]}]: {worst.explanation} ({lagging} of {len(partitions)} partitions lag)"
        return Verdict(Status.OK, "ok", text)
    same = sum(1 for v in partitions.values() if v.status == worst.status)
    more = f" (and {same - 1} more {worst.status.name})" if same > 1 else ""
    return Verdict(worst.status, worst.rule, f"{key[0]}[{key[1]}]: {worst.explanation}{more}")
