"""What the numbers mean: status mappings and the judgements pages show, as pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lagwatch.dashboard.fmt import duration
from lagwatch.store.contracts import GroupState, KafkaStatus, WalStatus, names

# Documented numeric statuses (DESIGN.md, Metrics).
KAFKA_STATUS = names(KafkaStatus)
WAL_STATUS = names(WalStatus)
GROUP_STATE = names(GroupState)

# Health, least to most bad; each with the colour Streamlit badges know.
OK, WARN, CRIT, UNKNOWN = "ok", "warn", "crit", "unknown"
COLOUR = {OK: "green", WARN: "orange", CRIT: "red", UNKNOWN: "gray"}
RANK = {OK: 0, UNKNOWN: 1, WARN: 2, CRIT: 3}

# A latest value older than this is shown as stale rather than trusted.
STALE_AFTER = 180.0


def status_name(mapping: Mapping[int, str], value: float | None) -> str:
    """Return the name of a numeric status, or 'unknown (N)' for one not in the mapping."""
    if value is None:
        return "unknown"
    return mapping.get(int(value), f"unknown ({value:g})")


def kafka_health(status: float | None) -> str:
    """Return the health of a Kafka verdict: OK ok, WARN warn, the rest crit."""
    if status is None:
        return UNKNOWN
    return OK if int(status) == 0 else WARN if int(status) == 1 else CRIT


def kafka_current_partitions(
    found: Sequence[tuple[str, ...]], status: Mapping[tuple[str, ...], Any], cycle: float
) -> list[tuple[str, ...]]:
    """With ``partition_series: problems``: the partitions to list, out of ``found``.

    Those not OK, and those written in the group's latest cycle (at ``cycle``: one
    that just turned OK); one OK since an earlier write is left out, its values old.
    ``status`` holds each partition's latest status (a LatestValue).
    """
    return [
        k
        for k in found
        if k not in status or kafka_health(status[k].value) != OK or status[k].ts >= cycle
    ]


def wal_health(status: float | None, active: float | None) -> str:
    """Return a slot's health: lost or unreserved crit, extended or inactive warn."""
    if status is None:
        return UNKNOWN
    if int(status) >= 2:
        return CRIT
    if int(status) == 1 or active == 0:
        return WARN
    return OK


def worst(healths: Iterable[str]) -> str:
    """Return the worst of several healths (OK when there are none)."""
    return max(healths, key=lambda h: RANK[h], default=OK)


def freshness_health(freshness: float | None, slo: float | None, stale: bool) -> str:
    """Return a pipeline's health from freshness vs its SLO: over 2× the SLO is crit."""
    if freshness is None or stale:
        return UNKNOWN
    if slo is None or freshness <= slo:
        return OK
    return WARN if freshness <= 2 * slo else CRIT


def quantile_name(label: str) -> str:
    """Return p50/p95/p99/max for quantile labels written as 0.5, 0.95, p99, max, …."""
    text = label.strip().lower()
    if text in ("max", "1", "1.0"):
        return "max"
    try:
        value = float(text.removeprefix("p"))
    except ValueError:
        return text
    if value <= 1:
        value *= 100
    return f"p{value:g}"


@dataclass(frozen=True)
class HopVerdict:
    """The hop a pipeline is waiting on, and why."""

    hop: str
    reason: str


def hop_behind(
    latency: Mapping[str, float],
    lost: Mapping[str, float],
    group_lag: Mapping[str, float],
) -> HopVerdict | None:
    """Return the hop that holds a pipeline back, or None when nothing stands out.

    ``latency`` is commit → hop in seconds (cumulative, per hop), ``lost`` the
    probes lost per hop in the window, ``group_lag`` each downstream group's
    lag in seconds. Lost probes come first: a stalled hop stops reporting
    latency, but it keeps losing probes. Then the hop that adds most latency
    over the hop before it, then the most lagging group.
    """
    lost_hops = [(n, hop) for hop, n in lost.items() if n > 0]
    if lost_hops:
        n, hop = max(lost_hops)
        return HopVerdict(hop, f"{n:,.0f} probes lost")
    if latency:
        ordered = sorted(latency.items(), key=lambda kv: kv[1])
        previous: tuple[str, float] = ("the commit", 0.0)
        steps = []
        for hop, seconds in ordered:
            steps.append((seconds - previous[1], hop, previous[0]))
            previous = (hop, seconds)
        added, hop, before = max(steps)
        if added > 0:
            return HopVerdict(hop, f"adds {duration(added)} after {before}")
    if group_lag:
        group, seconds = max(group_lag.items(), key=lambda kv: kv[1])
        if seconds > 0:
            return HopVerdict(group, f"{duration(seconds)} behind")
    return None


def down_since(points: Sequence[tuple[float, float]]) -> float | None:
    """Return when a 0/1 up series last went to 0 and stayed there, or None if it is up."""
    if not points or points[-1][1] >= 1:
        return None
    since = points[-1][0]
    for ts, value in reversed(points):
        if value >= 1:
            break
        since = ts
    return since


@dataclass(frozen=True)
class SloReport:
    """How a pipeline did against its freshness SLO over a window."""

    good_fraction: float
    burn_rate: float | None
    budget_left: float | None


def slo_report(
    points: Sequence[tuple[float, float]], slo: float, objective: float | None
) -> SloReport | None:
    """Return the share of time freshness met the SLO and the error-budget burn rate.

    Each point counts for the time until the next one, so uneven sampling
    does not skew the share. Burn rate 1 spends the budget exactly over the
    SLO period; above 1 spends it faster.
    """
    if not points:
        return None
    good = total = 0.0
    for (ts, value), (next_ts, _) in zip(points, [*points[1:], points[-1]], strict=True):
        weight = max(next_ts - ts, 0.0) or 1.0
        total += weight
        if value <= slo:
            good += weight
    fraction = good / total
    if objective is None or objective >= 100:
        return SloReport(fraction, None, None)
    allowed = 1 - objective / 100
    burn = (1 - fraction) / allowed
    return SloReport(fraction, burn, 1 - burn)
