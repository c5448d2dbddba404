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
from lagwatch.collectors.probe.config import ConnectorReader, PipelineConfig
from lagwatch.collectors.rate import newest_reading
from lagwatch.store import Sample, Store
from lagwatch.store.contracts import ReaderHealth, origin
from lagwatch.store.types import format_duration

Problem = tuple[tuple[Any, ...], str]
"""A config path such as ("pipelines", 0, "source") and what is wrong there."""


def check_pipelines(
    pipelines: Sequence[PipelineConfig],
    probes: Sequence[Any],
    sources: Sequence[Any],
    kafka: Sequence[Any],
    connect: Sequence[Any] = (),
) -> list[Problem]:
    """Return every hop a pipeline or probe names that the config does not have."""
    problems: list[Problem] = []
    connect_names = [c.name for c in connect]
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
        wanted = pipe.connector
        if wanted is not None and wanted.connect not in connect_names:
            problems.append(
                (
                    (*at, "reader", "connect"),
                    f"no connect cluster named {wanted.connect!r}; add it under connect: "
                    f"(name and url of its Kafka Connect REST API) or name one of "
                    f"({_list(connect_names)})",
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
        value = getattr(pipe, other)
        if value is not None and not isinstance(value, ConnectorReader):
            return [
                (
                    (*at, other),
                    f"source {pipe.source!r} is {kind}: name {support.reader_what} with {own}:, not {other}:",
                )
            ]
    if getattr(pipe, own) is None and pipe.connector is None and pipe.name not in probed:
        return [
            (
                (*at, own),
                f"the source hop is missing: set {own}: (the CDC reader feeding {pipe.topic}), "
                "or reader: {connect: CLUSTER, connector: NAME} for a Debezium connector, "
                f"or add a probe for {pipe.name!r} under probes:",
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


CONNECTOR_LAG_BYTES = "lagwatch_debezium_source_lag_bytes"
CONNECTOR_LAG_SECONDS = "lagwatch_debezium_source_lag_seconds"
CONNECTOR_HEALTH = "lagwatch_debezium_reader_health"


def _health_name(value: float) -> str:
    try:
        return ReaderHealth(int(value)).name
    except ValueError:
        return str(int(value))


def reader_of(pipe: PipelineConfig, source: Any) -> str | None:
    """Return the pipeline's reader as its source kind's series name it: the slot, the binlog
    reader's name, or the `readers:` entry of the source that names the pipeline's connector."""
    if pipe.slot or pipe.reader_name:
        return pipe.slot or pipe.reader_name
    ref = pipe.connector
    for entry in getattr(source, "readers", None) or ():
        if ref is not None and (
            getattr(entry, "connect", None),
            getattr(entry, "connector", None),
        ) == (ref.connect, ref.connector):
            return str(entry.name)
    return None


STALE_AFTER = 60.0
"""A stored lag older than this (or three estimate intervals) no longer stands for now."""


class FreshnessEstimate:
    """Estimates a pipeline's freshness from the lags other collectors stored.

    Failure policy: a hop whose lag is not in the store yet is named in the
    sample's note and left out of the sum; with no hop known at all, collect
    raises, so `lagwatch_collector_up` says what is missing.
    """

    def __init__(
        self,
        pipe: PipelineConfig,
        source_kind: str,
        cluster: str,
        store: Store,
        reader: str | None = None,
    ) -> None:
        self.pipe = pipe
        self.source_kind = source_kind
        self.cluster = cluster
        self.store = store
        self.reader = reader if reader is not None else pipe.slot or pipe.reader_name
        """The reader as the source kind's series name it (slot, or binlog reader name)."""
        self.name = f"pipeline:{pipe.name}"
        self.origins: tuple[str, ...] = (origin("source", pipe.source), origin("cluster", cluster))
        if pipe.connector is not None:
            self.origins += (origin("cluster", pipe.connector.connect),)
        self.interval = pipe.interval
        self.timeout = 10.0
        self.good = 0
        self.bad = 0

    def source_lag(self, now: float) -> SourceLag | None:
        """Return how far the CDC reader is behind: the connector's own lag when the pipeline
        names one, else (or while that is unknown or stale) as the source kind reads the store
        for the pipeline's slot or binlog reader, noted as standing in."""
        found = self.connector_lag()
        stale = self.stale(found.as_of, now) if found is not None else None
        if found is not None and stale is None:
            return found
        support = SOURCE_KINDS[self.source_kind].pipeline
        if support is None or not self.reader:
            return found
        estimate = support.source_lag(self.store, self.pipe.source, self.reader, now)
        if found is None or estimate is None or self.stale(estimate.as_of, now):
            return found or estimate
        ref = self.pipe.connector
        assert ref is not None  # a connector figure was found
        why = (
            f"connector {ref.connector} {stale}, estimated from {support.reader_key} {self.reader}"
        )
        return SourceLag(
            estimate.seconds, estimate.as_of, "; ".join(filter(None, (why, estimate.note)))
        )

    def connector_lag(self) -> SourceLag | None:
        """Return the connector hop's lag from the connect collector's series, with its reader
        health in the note when that is not OK; None without a connector or its series.

        0 when it is caught up (nothing waits after its offset); otherwise now − the offset's
        source time, an upper bound (Debezium commits offsets every offset.flush.interval.ms).
        """
        ref = self.pipe.connector
        if ref is None:
            return None
        labels = {"cluster": ref.connect, "connector": ref.connector}
        size = newest_reading(self.store, CONNECTOR_LAG_BYTES, labels)
        if size is None:
            return None
        notes = [f"connector {ref.connector} on {ref.connect}: {size.value:,.0f} B behind"]
        health = newest_reading(self.store, CONNECTOR_HEALTH, labels)
        if health is not None and abs(health.ts - size.ts) < 1.0 and health.value > 0:
            verdict = _health_name(health.value)
            notes.append(f"reader {verdict}" + (f": {health.note}" if health.note else ""))
        note = "; ".join(notes)
        if size.value <= 0:
            return SourceLag(0.0, size.ts, note if len(notes) > 1 else None)
        seconds = newest_reading(self.store, CONNECTOR_LAG_SECONDS, labels)
        if seconds is None or abs(seconds.ts - size.ts) >= 1.0:
            return None  # bytes wait but their age is unknown: the source kind's estimate
        return SourceLag(seconds.value, size.ts, note)

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
        ref = self.pipe.connector
        reader = f"connector {ref.connector}" if ref else self.reader or self.pipe.source
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
    by_name = {s.name: s for s in sources}
    return [
        FreshnessEstimate(
            pipe,
            by_name[pipe.source].kind,
            cluster_of(pipe, kafka).name,
            context.store,
            reader_of(pipe, by_name[pipe.source]),
        )
        for pipe in pipelines
        if pipe.name not in probed
    ]
