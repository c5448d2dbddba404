"""Summaries several pages share: a pipeline's state, failing collectors, firing alerts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lagwatch.alerts.incidents import OPEN, Incident
from lagwatch.alerts.state import FIRING, AlertState
from lagwatch.dashboard import data, model

FRESHNESS = "lagwatch_pipeline_freshness_seconds"
PROBE_LATENCY = "lagwatch_probe_latency_seconds"
PROBE_LOST = "lagwatch_probe_lost_total"
GROUP_LAG_SECONDS = "lagwatch_kafka_group_max_lag_seconds"
COLLECTOR_UP = "lagwatch_collector_up"
# How far back "down since" looks for the last time a collector was up.
DOWN_LOOKBACK = 86400.0
# Lost probes name the hop behind only while they are this recent: an hour-old stall in the
# selected range does not outvote what holds the pipeline back now.
BEHIND_LOOKBACK = 300.0


def increase(points: Sequence[tuple[float, float]]) -> float:
    """Return how much a counter grew over ``points``, counting through resets."""
    total = 0.0
    for (_, before), (_, after) in zip(points, points[1:], strict=False):
        total += after - before if after >= before else after
    return total


def firing(alerts: Sequence[AlertState]) -> list[AlertState]:
    """Return the alerts firing and told to receivers (not silenced or inhibited)."""
    return [a for a in alerts if a.state == FIRING and not a.muted]


def muted(alerts: Sequence[AlertState]) -> list[AlertState]:
    """Return the alerts firing but silenced or inhibited."""
    return [a for a in alerts if a.state == FIRING and a.muted]


def pipeline_groups(pipeline: data.PipelineInfo, latency: Mapping[str, float]) -> set[str]:
    """Return the pipeline's consumer groups: configured, or timed as its probe's hops."""
    hops = {hop.split(":", 1)[1] for hop in latency if hop.startswith("group:")}
    return set(pipeline.groups) | hops


def pipeline_incident(pipeline: str, incidents: Sequence[Incident]) -> Incident | None:
    """Return the newest open incident the engine ties to ``pipeline``, or None."""
    mine = [i for i in incidents if i.state == OPEN and pipeline in i.pipelines]
    return max(mine, key=lambda i: i.created_at, default=None)


def pipeline_alerts(
    pipeline: data.PipelineInfo,
    groups: set[str],
    alerts: Sequence[AlertState],
    incident: Incident | None = None,
) -> list[AlertState]:
    """Return the alerts about ``pipeline``: labelled with it, its groups or its connector, or
    members of its open incident (its slot, source, Connect worker…)."""
    members = set(incident.members) if incident is not None else set()
    return [
        a
        for a in alerts
        if a.labels.get("pipeline") == pipeline.name
        or a.labels.get("group") in groups
        or (pipeline.connector is not None and a.labels.get("connector") == pipeline.connector)
        or a.fingerprint in members
    ]


def incident_behind(incident: Incident) -> model.HopVerdict | None:
    """Return the incident's root hop and the root's evidence, as the hop behind."""
    if not incident.root_hop:
        return None
    root = incident.members.get(incident.root)
    why = (root.evidence if root is not None else "") or incident.root_rule
    return model.HopVerdict(incident.root_hop, why)


@dataclass(frozen=True)
class PipelineState:
    """What Overview and the Pipeline page say about one pipeline right now."""

    info: data.PipelineInfo
    freshness: float | None
    freshness_ts: float | None
    stale: bool
    health: str
    behind: model.HopVerdict | None
    latency: dict[str, float]
    lost: dict[str, float]
    alerts: list[AlertState]

    @property
    def label(self) -> str:
        """Return the tile's one-word state: fresh, behind, failing, stale or no data."""
        if self.health == model.UNKNOWN:
            return "stale" if self.stale else "no data"
        return {model.OK: "fresh", model.WARN: "behind"}.get(self.health, "failing")


def hop_latency(pipeline: str, quantile: str = "p95") -> dict[str, float]:
    """Return commit → hop latency per hop at ``quantile`` (falling back to the highest one)."""
    by_hop: dict[str, dict[str, float]] = {}
    for value in data.latest(PROBE_LATENCY, pipeline=pipeline):
        labels = value.label_dict
        q = model.quantile_name(labels.get("quantile", "max"))
        by_hop.setdefault(labels.get("hop", "?"), {})[q] = value.value
    return {hop: qs.get(quantile, max(qs.values())) for hop, qs in by_hop.items() if qs}


def probes_lost(pipeline: str, window: data.Window) -> dict[str, float]:
    """Return probes lost per hop within ``window``."""
    return {
        s.label_dict.get("hop", "?"): increase(s.points)
        for s in data.series(PROBE_LOST, window, {"pipeline": pipeline}, agg="max")
    }


def pipeline_state(
    info: data.PipelineInfo,
    window: data.Window,
    alerts: Sequence[AlertState],
    incidents: Sequence[Incident] = (),
) -> PipelineState:
    """Return the state of one pipeline: freshness vs SLO, the hop behind, its alerts.

    The hop behind is the root of the pipeline's open incident when there is one (the alert
    engine's own verdict), else what its probes and groups say now."""
    found = data.latest(FRESHNESS, pipeline=info.name)
    value = found[0] if found else None
    at = data.now()
    stale = value is not None and at - value.ts > model.STALE_AFTER
    latency = hop_latency(info.name)
    lost = probes_lost(info.name, window)
    group_lag = {
        v.label_dict.get("group", ""): v.value
        for v in data.latest(GROUP_LAG_SECONDS)
        if v.label_dict.get("group") in info.groups
    }
    incident = pipeline_incident(info.name, incidents)
    mine = pipeline_alerts(info, pipeline_groups(info, latency), alerts, incident)
    health = model.freshness_health(value.value if value else None, info.slo_seconds, stale)
    if firing(mine):
        health = model.worst([health, model.CRIT])
    elif any(v > 0 for v in lost.values()):
        health = model.worst([health, model.WARN])
    behind = None
    if health != model.OK:
        behind = incident_behind(incident) if incident is not None else None
        if behind is None:
            recent = data.Window(max(window.start, window.end - BEHIND_LOOKBACK), window.end)
            behind = model.hop_behind(latency, probes_lost(info.name, recent), group_lag)
    return PipelineState(
        info,
        value.value if value else None,
        value.ts if value else None,
        stale,
        health,
        behind,
        latency,
        lost,
        mine,
    )


@dataclass(frozen=True)
class DownCollector:
    """A collector whose last run failed."""

    collector: str
    error: str
    since: float | None  # None: down for the whole lookback (a day)
    last_run: float


def failing_collectors() -> list[DownCollector]:
    """Return the collectors whose last run failed, with since when (within a day)."""
    down = [v for v in data.latest(COLLECTOR_UP) if v.value < 1]
    if not down:
        return []
    lookback = data.Window.last(DOWN_LOOKBACK)
    out = []
    for value in down:
        name = value.label_dict.get("collector", "?")
        history = data.series(COLLECTOR_UP, lookback, {"collector": name}, agg="max")
        points = history[0].points if history else []
        # Never up within the lookback: "since" is older than we can tell.
        since = model.down_since(points) if any(v >= 1 for _, v in points) else None
        out.append(DownCollector(name, value.note or "no error text", since, value.ts))
    return sorted(out, key=lambda d: d.since or 0.0)
