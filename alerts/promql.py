"""lagwatch's rules as a Prometheus rule file over lagwatch's own ``/metrics`` names.

``export(rules, ...)`` turns each rule it can into PromQL alerting rules with the
same name, ``for``, ``keep_firing_for``, severity, labels and annotations, and
says why it leaves any other out:

- threshold (``expr``): the same expression; lagwatch's syntax is a subset of
  PromQL's (selectors with ``=``, ``!=``, ``=~``, ``!~``; ``max/min/sum/avg/count
  by``; ``increase/rate/delta/*_over_time`` over a range);
- ``absent``: a series silent longer than ``after`` is one whose newest
  timestamp (lagwatch exports its own sample times) is that old, over the last
  ``forget_after``; with only ``=`` matchers, a selector with no series at all
  for ``after`` too;
- ``predict``: a time-to-X series below the horizon, or ``predict_linear`` over
  the window reaching the limit within the horizon (the same least-squares
  line; ``$value`` is then the predicted value, not the time left);
- ``burn_rate``: one rule per window pair, each window's error ratio from
  ``increase`` of the counters (or the share of SLI points above the
  threshold, over a subquery), against the objective the rule gives or, per
  pipeline, ``pipelines[].slo.objective``.

Left out: a regex Prometheus' RE2 cannot read (lookarounds, back-references),
and a burn rate without any objective.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lagwatch.alerts.expr import Selector, parse_selector, parse_threshold
from lagwatch.alerts.rules import BurnWindow, RuleConfig
from lagwatch.alerts.template import _FIELD, FILTERS
from lagwatch.alerts.topology import PipelineLink

GO_FILTERS = {
    "duration": "humanizeDuration",
    "bytes": "humanize1024",
    "number": "humanize",
    "percent": "humanizePercentage",
    "url": "urlquery",
}
_NOT_RE2 = re.compile(r"\(\?[=!<]|\\[1-9]|\(\?P=")
SUBQUERY_STEP = "1m"


class NotExpressible(ValueError):
    """A rule (or part of one) PromQL cannot say the way lagwatch means it."""


@dataclass
class Exported:
    """The rule file's rules, and the rules left out with why."""

    rules: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def document(self, group: str = "lagwatch") -> dict[str, Any]:
        return {"groups": [{"name": group, "rules": self.rules}]}


# -- PromQL pieces ------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """Return a PromQL duration: ``90s``, ``5m``, ``2h``, ``1d``."""
    if seconds <= 0:
        return "0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s" if seconds != int(seconds) else f"{int(seconds)}s"


def number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return repr(int(value))
    return f"{value:.12g}"  # 14.4 × 0.001 is 0.0144, not 0.014399999999998414


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def selector(sel: Selector, extra: Sequence[tuple[str, str, str]] = ()) -> str:
    """Return the PromQL form of a selector, with extra ``(name, op, value)`` matchers."""
    parts = []
    for m in sel.matchers:
        if m.op in ("=~", "!~") and _NOT_RE2.search(m.value):
            raise NotExpressible(f"the regex {m.value!r} uses syntax RE2 (Prometheus) lacks")
        parts.append(f"{m.name}{m.op}{_quote(m.value)}")
    parts += [f"{name}{op}{_quote(value)}" for name, op, value in extra]
    return f"{sel.metric}{{{', '.join(parts)}}}" if parts else sel.metric


def threshold_expr(text: str) -> str:
    e = parse_threshold(text)
    inner = selector(e.selector)
    if e.function:
        inner = f"{e.function}({inner}[{duration(e.window)}])"
    if e.aggregation:
        by = f" by ({', '.join(e.by)})" if e.by else ""
        inner = f"{e.aggregation}{by} ({inner})"
    return f"{inner} {e.op} {number(e.threshold)}"


def absent_expr(text: str, after: float, forget_after: float) -> str:
    sel = parse_selector(text)
    promql = selector(sel)
    silent = (
        f"time() - max_over_time(timestamp({promql})[{duration(forget_after)}:{SUBQUERY_STEP}])"
        f" > {number(after)}"
    )
    if sel.matchers and all(m.op == "=" for m in sel.matchers):
        return f"({silent}) or absent_over_time({promql}[{duration(after)}])"
    return silent


def predict_expr(rule: RuleConfig) -> str:
    p = rule.predict
    assert p is not None
    sel = selector(parse_selector(p.series))
    if p.limit is None:
        return f"{sel} < {number(p.horizon)}"
    from lagwatch.alerts.expr import parse_number

    limit = parse_number(p.limit) if isinstance(p.limit, str) else float(p.limit)
    return f"predict_linear({sel}[{duration(p.window)}], {number(p.horizon)}) >= {number(limit)}"


def _ratio(rule: RuleConfig, window: float, extra: Sequence[tuple[str, str, str]]) -> str:
    c = rule.burn_rate
    assert c is not None
    by = ", ".join(c.by)
    w = duration(window)
    if c.sli:
        assert c.threshold is not None
        sli = selector(parse_selector(c.sli), extra)
        return (
            f"avg by ({by}) (avg_over_time(({sli} > bool {number(c.threshold)})"
            f"[{w}:{SUBQUERY_STEP}]))"
        )
    assert c.good and c.bad
    good = f"sum by ({by}) (increase({selector(parse_selector(c.good), extra)}[{w}]))"
    bad = f"sum by ({by}) (increase({selector(parse_selector(c.bad), extra)}[{w}]))"
    return f"({bad} / ({good} + {bad}))"


def burn_rules(
    rule: RuleConfig, links: Sequence[PipelineLink]
) -> list[tuple[str, dict[str, str], BurnWindow]]:
    """Return (expr, extra labels, window pair) per window pair and objective."""
    c = rule.burn_rate
    assert c is not None
    scopes: list[tuple[float, Sequence[tuple[str, str, str]], float | None]] = []
    if c.objective is not None:
        if c.sli and c.threshold is None:
            raise NotExpressible("an SLI burn rate with an objective needs its threshold too")
        scopes.append((c.objective, (), c.threshold))
    else:
        if "pipeline" not in c.by:
            raise NotExpressible("without an objective the rule must be by pipeline")
        for link in links:
            threshold = c.threshold if c.threshold is not None else link.freshness
            if link.objective is not None and (threshold is not None or not c.sli):
                scopes.append((link.objective, (("pipeline", "=", link.name),), threshold))
        if not scopes:
            raise NotExpressible(
                "no objective: give burn_rate.objective, or pipelines[].slo in the config"
            )
    out = []
    for objective, extra, threshold in scopes:
        scoped = rule.model_copy(
            update={"burn_rate": c.model_copy(update={"threshold": threshold})}
        )
        budget = number(1 - objective / 100)
        for pair in c.windows:
            # The value is the long window's burn rate, as lagwatch's is.
            expr = (
                f"{_ratio(scoped, pair.long, extra)} / {budget} > {number(pair.factor)} and "
                f"{_ratio(scoped, pair.short, extra)} / {budget} > {number(pair.factor)}"
            )
            labels = {"slo_window": duration(pair.long), "severity": pair.severity}
            out.append((expr, labels, pair))
    return out


# -- annotations --------------------------------------------------------------------------


def go_template(
    text: str, rule: RuleConfig, dashboard: str, runbooks: str, own: dict[str, str] | None = None
) -> str:
    """Return a lagwatch annotation as a Prometheus (Go) template; $note has no equivalent.

    ``own`` are the labels the exported rule sets itself: Prometheus' ``$labels``
    holds only the expression's, so those are written in.
    """

    def sub(match: re.Match[str]) -> str:
        name, key, flt = match.groups()
        if name == "labels" and own and key in own:
            return FILTERS[flt](own[key]) if flt else own[key]
        if name == "labels":
            inner = f"$labels.{key}"
        elif name == "value":
            inner = "$value"
        elif name == "note":
            return ""
        elif name == "dashboard":
            return dashboard.rstrip("/")
        elif name == "runbooks":
            return runbooks
        elif name == "for":
            return FILTERS[flt or "duration"](rule.for_)
        else:  # threshold: a constant of the rule, written as lagwatch writes it
            value = _threshold_of(rule)
            return FILTERS[flt or "number"](value) if value is not None else ""
        return "{{ " + inner + (f" | {GO_FILTERS[flt]}" if flt else "") + " }}"

    return _FIELD.sub(sub, text)


def _threshold_of(rule: RuleConfig) -> float | None:
    if rule.expr:
        return parse_threshold(rule.expr).threshold
    if rule.absent:
        return rule.after
    if rule.predict:
        return rule.predict.horizon
    return None


# lagwatch's own: the phrase an alert adds to its incident's headline (Alertmanager has no incidents).
NOT_EXPORTED = frozenset({"evidence"})


def annotations_of(
    rule: RuleConfig, dashboard: str, runbooks: str, own: dict[str, str] | None = None
) -> dict[str, str]:
    out = {}
    for key, text in rule.annotations.items():
        if key in NOT_EXPORTED:
            continue
        # A $note at the start leaves its separator behind: "{{ $note }}. Alerts …".
        value = re.sub(r"\s+", " ", go_template(text, rule, dashboard, runbooks, own)).strip()
        value = value.lstrip(".;: ").strip()
        if not value or (key.endswith("_url") and not value.startswith(("http://", "https://"))):
            continue
        out[key] = value
    return out


# -- the file ------------------------------------------------------------------------------


def export(
    rules: Iterable[RuleConfig],
    links: Sequence[PipelineLink] = (),
    dashboard: str = "",
    runbooks: str = "",
) -> Exported:
    """Return the Prometheus alerting rules for ``rules`` and the ones left out, with why."""
    out = Exported()
    for rule in rules:
        try:
            out.rules.extend(_alerts(rule, links, dashboard, runbooks))
        except NotExpressible as exc:
            out.skipped.append((rule.name, str(exc)))
    return out


def _alerts(
    rule: RuleConfig, links: Sequence[PipelineLink], dashboard: str, runbooks: str
) -> list[dict[str, Any]]:
    base: dict[str, Any] = {}
    if rule.for_:
        base["for"] = duration(rule.for_)
    if rule.keep_firing_for:
        base["keep_firing_for"] = duration(rule.keep_firing_for)
    labels = {**rule.labels, "severity": rule.severity}
    notes = annotations_of(rule, dashboard, runbooks, labels)
    if rule.burn_rate is not None:
        out = []
        for expr, extra, _ in burn_rules(rule, links):
            own = {**labels, **extra}
            told = annotations_of(rule, dashboard, runbooks, own)
            out.append({"alert": rule.name, "expr": expr, **base, "labels": own,
                        **({"annotations": told} if told else {})})  # fmt: skip
        return out
    if rule.expr is not None:
        expr = threshold_expr(rule.expr)
    elif rule.absent is not None:
        expr = absent_expr(rule.absent, rule.after, rule.forget_after)
    else:
        expr = predict_expr(rule)
    alert: dict[str, Any] = {"alert": rule.name, "expr": expr, **base, "labels": labels}
    if notes:
        alert["annotations"] = notes
    return [alert]
