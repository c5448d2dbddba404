"""Kafka group evaluation: each cycle's lag, time lag and verdict per partition and group.

Reads a ClusterView (what ``read.py`` read), the exact record timestamps
found this cycle and the log-end estimate, updates the state in
``track.py`` and returns the samples built by ``samples.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lagwatch.collectors.kafka.read import REBALANCING, TP, ClusterView, GroupView
from lagwatch.collectors.kafka.samples import (
    Judgement,
    cluster_series,
    group_series,
    partition_labels,
    partition_series,
)
from lagwatch.collectors.kafka.timelag import Found, LagMethod, NoRecord, TimeLag
from lagwatch.collectors.kafka.track import GroupTrack, PartitionTrack
from lagwatch.collectors.kafka.verdict import (
    Cadence,
    GroupFacts,
    PartitionFacts,
    Status,
    Thresholds,
    Verdict,
    evaluate_group,
    evaluate_partition,
    messages_text,
    rule_rebalance_too_long,
)
from lagwatch.store import Sample

Estimate = Callable[[TP, int, float], TimeLag]

HELD = " (held while the group rebalances)"
UNKNOWN_HELD = " (held: its offsets could not be read this cycle)"
# A group missing from the listing is remembered this long, so a cycle that misses it
# (a coordinator moving, a broker not answering) does not restart its clocks.
MISSING_KEEP = 3600.0


def start_offset(committed: int | None, earliest: int) -> int | None:
    """Return the first offset still to read: the commit, or the log start if that was deleted."""
    return None if committed is None else max(committed, earliest)


class GroupEvaluator:
    """Turns each cycle's ClusterView into samples, remembering what the verdicts need."""

    def __init__(
        self,
        cluster: str,
        window: float,
        thresholds: Thresholds,
        empty_group_expiry: float,
        cadence: Cadence | None = None,
        interval: float | None = None,
        problems_only: bool = False,
    ) -> None:
        """``window`` is what the trend rules look at; with ``cadence`` None it is also the
        fixed window STOP and STALL need, else the evidence rules decide those.

        ``problems_only`` (``partition_series: problems``): a partition's own series are
        written only while it is not OK, once more in the cycle it turns OK (so no stale
        problem stays its latest value), and for every partition in the first cycle (what
        the store holds from before a restart is brought up to date)."""
        self.cluster = cluster
        self.window = window
        self.thresholds = thresholds
        self.empty_group_expiry = empty_group_expiry
        self.cadence = cadence
        self.interval = (
            interval if interval is not None else cadence.interval if cadence is not None else 0.0
        )
        self.groups: dict[str, GroupTrack] = {}
        self.problems_only = problems_only
        self._first = True
        # This cycle's partitions whose series are written (their log end and earliest too).
        self._written: set[TP] = set()

    def samples(
        self, view: ClusterView, exact: Mapping[tuple[TP, int], Found], estimate: Estimate
    ) -> list[Sample]:
        """Return every sample of one cycle: cluster, topics, partitions, groups."""
        now = view.taken_at
        for gone in [g for g in self.groups if g not in view.groups]:
            seen = self.groups[gone].seen_at
            if seen is None or now - seen > MISSING_KEEP:
                del self.groups[gone]
        out: list[Sample] = []
        self._written = set()
        reported = 0
        for group in view.groups.values():
            track = self.groups.get(group.group_id)
            if track is None:
                track = self.groups[group.group_id] = GroupTrack(now)
            elif self.interval and track.seen_at and now - track.seen_at > 2.5 * self.interval:
                # Back after cycles that did not list it: what its offsets prove goes on.
                for ptrack in track.partitions.values():
                    ptrack.resumed = True
            if track.expired(group, now, self.empty_group_expiry):
                continue
            reported += 1
            self._group(out, view, group, track, exact, estimate)
        only = self._written if self.problems_only and not self._first else None
        cluster_series(out, self.cluster, view, reported, only)
        self._first = False
        return out

    def _writes(self, track: GroupTrack, tp: TP, problem: bool) -> bool:
        """Return whether a partition's series are written this cycle, and note what they say."""
        if not self.problems_only:
            return True
        shown = tp in track.shown
        if problem:
            track.shown.add(tp)
        else:
            track.shown.discard(tp)
        return problem or shown or self._first

    def _group(
        self,
        out: list[Sample],
        view: ClusterView,
        group: GroupView,
        track: GroupTrack,
        exact: Mapping[tuple[TP, int], Found],
        estimate: Estimate,
    ) -> None:
        now = view.taken_at
        gid = group.group_id
        labels = (("cluster", self.cluster), ("group", gid))
        out.append(Sample("lagwatch_kafka_group_state", labels, group.state, now))
        if group.members is not None:
            out.append(Sample("lagwatch_kafka_group_members", labels, group.members, now))

        if group.committed is None:
            # The commit fetch failed: every partition we know of is unknown, nothing is judged.
            failure = "; ".join(group.errors)
            for tp in sorted(set(track.partitions) | set(group.assigned)):
                plabels = partition_labels(self.cluster, gid, tp)
                out.append(Sample("lagwatch_kafka_partition_unknown", plabels, 1, now, failure))
                self._writes(track, tp, True)
            out.append(Sample("lagwatch_kafka_group_unknown", labels, 1, now, failure))
            return

        held = group.state in REBALANCING
        gfacts = track.facts(group, now)
        judged: dict[TP, Judgement] = {}
        unknown: dict[TP, str] = {}
        for tp in sorted(group.partitions()):
            plabels = partition_labels(self.cluster, gid, tp)
            problem = group.partition_errors.get(tp) or view.offset_errors.get(tp)
            end, earliest = view.log_end.get(tp), view.earliest.get(tp)
            if problem is not None or end is None or earliest is None:
                unknown[tp] = problem or "offsets not returned"
                out.append(Sample("lagwatch_kafka_partition_unknown", plabels, 1, now, unknown[tp]))
                self._writes(track, tp, True)
                continue
            committed = group.committed.get(tp)
            ptrack = track.partitions.get(tp)
            if ptrack is None or (ptrack.resumed and end < ptrack.points[-1][2]):
                # New, or saved before the log went back (topic recreated): observe afresh.
                ptrack = track.partitions[tp] = PartitionTrack(now)
            time_lag, lag = self._time_lag(tp, committed, end, earliest, exact, estimate, now)
            ptrack.observe(now, committed, end, bool(lag), self.window, self.interval)
            facts = self._facts(ptrack, tp in group.assigned, earliest, lag, time_lag, now, gfacts)
            if not held or ptrack.verdict is None:
                ptrack.verdict = evaluate_partition(facts)
            else:
                # Who holds what is in flux: keep the last verdict, unless the rebalance lasts too long.
                too_long = rule_rebalance_too_long(facts)
                if too_long is not None:
                    ptrack.verdict = too_long
            judged[tp] = Judgement(lag, time_lag, ptrack.verdict)
            flagged = committed is None or committed < earliest
            if not self._writes(track, tp, ptrack.verdict.status != Status.OK or flagged):
                continue
            self._written.add(tp)
            partition_series(out, plabels, committed, earliest, judged[tp], now)
            if committed is not None:
                out.append(
                    Sample(
                        "lagwatch_kafka_partition_last_commit_age_seconds",
                        plabels,
                        round(now - ptrack.committed_since, 3),
                        now,
                    )
                )
        # A partition the group no longer has is forgotten; one unknown this cycle is kept.
        for tp in [tp for tp in track.partitions if tp not in judged and tp not in unknown]:
            del track.partitions[tp]
        track.shown &= set(judged) | set(unknown)

        verdicts = {tp: j.verdict for tp, j in judged.items()}
        lags = {tp: j.lag for tp, j in judged.items()}
        for tp in unknown:
            kept = track.partitions.get(tp)
            if kept is not None and kept.verdict is not None and kept.verdict.status != Status.OK:
                # Not judged this cycle: its last verdict still counts for the group.
                last = kept.verdict
                verdicts[tp] = Verdict(last.status, last.rule, last.explanation + UNKNOWN_HELD)
                lags[tp] = None
        if not verdicts and unknown:
            # Nothing known: no status rather than an OK that would resolve its alerts.
            problems = [f"{t}[{p}]: {text}" for (t, p), text in sorted(unknown.items())]
            out.append(Sample("lagwatch_kafka_group_unknown", labels, 1, now, "; ".join(problems)))
            return
        verdict = evaluate_group(verdicts, lags)
        if held:
            verdict = Verdict(verdict.status, verdict.rule, verdict.explanation + HELD)
        problems = list(group.errors) + [
            f"{t}[{p}]: {text}" for (t, p), text in sorted(unknown.items())
        ]
        group_series(out, labels, judged, unknown, verdict, problems, now)

    @staticmethod
    def _time_lag(
        tp: TP,
        committed: int | None,
        end: int,
        earliest: int,
        exact: Mapping[tuple[TP, int], Found],
        estimate: Estimate,
        now: float,
    ) -> tuple[TimeLag, int | None]:
        """Return the partition's time lag and its lag in messages."""
        start = start_offset(committed, earliest)
        if start is None:
            return TimeLag(None, LagMethod.UNAVAILABLE, "no committed offset"), None
        lag = max(0, end - start)
        if lag == 0:
            return TimeLag(0.0, LagMethod.NONE), 0
        found = exact.get((tp, start))
        if isinstance(found, NoRecord):
            markers = f"{messages_text(lag)} left hold only transaction markers"
            return TimeLag(0.0, LagMethod.NONE, markers), 0
        if found is not None:
            return TimeLag(max(0.0, now - found), LagMethod.EXACT), lag
        return estimate(tp, start, now), lag

    def _facts(
        self,
        ptrack: PartitionTrack,
        assigned: bool,
        earliest: int,
        lag: int | None,
        time_lag: TimeLag,
        now: float,
        group: GroupFacts,
    ) -> PartitionFacts:
        return PartitionFacts(
            now=now,
            window=self.window,
            history=tuple(ptrack.points),
            watched_since=ptrack.watched_since,
            committed_since=ptrack.committed_since,
            waiting_since=ptrack.waiting_since,
            lagging_since=ptrack.lagging_since,
            earliest=earliest,
            assigned=assigned,
            lag_seconds=time_lag.seconds,
            lag=lag,
            thresholds=self.thresholds,
            cadence=self.cadence,
            stuck=ptrack.stuck(now, time_lag.seconds if lag else None),
            gaps=tuple(ptrack.gaps),
            arriving=ptrack.arriving,
            group=group,
            previous=ptrack.verdict,
        )
