"""Kafka lag series: one cycle's judgements turned into samples, with bounded labels.

Failure policy: a number that would leave out an unknown partition (a sum, a
max) is not written for that cycle; the unknown flag and its note say why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lagwatch.collectors.kafka.read import TP, ClusterView
from lagwatch.collectors.kafka.timelag import METHOD_NAMES, LagMethod, TimeLag
from lagwatch.collectors.kafka.verdict import Verdict
from lagwatch.store import Sample
from lagwatch.store.sample import Labels


@dataclass(frozen=True, slots=True)
class Judgement:
    """One known partition's figures this cycle."""

    lag: int | None
    time_lag: TimeLag
    verdict: Verdict


def partition_labels(cluster: str, group: str, tp: TP) -> Labels:
    return (("cluster", cluster), ("group", group), ("partition", str(tp[1])), ("topic", tp[0]))


def partition_series(
    out: list[Sample],
    labels: Labels,
    committed: int | None,
    earliest: int,
    j: Judgement,
    now: float,
) -> None:
    """Append one known partition's samples."""
    out.append(Sample("lagwatch_kafka_partition_unknown", labels, 0, now))
    no_commit = 1 if committed is None else 0
    out.append(Sample("lagwatch_kafka_partition_no_committed_offset", labels, no_commit, now))
    below = 1 if committed is not None and committed < earliest else 0
    out.append(Sample("lagwatch_kafka_partition_committed_below_earliest", labels, below, now))
    if committed is not None:
        out.append(Sample("lagwatch_kafka_partition_committed_offset", labels, committed, now))
    if j.lag is not None:
        out.append(Sample("lagwatch_kafka_partition_lag_messages", labels, j.lag, now))
    method = j.time_lag.method
    how = METHOD_NAMES[method] + (f": {j.time_lag.why}" if j.time_lag.why else "")
    out.append(Sample("lagwatch_kafka_partition_lag_method", labels, float(method), now, how))
    if j.time_lag.seconds is not None:
        out.append(
            Sample("lagwatch_kafka_partition_lag_seconds", labels, j.time_lag.seconds, now, how)
        )
    status = float(j.verdict.status)
    out.append(Sample("lagwatch_kafka_partition_status", labels, status, now, j.verdict.note))


def group_series(
    out: list[Sample],
    labels: Labels,
    judged: Mapping[TP, Judgement],
    unknown: Mapping[TP, str],
    verdict: Verdict,
    problems: list[str],
    now: float,
) -> None:
    """Append a group's per-topic and whole-group samples."""
    cluster, group = labels[0], labels[1]
    by_topic: dict[str, list[Judgement]] = {}
    for tp, j in judged.items():
        by_topic.setdefault(tp[0], []).append(j)
    unknown_topics = {tp[0] for tp in unknown}
    for topic, items in sorted(by_topic.items()):
        if topic in unknown_topics:
            continue
        tlabels = (cluster, group, ("topic", topic))
        lags = [j.lag for j in items if j.lag is not None]
        out.append(Sample("lagwatch_kafka_group_topic_lag_messages", tlabels, sum(lags), now))
        out.append(
            Sample(
                "lagwatch_kafka_group_topic_max_lag_messages", tlabels, max(lags, default=0), now
            )
        )
        worst = _max_time_lag(items)
        if worst is not None:
            seconds = worst.time_lag.seconds or 0.0
            out.append(Sample("lagwatch_kafka_group_topic_max_lag_seconds", tlabels, seconds, now))

    note = verdict.note
    if unknown:
        note += f"; {len(unknown)} partition(s) unknown and not judged"
    out.append(Sample("lagwatch_kafka_group_status", labels, float(verdict.status), now, note))
    flag = 1 if unknown else 0
    out.append(
        Sample("lagwatch_kafka_group_unknown", labels, flag, now, "; ".join(problems) or None)
    )
    if unknown:
        return
    lags = [j.lag for j in judged.values() if j.lag is not None]
    no_commit = len(judged) - len(lags)
    uncounted = f"{no_commit} partition(s) without a committed offset are not counted"
    out.append(
        Sample(
            "lagwatch_kafka_group_lag_messages",
            labels,
            sum(lags),
            now,
            uncounted if no_commit else None,
        )
    )
    worst_tp = _max_time_lag_key(judged)
    if worst_tp is not None:
        j = judged[worst_tp]
        why = f"{worst_tp[0]}[{worst_tp[1]}], {METHOD_NAMES[j.time_lag.method]}"
        out.append(
            Sample(
                "lagwatch_kafka_group_max_lag_seconds", labels, j.time_lag.seconds or 0.0, now, why
            )
        )
        out.append(
            Sample(
                "lagwatch_kafka_group_max_lag_method", labels, float(j.time_lag.method), now, why
            )
        )
    elif judged:
        unavailable = float(LagMethod.UNAVAILABLE)
        out.append(Sample("lagwatch_kafka_group_max_lag_method", labels, unavailable, now))


def cluster_series(
    out: list[Sample], cluster: str, view: ClusterView, groups: int, only: set[TP] | None = None
) -> None:
    """Append the cluster's, its topics' and its partitions' own samples (of ``only``, if given)."""
    now = view.taken_at
    labels = (("cluster", cluster),)
    out.append(
        Sample("lagwatch_kafka_groups", labels, groups, now, "; ".join(view.listing_errors) or None)
    )
    if view.brokers is not None:
        out.append(Sample("lagwatch_kafka_brokers", labels, view.brokers, now))
    for (topic, partition), end in view.log_end.items():
        if only is not None and (topic, partition) not in only:
            continue
        plabels = (("cluster", cluster), ("partition", str(partition)), ("topic", topic))
        out.append(Sample("lagwatch_kafka_partition_log_end_offset", plabels, end, now))
        earliest = view.earliest.get((topic, partition))
        if earliest is not None:
            out.append(Sample("lagwatch_kafka_partition_earliest_offset", plabels, earliest, now))
    for topic, compacted in view.compacted.items():
        tlabels = (("cluster", cluster), ("topic", topic))
        out.append(
            Sample("lagwatch_kafka_topic_compacted", tlabels, 1.0 if compacted else 0.0, now)
        )


def _max_time_lag(items: list[Judgement]) -> Judgement | None:
    """Return the judgement with the largest time lag, or None if a committed partition has none."""
    best: Judgement | None = None
    for j in items:
        if j.lag is None:
            continue
        seconds = j.time_lag.seconds
        if seconds is None:
            return None
        if best is None or seconds > (best.time_lag.seconds or 0.0):
            best = j
    return best


def _max_time_lag_key(judged: Mapping[TP, Judgement]) -> TP | None:
    best = _max_time_lag(list(judged.values()))
    if best is None:
        return None
    return next(tp for tp, j in judged.items() if j is best)
