"""Rule config (YAML) and its compiled form: each kind turns a view of the data into observations."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lagwatch.alerts.evaluate import (
    Groups,
    burn_rate,
    combine,
    counter_increase,
    error_ratio_from_events,
    error_ratio_from_sli,
    range_value,
    time_to_limit,
)
from lagwatch.alerts.expr import (
    COMPARISONS,
    Selector,
    ThresholdExpr,
    parse_number,
    parse_selector,
    parse_threshold,
)
from lagwatch.alerts.template import check_template
from lagwatch.alerts.topology import Topology
from lagwatch.alerts.view import DataView
from lagwatch.store import Labels
from lagwatch.store.types import Duration

Severity = Literal["page", "ticket", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"info": 0, "warning": 1, "ticket": 2, "page": 3}
KINDS = ("expr", "absent", "predict", "burn_rate")


class BurnWindow(BaseModel):
    """One multi-window pair: fire when both windows burn faster than ``factor``."""

    model_config = ConfigDict(extra="forbid")

    long: Duration
    short: Duration
    factor: float = Field(gt=0)
    severity: Severity


DEFAULT_BURN_WINDOWS = [
    BurnWindow(long=3600, short=300, factor=14.4, severity="page"),
    BurnWindow(long=6 * 3600, short=1800, factor=6.0, severity="page"),
    BurnWindow(long=3 * 86400, short=6 * 3600, factor=1.0, severity="ticket"),
]


class BurnRateConfig(BaseModel):
    """An SLO burn rate from good/bad event counters, or from an SLI series and its threshold."""

    model_config = ConfigDict(extra="forbid")

    sli: str | None = None
    threshold: Duration | None = None
    good: str | None = None
    bad: str | None = None
    objective: float | None = Field(None, gt=0, lt=100)
    by: list[str] = ["pipeline"]
    windows: list[BurnWindow] = DEFAULT_BURN_WINDOWS

    @model_validator(mode="after")
    def _one_form(self) -> BurnRateConfig:
        if bool(self.sli) == bool(self.good and self.bad):
            raise ValueError(
                "burn_rate needs either sli (a series such as lagwatch_pipeline_freshness_seconds) "
                "or both good and bad (event counters), not both and not neither"
            )
        for text in (self.sli, self.good, self.bad):
            if text:
                parse_selector(text)
        return self


class PredictConfig(BaseModel):
    """A time-to-X series below a horizon, or a series' trend reaching a ceiling within it."""

    model_config = ConfigDict(extra="forbid")

    series: str
    horizon: Duration
    limit: float | str | None = None
    window: Duration = 3600.0

    @field_validator("series")
    @classmethod
    def _selector(cls, text: str) -> str:
        parse_selector(text)
        return text

    @field_validator("limit")
    @classmethod
    def _limit(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, str):
            parse_number(value)
        return value


class RuleConfig(BaseModel):
    """One alert rule: exactly one of ``expr``, ``absent``, ``predict``, ``burn_rate``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    expr: str | None = None
    absent: str | None = None
    predict: PredictConfig | None = None
    burn_rate: BurnRateConfig | None = None
    for_: Duration = Field(0.0, alias="for")
    keep_firing_for: Duration = 0.0
    after: Duration = Field(300.0, description="absent: how long a series may stay silent")
    forget_after: Duration = Field(86400.0, description="absent: series silent longer are gone")
    stale_after: Duration = Field(3600.0, description="values older than this are not judged")
    severity: Severity = "warning"
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}

    @model_validator(mode="after")
    def _one_kind(self) -> RuleConfig:
        given = [k for k in KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"rule {self.name}: give exactly one of expr, absent, predict, burn_rate "
                f"(found {', '.join(given) or 'none'})"
            )
        return self

    @field_validator("expr")
    @classmethod
    def _expr(cls, text: str | None) -> str | None:
        if text is not None:
            parse_threshold(text)
        return text

    @field_validator("absent")
    @classmethod
    def _absent(cls, text: str | None) -> str | None:
        if text is not None:
            parse_selector(text)
        return text

    @field_validator("annotations")
    @classmethod
    def _templates(cls, annotations: dict[str, str]) -> dict[str, str]:
        for key, text in annotations.items():
            try:
                check_template(text)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return annotations

    @field_validator("labels")
    @classmethod
    def _own_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in ("alertname", "severity"):
            if key in labels:
                raise ValueError(f"{key} is set by the rule itself; remove it")
        return labels

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)


@dataclass(frozen=True, slots=True)
class Observation:
    """One series (or aggregate) whose condition holds: its labels, value and the threshold."""

    labels: dict[str, str]
    value: float
    ts: float
    threshold: float | None = None
    op: str = ""
    note: str | None = None
    severity: str | None = None


class Kind(Protocol):
    def observe(self, view: DataView) -> list[Observation]: ...

    def metrics(self) -> list[str]: ...


@dataclass(frozen=True)
class Threshold:
    expr: ThresholdExpr
    stale_after: float
    # An aggregation's group of each series (its labels → the values of the ``by`` labels).
    _groups: dict[Labels, tuple[str, ...]] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )

    def metrics(self) -> list[str]:
        return [self.expr.selector.metric]

    def observe(self, view: DataView) -> list[Observation]:
        e = self.expr
        oldest = view.now - self.stale_after
        if e.function:
            agg = {"min_over_time": "min", "avg_over_time": "avg"}.get(e.function, "max")
            items = []
            for series in view.history(e.selector, view.now - e.window, agg=agg):  # type: ignore[arg-type]
                if series.points and series.points[-1][0] >= oldest:
                    value = range_value(e.function, series.points, e.window)
                    items.append((series.label_dict, value, series.points[-1][0]))
        elif e.aggregation:
            return self._aggregated(view, oldest)
        else:
            # The common case: only points past the threshold become observations, and a view
            # that keeps its data re-tests only the values that changed since the last cycle.
            holds, threshold = COMPARISONS[e.op], e.threshold
            past = view.where(
                e.selector,
                (e.op, threshold),
                lambda value: value == value and holds(value, threshold),
            )
            return [
                Observation(p.label_dict, p.value, p.ts, threshold, e.op, p.note)
                for p in past
                if p.ts >= oldest
            ]
        return [
            Observation(labels, value, ts, e.threshold, e.op)
            for labels, value, ts in items
            if e.compare(value)
        ]

    def _aggregated(self, view: DataView, oldest: float) -> list[Observation]:
        """Aggregate the latest values (as ``aggregate`` does), each series' group worked
        out once: a cycle reads every matched series, so it reads them as plain rows."""
        e = self.expr
        assert e.aggregation
        by, of = e.by, self._groups
        if len(of) > 100_000:
            of.clear()
        groups: Groups = {}
        for row in view.rows(e.selector):
            value, ts = row[2], row[3]
            if ts < oldest or value != value:  # stale, or NaN
                continue
            key = of.get(row[1])
            if key is None:
                have = dict(row[1])
                key = of[row[1]] = tuple(have.get(b, "") for b in by)
            found = groups.get(key)
            if found is None:
                found = groups[key] = ([], [])
            found[0].append(value)
            found[1].append(ts)
        return [
            Observation(labels, value, ts, e.threshold, e.op)
            for labels, value, ts in combine(groups, e.aggregation, by)
            if e.compare(value)
        ]


@dataclass(frozen=True)
class Absent:
    selector: Selector
    after: float
    forget_after: float

    def metrics(self) -> list[str]:
        return [self.selector.metric]

    def observe(self, view: DataView) -> list[Observation]:
        out = []
        seen = False
        now, started, after, forget_after = view.now, view.started, self.after, self.forget_after
        for row in view.rows(self.selector):
            ts = row[3]
            age = now - ts
            if age > forget_after:
                continue
            # Right after a restart every series looks old; judge from when we started.
            if now - (started if started > ts else ts) > after:
                out.append(Observation(dict(row[1]), age, ts, after, ">"))
            seen = True
        eq = self.selector.matchers
        if (
            not seen
            and eq
            and all(m.op == "=" for m in eq)
            and view.now - view.started > self.after
        ):
            out.append(Observation(self.selector.equalities, math.inf, view.now, self.after, ">"))
        return out


@dataclass(frozen=True)
class Predict:
    selector: Selector
    horizon: float
    limit: float | None
    window: float
    stale_after: float

    def metrics(self) -> list[str]:
        return [self.selector.metric]

    def observe(self, view: DataView) -> list[Observation]:
        out = []
        if self.limit is None:
            oldest = view.now - self.stale_after
            for _, labels, value, ts, note in view.rows(self.selector):
                if ts >= oldest and value < self.horizon:
                    out.append(Observation(dict(labels), value, ts, self.horizon, "<", note))
            return out
        for series in view.history(self.selector, view.now - self.window):
            if not series.points or series.points[-1][0] < view.now - self.stale_after:
                continue
            eta = time_to_limit(series.points, self.limit)
            if eta < self.horizon:  # NaN (too few points) compares false
                out.append(
                    Observation(series.label_dict, eta, series.points[-1][0], self.horizon, "<")
                )
        return out


@dataclass(frozen=True)
class BurnRate:
    config: BurnRateConfig
    topology: Topology

    def metrics(self) -> list[str]:
        c = self.config
        return [parse_selector(t).metric for t in (c.sli, c.good, c.bad) if t]

    def _ratios(self, view: DataView, window: float) -> dict[tuple[str, ...], float]:
        """Return the error ratio over ``window`` per value of the ``by`` labels."""
        c = self.config
        by = c.by
        start = view.now - window
        grouped: dict[tuple[str, ...], list[list[tuple[float, float]]]] = {}
        if c.sli:
            for s in view.history(parse_selector(c.sli), start, max_points=720):
                key = tuple(s.label_dict.get(b, "") for b in by)
                grouped.setdefault(key, []).append(s.points)
            out = {}
            for key, lists in grouped.items():
                threshold = c.threshold
                if threshold is None:
                    link = self.topology.pipeline(
                        dict(zip(by, key, strict=True)).get("pipeline", "")
                    )
                    threshold = link.freshness if link else None
                if threshold is not None:
                    out[key] = error_ratio_from_sli([p for pts in lists for p in pts], threshold)
            return out
        assert c.good and c.bad
        counts: dict[tuple[str, ...], list[float]] = {}
        for i, name in enumerate((c.good, c.bad)):
            for s in view.history(parse_selector(name), start, max_points=720):
                key = tuple(s.label_dict.get(b, "") for b in by)
                pair = counts.setdefault(key, [0.0, 0.0])
                pair[i] += counter_increase(s.points)
        return {key: error_ratio_from_events(good, bad) for key, (good, bad) in counts.items()}

    def observe(self, view: DataView) -> list[Observation]:
        out = []
        c = self.config
        for pair in c.windows:
            long, short = self._ratios(view, pair.long), self._ratios(view, pair.short)
            for key, long_ratio in long.items():
                labels = {b: v for b, v in zip(c.by, key, strict=True) if v}
                objective = c.objective
                if objective is None:
                    link = self.topology.pipeline(labels.get("pipeline", ""))
                    objective = link.objective if link else None
                if objective is None:
                    continue  # no SLO for this pipeline: nothing to burn
                long_burn = burn_rate(long_ratio, objective)
                short_burn = burn_rate(short.get(key, math.nan), objective)
                if long_burn > pair.factor and short_burn > pair.factor:
                    labels["slo_window"] = _window_label(pair.long)
                    out.append(
                        Observation(
                            labels, long_burn, view.now, pair.factor, ">", None, pair.severity
                        )
                    )
        return out


def _window_label(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


@dataclass(frozen=True)
class Rule:
    """A compiled rule: its config and the kind that observes the data."""

    config: RuleConfig
    kind: Kind

    @property
    def name(self) -> str:
        return self.config.name

    def observe(self, view: DataView) -> list[Observation]:
        return self.kind.observe(view)


def compile_rule(config: RuleConfig, topology: Topology | None = None) -> Rule:
    """Return the rule ``config`` describes (the config was validated when it was loaded)."""
    topology = topology or Topology()
    kind: Kind
    if config.expr is not None:
        kind = Threshold(parse_threshold(config.expr), config.stale_after)
    elif config.absent is not None:
        kind = Absent(parse_selector(config.absent), config.after, config.forget_after)
    elif config.predict is not None:
        p = config.predict
        limit = parse_number(p.limit) if isinstance(p.limit, str) else p.limit
        kind = Predict(parse_selector(p.series), p.horizon, limit, p.window, config.stale_after)
    else:
        assert config.burn_rate is not None
        kind = BurnRate(config.burn_rate, topology)
    return Rule(config, kind)
