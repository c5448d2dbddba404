"""Pipelines: a source, a topic and its consumer groups, with a freshness SLO.

A pipeline without a probe gets its freshness *estimated* from what the other
collectors stored: the source hop's time lag (the CDC reader's lag in bytes
divided by the source's write rate) plus the worst consumer group's time lag.
With a probe it is *measured* (``collector.py``). The series
`lagwatch_pipeline_freshness_seconds{pipeline, method}` says which.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from lagwatch.collectors.base import CollectorContext, SourceUnreachable
from lagwatch.collectors.probe.book import slo_samples
from lagwatch.collectors.probe.config import PipelineConfig
from lagwatch.store import Sample, Store

Problem = tuple[tuple[Any, ...], str]
"""A config path such as ("pipelines", 0, "source") and what is wrong there."""


def check_pipelines(
    pipelines: Sequence[PipelineConfig],
    probes: Sequence[Any],
    sources: Sequence[Any],
    kafka: Sequence[Any],
) -> list[Problem]:
    """Return every hop a pipeline or probe names that the config does not have."""
    problems: list[Problem] = []
    kinds = {s.name: s.kind for s in sources}
    clusters = [k.name for k in kafka]
    probed = {p.pipeline for p in probes}
    seen: set[str] = set()
    for i, pipe in enumerate(pipelines):
        at = ("pipelines", i)
        if pipe.name in seen:
            problems.append(
                ((*at, "name"), f"pipeline {pipe.name!r} is defined twice; names must be unique")
            )
        seen.add(pipe.name)
        kind = kinds.get(pipe.source)
        if kind is None:
            problems.append(
                (
                    (*at, "source"),
                    f"no source named {pipe.source!r}; name one of the sources: entries ({_list(kinds)})",
                )
            )
        elif kind not in ("postgres", "mysql"):
            problems.append(
                (
                    (*at, "source"),
                    f"source {pipe.source!r} is {kind}; a pipeline starts at a postgres or mysql source",
                )
            )
        elif kind == "postgres" and pipe.reader is not None:
            problems.append(
                (
                    (*at, "reader"),
                    f"source {pipe.source!r} is postgres: name the CDC reader's slot with slot:, not reader:",
                )
            )
        elif kind == "mysql" and pipe.slot is not None:
            problems.append(
                (
                    (*at, "slot"),
                    f"source {pipe.source!r} is mysql: name the binlog reader with reader:, not slot:",
                )
            )
        elif pipe.slot is None and pipe.reader is None and pipe.name not in probed:
            key = "slot" if kind == "postgres" else "reader"
            problems.append(
                (
                    (*at, key),
                    f"the source hop is missing: set {key}: (the CDC reader feeding {pipe.topic}), or add a probe for {pipe.name!r} under probes:",
                )
            )
        if pipe.kafka is None and len(clusters) != 1:
            why = (
                "there is no kafka: cluster; add one"
                if not clusters
                else f"there are several kafka: clusters; say which ({_list(clusters)})"
            )
            problems.append(((*at, "kafka"), f"the topic hop is missing its cluster: {why}"))
        elif pipe.kafka is not None and pipe.kafka not in clusters:
            problems.append(
                (
                    (*at, "kafka"),
                    f"no kafka cluster named {pipe.kafka!r}; name one of ({_list(clusters)})",
                )
            )
        dupes = sorted({g for g in pipe.groups if pipe.groups.count(g) > 1})
        if dupes:
            problems.append(((*at, "groups"), f"consumer groups listed twice: {', '.join(dupes)}"))
    names = [p.name for p in pipelines]
    probe_seen: set[str] = set()
    for i, probe in enumerate(probes):
        if probe.pipeline not in names:
            problems.append(
                (
                    ("probes", i, "pipeline"),
                    f"no pipeline named {probe.pipeline!r}; name one of the pipelines: entries ({_list(names)})",
                )
            )
            continue
        if probe.pipeline in probe_seen:
            problems.append(
                (
                    ("probes", i, "pipeline"),
                    f"pipeline {probe.pipeline!r} already has a probe; one probe per pipeline",
                )
            )
        probe_seen.add(probe.pipeline)
        kind = kinds.get(next(p.source for p in pipelines if p.name == probe.pipeline))
        if kind == "mysql" and probe.tap.slot is not None:
            problems.append(
                (
                    ("probes", i, "tap", "slot"),
                    "slot: is for a postgres source; this pipeline reads mysql (use server_id: if needed)",
                )
            )
        if kind == "postgres" and probe.tap.server_id is not None:
            problems.append(
                (
                    ("probes", i, "tap", "server_id"),
                    "server_id: is for a mysql source; this pipeline reads postgres (use slot: if needed)",
                )
            )
        try:
            probe.table_name()
        except ValueError as exc:
            problems.append((("probes", i, "table"), str(exc)))
    return problems


def _list(names: Iterable[str]) -> str:
    found = sorted(names)
    return ", ".join(found) if found else "none configured"


def cluster_of(pipe: PipelineConfig, kafka: Sequence[Any]) -> Any:
    """Return the Kafka cluster config a (validated) pipeline's topic lives on."""
    return next(k for k in kafka if pipe.kafka in (None, k.name))


class FreshnessEstimate:
    """Estimates a pipeline's freshness from the lags other collectors stored.

    Failure policy: a hop whose lag is not in the store yet is named in the
    sample's note and left out of the sum; with no hop known at all, collect
    raises, so `lagwatch_collector_up` says what is missing.
    """

    def __init__(self, pipe: PipelineConfig, source_kind: str, cluster: str, store: Store) -> None:
        self.pipe = pipe
        self.source_kind = source_kind
        self.cluster = cluster
        self.store = store
        self.name = f"pipeline:{pipe.name}"
        self.interval = pipe.interval
        self.timeout = 10.0
        self.good = 0
        self.bad = 0

    def _latest(self, name: str, **labels: str) -> float | None:
        found = self.store.latest(name, labels)
        return max(v.value for v in found) if found else None

    def source_lag(self, now: float) -> float | None:
        """Return the CDC reader's lag in seconds: bytes behind ÷ bytes written per second."""
        src = self.pipe.source
        if self.source_kind == "postgres" and self.pipe.slot:
            behind = self._latest(
                "lagwatch_pg_slot_confirmed_lag_bytes", source=src, slot=self.pipe.slot
            )
            rate = self._latest("lagwatch_pg_wal_bytes_per_second", source=src)
        elif self.source_kind == "mysql" and self.pipe.reader:
            behind = self._latest(
                "lagwatch_mysql_binlog_reader_behind_bytes", source=src, reader=self.pipe.reader
            )
            rate = self._binlog_rate(now)
        else:
            return None
        if behind is None:
            return None
        if behind <= 0:
            return 0.0
        return behind / rate if rate else None

    def _binlog_rate(self, now: float) -> float | None:
        series = self.store.query_range(
            "lagwatch_mysql_binlog_bytes", {"source": self.pipe.source}, now - 600, now
        )
        points = series[0].points if series else []
        if len(points) < 2 or points[-1][0] <= points[0][0]:
            return None
        return max(0.0, (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0]))

    def group_lag(self) -> float | None:
        """Return the worst time lag among the pipeline's consumer groups."""
        lags = [
            self._latest("lagwatch_kafka_group_max_lag_seconds", cluster=self.cluster, group=g)
            for g in self.pipe.groups
        ]
        known = [lag for lag in lags if lag is not None]
        return max(known) if known else None

    def collect(self) -> Iterable[Sample]:
        now = time.time()
        source, groups = self.source_lag(now), self.group_lag()
        missing = []
        if source is None:
            missing.append(
                f"source lag of {self.pipe.slot or self.pipe.reader or self.pipe.source}"
            )
        if groups is None and self.pipe.groups:
            missing.append("consumer group time lag")
        if source is None and groups is None:
            raise SourceUnreachable(
                f"pipeline {self.pipe.name}: no lag stored yet for any hop ({', '.join(missing)}); "
                "check that the source and kafka collectors run, or add a probe"
            )
        estimate = (source or 0.0) + (groups or 0.0)
        if estimate <= self.pipe.slo.freshness:
            self.good += 1
        else:
            self.bad += 1
        note = f"unknown: {', '.join(missing)}" if missing else None
        yield Sample.of(
            "lagwatch_pipeline_freshness_seconds", estimate, now, note=note,
            pipeline=self.pipe.name, method="estimate",
        )  # fmt: skip
        yield from slo_samples(
            self.pipe.name,
            self.good,
            self.bad,
            self.pipe.slo.freshness,
            self.pipe.slo.objective,
            now,
        )

    def check(self) -> None:
        pass

    def close(self) -> None:
        pass


def build_estimates(
    pipelines: Sequence[PipelineConfig], probes: Sequence[Any], sources: Sequence[Any],
    kafka: Sequence[Any], context: CollectorContext,
) -> list[FreshnessEstimate]:  # fmt: skip
    """Return an estimate for each pipeline that has no probe (and a store to read)."""
    if context.store is None:
        return []
    probed = {p.pipeline for p in probes}
    kinds = {s.name: s.kind for s in sources}
    return [
        FreshnessEstimate(pipe, kinds[pipe.source], cluster_of(pipe, kafka).name, context.store)
        for pipe in pipelines
        if pipe.name not in probed
    ]
