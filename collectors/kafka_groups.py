"""Kafka group evaluation: the state kept between cycles, per-partition lag and verdicts, and the samples.

State kept in memory (lost on restart, see README): per group and partition
the observations of the last window, when the committed offset last changed
and since when messages have waited on it, and the last verdict (held while
a group rebalances); per group when a commit was last seen (empty-group
expiry counts from there, or from the start of lagwatch).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from collectors.kafka_offsets import EMPTY, REBALANCING, TP, ClusterView, GroupView
from collectors.kafka_timelag import Found, LagMethod, NoRecord, TimeLag
from collectors.kafka_verdict import (
    PartitionFacts,
    Point,
    Thresholds,
    Verdict,
    evaluate_group,
    evaluate_partition,
    messages_text,
)
from store import Sample
from store.sample import Labels

Estimate = Callable[[TP, int, float], TimeLag]

HELD = " (held while the group rebalances)"


def start_offset(committed: int | None, earliest: int) -> int | None:
    """Return the first offset still to read: the commit, or the log start if that was deleted."""
    return None if committed is None else max(committed, earliest)


@dataclass
class PartitionTrack:
    """What lagwatch remembers about one partition of one group."""

    watched_since: float
    committed: int | None = None
    committed_since: float = 0.0
    waiting_since: float | None = None
    points: deque[Point] = field(default_factory=deque)
    verdict: Verdict | None = None

    def observe(
        self, now: float, committed: int | None, log_end: int, waiting: bool, window: float
    ) -> None:
        if not self.points or committed != self.committed:
            self.committed = committed
            self.committed_since = now
            self.waiting_since = None
        if not waiting:
            self.waiting_since = None
        elif self.waiting_since is None:
            self.waiting_since = now
        self.points.append(Point(now, committed, log_end))
        # Keep the window plus the one observation just before it.
        while len(self.points) > 2 and self.points[1].ts <= now - window:
            self.points.popleft()


@dataclass
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


@dataclass(frozen=True, slots=True)
class Judgement:
    """One known partition's figures this cycle."""

    lag: int | None
    time_lag: TimeLag
    verdict: Verdict


class GroupEvaluator:
    """Turns each cycle's ClusterView into samples, remembering what the verdicts need."""

    def __init__(
        self, cluster: str, window: float, thresholds: Thresholds, empty_group_expiry: float
    ) -> None:
        self.cluster = cluster
        self.window = window
        self.thresholds = thresholds
        self.empty_group_expiry = empty_group_expiry
        self.groups: dict[str, GroupTrack] = {}

    def samples(
        self, view: ClusterView, exact: Mapping[tuple[TP, int], Found], estimate: Estimate
    ) -> Iterator[Sample]:
        """Yield every sample of one cycle: cluster, topics, partitions, groups."""
        now = view.taken_at
        cluster = (("cluster", self.cluster),)
        for gone in [g for g in self.groups if g not in view.groups]:
            del self.groups[gone]
        reported = 0
        for group in view.groups.values():
            track = self.groups.setdefault(group.group_id, GroupTrack(now))
            if track.expired(group, now, self.empty_group_expiry):
                continue
            reported += 1
            yield from self._group(view, group, track, exact, estimate)
        note = "; ".join(view.listing_errors) or None
        yield Sample("lagwatch_kafka_groups", cluster, reported, now, note)
        if view.brokers is not None:
            yield Sample("lagwatch_kafka_brokers", cluster, view.brokers, now)
        for (topic, partition), end in view.log_end.items():
            labels = (("cluster", self.cluster), ("partition", str(partition)), ("topic", topic))
            yield Sample("lagwatch_kafka_partition_log_end_offset", labels, end, now)
            earliest = view.earliest.get((topic, partition))
            if earliest is not None:
                yield Sample("lagwatch_kafka_partition_earliest_offset", labels, earliest, now)
        for topic, compacted in view.compacted.items():
            topic_labels = (("cluster", self.cluster), ("topic", topic))
            yield Sample(
                "lagwatch_kafka_topic_compacted", topic_labels, 1.0 if compacted else 0.0, now
            )

    def _group(
        self,
        view: ClusterView,
        group: GroupView,
        track: GroupTrack,
        exact: Mapping[tuple[TP, int], Found],
        estimate: Estimate,
    ) -> Iterator[Sample]:
        now = view.taken_at
        gid = group.group_id
        labels = (("cluster", self.cluster), ("group", gid))
        yield Sample("lagwatch_kafka_group_state", labels, group.state, now)
        members = 0 if group.state == EMPTY else group.members
        if members is not None:
            yield Sample("lagwatch_kafka_group_members", labels, members, now)

        if group.committed is None:
            # The commit fetch failed: every partition we know of is unknown, nothing is judged.
            failure = "; ".join(group.errors)
            for tp in sorted(set(track.partitions) | set(group.assigned)):
                yield Sample(
                    "lagwatch_kafka_partition_unknown", self._labels(gid, tp), 1, now, failure
                )
            yield Sample("lagwatch_kafka_group_unknown", labels, 1, now, failure)
            return

        held = group.state in REBALANCING
        judged: dict[TP, Judgement] = {}
        unknown: dict[TP, str] = {}
        for tp in sorted(group.partitions()):
            plabels = self._labels(gid, tp)
            problem = group.partition_errors.get(tp) or view.offset_errors.get(tp)
            end, earliest = view.log_end.get(tp), view.earliest.get(tp)
            if problem is not None or end is None or earliest is None:
                unknown[tp] = problem or "offsets not returned"
                yield Sample("lagwatch_kafka_partition_unknown", plabels, 1, now, unknown[tp])
                continue
            committed = group.committed.get(tp)
            ptrack = track.partitions.get(tp)
            if ptrack is None:
                ptrack = track.partitions[tp] = PartitionTrack(now)
            judgement = self._partition(
                tp, group, ptrack, committed, end, earliest, exact, estimate, now, held
            )
            judged[tp] = judgement
            yield from self._partition_samples(plabels, committed, earliest, judgement, now)
        for tp in [tp for tp in track.partitions if tp not in judged]:
            del track.partitions[tp]

        yield from self._group_samples(labels, gid, judged, unknown, group.errors, now, held)

    def _partition(
        self,
        tp: TP,
        group: GroupView,
        ptrack: PartitionTrack,
        committed: int | None,
        end: int,
        earliest: int,
        exact: Mapping[tuple[TP, int], Found],
        estimate: Estimate,
        now: float,
        held: bool,
    ) -> Judgement:
        start = start_offset(committed, earliest)
        lag = None if start is None else max(0, end - start)
        time_lag = TimeLag(None, LagMethod.UNAVAILABLE, "no committed offset")
        if start is not None and lag == 0:
            time_lag = TimeLag(0.0, LagMethod.NONE)
        elif start is not None:
            found = exact.get((tp, start))
            if isinstance(found, NoRecord):
                time_lag = TimeLag(
                    0.0,
                    LagMethod.NONE,
                    f"{messages_text(end - start)} left hold only transaction markers",
                )
                lag = 0
            elif found is not None:
                time_lag = TimeLag(max(0.0, now - found), LagMethod.EXACT)
            else:
                time_lag = estimate(tp, start, now)
        ptrack.observe(now, committed, end, bool(lag), self.window)
        if held and ptrack.verdict is not None:
            return Judgement(lag, time_lag, ptrack.verdict)
        facts = PartitionFacts(
            now=now,
            window=self.window,
            history=tuple(ptrack.points),
            watched_since=ptrack.watched_since,
            committed_since=ptrack.committed_since,
            waiting_since=ptrack.waiting_since,
            earliest=earliest,
            assigned=tp in group.assigned,
            lag_seconds=time_lag.seconds,
            lag=lag,
            thresholds=self.thresholds,
        )
        ptrack.verdict = evaluate_partition(facts)
        return Judgement(lag, time_lag, ptrack.verdict)

    def _labels(self, group: str, tp: TP) -> Labels:
        return (
            ("cluster", self.cluster),
            ("group", group),
            ("partition", str(tp[1])),
            ("topic", tp[0]),
        )

    def _partition_samples(
        self, labels: Labels, committed: int | None, earliest: int, j: Judgement, now: float
    ) -> Iterator[Sample]:
        yield Sample("lagwatch_kafka_partition_unknown", labels, 0, now)
        yield Sample(
            "lagwatch_kafka_partition_no_committed_offset",
            labels,
            1 if committed is None else 0,
            now,
        )
        below = committed is not None and committed < earliest
        yield Sample(
            "lagwatch_kafka_partition_committed_below_earliest", labels, 1 if below else 0, now
        )
        if committed is not None:
            yield Sample("lagwatch_kafka_partition_committed_offset", labels, committed, now)
        if j.lag is not None:
            yield Sample("lagwatch_kafka_partition_lag_messages", labels, j.lag, now)
        method = j.time_lag.method
        why = f"{method.name.lower()}: {j.time_lag.why}" if j.time_lag.why else method.name.lower()
        yield Sample("lagwatch_kafka_partition_lag_method", labels, float(method), now, why)
        if j.time_lag.seconds is not None:
            yield Sample(
                "lagwatch_kafka_partition_lag_seconds", labels, j.time_lag.seconds, now, why
            )
        yield Sample(
            "lagwatch_kafka_partition_status", labels, float(j.verdict.status), now, j.verdict.note
        )

    def _group_samples(
        self,
        labels: Labels,
        gid: str,
        judged: Mapping[TP, Judgement],
        unknown: Mapping[TP, str],
        errors: list[str],
        now: float,
        held: bool,
    ) -> Iterator[Sample]:
        by_topic: dict[str, list[tuple[TP, Judgement]]] = {}
        for tp, j in judged.items():
            by_topic.setdefault(tp[0], []).append((tp, j))
        unknown_topics = {tp[0] for tp in unknown}
        for topic, items in sorted(by_topic.items()):
            if topic in unknown_topics:
                continue  # a sum or max missing a partition would be a wrong number
            tlabels = (("cluster", self.cluster), ("group", gid), ("topic", topic))
            lags = [j.lag for _, j in items if j.lag is not None]
            yield Sample("lagwatch_kafka_group_topic_lag_messages", tlabels, sum(lags), now)
            yield Sample(
                "lagwatch_kafka_group_topic_max_lag_messages", tlabels, max(lags, default=0), now
            )
            worst = _max_time_lag(items)
            if worst is not None:
                yield Sample(
                    "lagwatch_kafka_group_topic_max_lag_seconds",
                    tlabels,
                    worst[1].time_lag.seconds or 0.0,
                    now,
                )

        verdict = evaluate_group(
            {tp: j.verdict for tp, j in judged.items()}, {tp: j.lag for tp, j in judged.items()}
        )
        problems = list(errors) + [f"{t}[{p}]: {text}" for (t, p), text in sorted(unknown.items())]
        note = verdict.note + (HELD if held else "")
        if unknown:
            note += f"; {len(unknown)} partition(s) unknown and not judged"
        yield Sample("lagwatch_kafka_group_status", labels, float(verdict.status), now, note)
        yield Sample(
            "lagwatch_kafka_group_unknown",
            labels,
            1 if unknown else 0,
            now,
            "; ".join(problems) or None,
        )
        if unknown:
            return
        lags = [j.lag for j in judged.values() if j.lag is not None]
        no_commit = len(judged) - len(lags)
        yield Sample(
            "lagwatch_kafka_group_lag_messages",
            labels,
            sum(lags),
            now,
            f"{no_commit} partition(s) without a committed offset are not counted"
            if no_commit
            else None,
        )
        worst = _max_time_lag(list(judged.items()))
        if worst is not None:
            (topic, partition), j = worst
            why = f"{topic}[{partition}], {j.time_lag.method.name.lower()}"
            yield Sample(
                "lagwatch_kafka_group_max_lag_seconds", labels, j.time_lag.seconds or 0.0, now, why
            )
            yield Sample(
                "lagwatch_kafka_group_max_lag_method", labels, float(j.time_lag.method), now, why
            )
        elif judged:
            yield Sample(
                "lagwatch_kafka_group_max_lag_method", labels, float(LagMethod.UNAVAILABLE), now
            )


def _max_time_lag(items: list[tuple[TP, Judgement]]) -> tuple[TP, Judgement] | None:
    """Return the partition with the largest time lag, or None if any committed partition has none."""
    committed = [(tp, j) for tp, j in items if j.lag is not None]
    if not committed or any(j.time_lag.seconds is None for _, j in committed):
        return None
    return max(committed, key=lambda item: item[1].time_lag.seconds or 0.0)
