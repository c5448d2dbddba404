"""Pipelines: a source, a topic and its consumer groups, with a freshness SLO.

A pipeline without a probe gets its freshness *estimated* from what the other
collectors stored: the source hop's time lag (the CDC reader's lag in bytes
divided by the source's write rate) plus the worst consumer group's time lag.
With a probe it is *measured* (``collector.py``). The series
`lagwatch_pipeline_freshness_seconds{pipeline, method}` says which.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lagwatch.collectors.base import CollectorContext, SourceKind, SourceLag, SourceUnreachable
from lagwatch.collectors.kinds import SOURCE_KINDS, pipeline_kinds
from lagwatch.collectors.probe.book import slo_samples
from lagwatch.collectors.probe.config import PipelineConfig
from lagwatch.collectors.rate import newest_reading
from lagwatch.store import Sample, Store
from lagwatch.store.contracts import origin
from lagwatch.store.types import format_duration

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
        elif SOURCE_KINDS[kind].pipeline is None:
            starts = " or ".join(pipeline_kinds())
            problems.append(
                (
                    (*at, "source"),
                    f"source {pipe.source!r} is {kind}; a pipeline starts at a {starts} source",
                )
            )
        else:
            problems += _reader_problems(pipe, at, kind, probed)
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
        problems += _tap_problems(probe, i, kind)
        try:
            probe.table_name()
        except ValueError as exc:
            problems.append((("probes", i, "table"), str(exc)))
    return problems


def _reader_problems(
    pipe: PipelineConfig, at: tuple[Any, ...], kind: str, probed: set[str]
) -> list[Problem]:
    """Return what is wrong with how a pipeline names the CDC reader of its source."""
    support = SOURCE_KINDS[kind].pipeline
    assert support is not None
    own = support.reader_key
    for other in _other_keys(kind, lambda k: k.pipeline.reader_key if k.pipeline else None):
        if getattr(pipe, other) is not None:
            return [
                (
                    (*at, other),
                    f"source {pipe.source!r} is {kind}: name {support.reader_what} with {own}:, not {other}:",
                )
            ]
    if getattr(pipe, own) is None and pipe.name not in probed:
        return [
            (
                (*at, own),
                f"the source hop is missing: set {own}: (the CDC reader feeding {pipe.topic}), or add a probe for {pipe.name!r} under probes:",
            )
        ]
    return []


def _tap_problems(probe: Any, i: int, kind: str | None) -> list[Problem]:
    """Return each `probes[].tap` key that belongs to another source kind than the pipeline's."""
    if kind not in SOURCE_KINDS:
        return []  # the pipeline's own problem says so
    support = SOURCE_KINDS[kind].probe
    if support is None:
        return [(("probes", i, "pipeline"), f"a probe cannot write to a {kind} source")]
    problems: list[Problem] = []
    for name, other in SOURCE_KINDS.items():
        key = other.probe.tap_key if other.probe else None
        if name == kind or key is None or key == support.tap_key:
            continue
        if getattr(probe.tap, key, None) is not None:
            problems.append(
                (
                    ("probes", i, "tap", key),
                    f"{key}: is for a {name} source; this pipeline reads {kind} (use {support.tap_key}: if needed)",
                )
            )
    return problems


def _other_keys(kind: str, key_of: Callable[[SourceKind], str | None]) -> list[str]:
    own = key_of(SOURCE_KINDS[kind])
    keys = (key_of(k) for name, k in SOURCE_KINDS.items() if name != kind)
    return sorted({k for k in keys if k is not None and k != own})


def _list(names: Iterable[str]) -> str:
    found = sorted(names)
    return ", ".join(found) if found else "none configured"


def cluster_of(pipe: PipelineConfig, kafka: Sequence[Any]) -> Any:
    """Return the Kafka cluster config a (validated) pipeline's topic lives on."""
    return next(k for k in kafka if pipe.kafka in (None, k.name))


STALE_AFTER = 60.0
"""A stored lag older than this (or three estimate intervals) no longer stands for now."""


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
        self.origins: tuple[str, ...] = (origin("source", pipe.source), origin("cluster", cluster))
        self.interval = pipe.interval
        self.timeout = 10.0
        self.good = 0
        self.bad = 0

    def source_lag(self, now: float) -> SourceLag | None:
        """Return how far the CDC reader is behind, as its source kind reads the store."""
        support = SOURCE_KINDS[self.source_kind].pipeline
        reader = getattr(self.pipe, support.reader_key) if support else None
        if support is None or not reader:
            return None
        return support.source_lag(self.store, self.pipe.source, reader, now)

    def group_lag(self) -> tuple[float | None, float | None]:
        """Return the worst time lag among the pipeline's consumer groups, and when it was read."""
        readings = [
            newest_reading(
                self.store,
                "lagwatch_kafka_group_max_lag_seconds",
                {"cluster": self.cluster, "group": g},
            )
            for g in self.pipe.groups
        ]
        known = [r for r in readings if r is not None]
        if not known:
            return None, None
        worst = max(known, key=lambda r: r.value)
        return worst.value, min(r.ts for r in known)

    def stale(self, as_of: float | None, now: float) -> str | None:
        """Return why a reading taken at ``as_of`` is too old to stand for now, or None."""
        if as_of is None:
            return None
        age = now - as_of
        limit = max(3 * self.interval, STALE_AFTER)
        return f"stale: last read {format_duration(age)} ago" if age > limit else None

    def collect(self) -> Iterable[Sample]:
        now = time.time()
        reader = self.pipe.slot or self.pipe.reader or self.pipe.source
        lag = self.source_lag(now)
        source = lag.seconds if lag is not None else None
        groups, groups_at = self.group_lag()
        missing = []
        notes = []
        why = self.stale(lag.as_of if lag else None, now)
        if source is None or why:
            missing.append(f"source lag of {reader}" + (f" ({why})" if why else ""))
            source = None
        elif lag is not None and lag.note:
            notes.append(f"source lag: {lag.note}")
        why = self.stale(groups_at, now)
        if (groups is None or why) and self.pipe.groups:
            missing.append("consumer group time lag" + (f" ({why})" if why else ""))
            groups = None
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
        if missing:
            notes.insert(0, f"unknown: {', '.join(missing)}")
        yield Sample.of(
            "lagwatch_pipeline_freshness_seconds", estimate, now, note="; ".join(notes) or None,
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
