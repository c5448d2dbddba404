"""Prometheus-like selectors and threshold expressions, parsed into small frozen values.

lagwatch_kafka_group_status{cluster="main", group=~"search-.*"} == 3
max by (cluster, group) (lagwatch_kafka_group_max_lag_seconds) > 5m
increase(lagwatch_probe_lost_total[5m]) > 3
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lagwatch.store.types import parse_duration

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
AGGREGATIONS = ("max", "min", "sum", "avg", "count")
RANGE_FUNCTIONS = ("increase", "rate", "delta", "max_over_time", "min_over_time", "avg_over_time")

_METRIC = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SELECTOR = re.compile(rf"^\s*(?P<metric>{_METRIC})\s*(?:\{{(?P<matchers>.*)\}})?\s*$", re.S)
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_THRESHOLD = re.compile(
    rf"""^\s*(?:
        (?P<agg>{"|".join(AGGREGATIONS)})\s*(?:by\s*\((?P<by>[^)]*)\))?\s*\((?P<agg_inner>.+)\)
      | (?P<inner>.+?)
    )\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<rhs>[^\s]+)\s*$""",
    re.X | re.S,
)
_RANGE = re.compile(
    rf"^\s*(?P<fn>{'|'.join(RANGE_FUNCTIONS)})\s*\((?P<sel>.+)\[(?P<window>[^\]]+)\]\s*\)\s*$",
    re.S,
)
_SIZES = {"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label test: name = value, != value, =~ regex or !~ regex (regexes match whole values)."""

    name: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.name, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        found = _compiled(self.value).fullmatch(have) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    found = _REGEX_CACHE.get(pattern)
    if found is None:
        found = _REGEX_CACHE[pattern] = re.compile(pattern)
    return found


def parse_matcher(text: str) -> Matcher:
    """Return the matcher in ``name=value``, ``name!=value``, ``name=~re`` or ``name!~re``."""
    match = re.fullmatch(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*", text)
    if not match:
        raise ValueError(
            f"cannot read matcher {text!r}; write name=value, name!=value, name=~regex or name!~regex"
        )
    name, op, value = match.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return _checked(Matcher(name, op, value))


def _checked(matcher: Matcher) -> Matcher:
    if matcher.op in ("=~", "!~"):
        try:
            _compiled(matcher.value)
        except re.error as exc:
            raise ValueError(f"matcher {matcher}: not a valid regular expression: {exc}") from None
    return matcher


@dataclass(frozen=True, slots=True)
class Selector:
    """A metric name and label matchers, e.g. ``lagwatch_collector_up{collector=~"kafka:.*"}``."""

    metric: str
    matchers: tuple[Matcher, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    @property
    def equalities(self) -> dict[str, str]:
        """Return the ``name="value"`` matchers, which the store can filter on directly."""
        return {m.name: m.value for m in self.matchers if m.op == "="}

    def __str__(self) -> str:
        inner = ", ".join(str(m) for m in self.matchers)
        return f"{self.metric}{{{inner}}}" if inner else self.metric


def parse_selector(text: str) -> Selector:
    """Return the selector ``metric{label="v", other=~"re"}``; raise ValueError saying what is wrong."""
    found = _SELECTOR.match(text)
    if not found:
        raise ValueError(
            f"cannot read selector {text.strip()!r}; write metric_name or "
            'metric_name{label="value", other=~"regex"}'
        )
    body = found.group("matchers") or ""
    matchers: list[Matcher] = []
    pos = 0
    while pos < len(body) and body[pos:].strip():
        m = _MATCHER.match(body, pos)
        if not m:
            raise ValueError(
                f"cannot read the label matchers {{{body}}} near {body[pos:].strip()[:30]!r}; "
                'write label="value", label!="value", label=~"regex" or label!~"regex"'
            )
        matchers.append(_checked(Matcher(m.group(1), m.group(2), m.group(3).replace('\\"', '"'))))
        pos = m.end()
    return Selector(found.group("metric"), tuple(matchers))


def parse_number(text: str) -> float:
    """Return a threshold: a number (1e9, 0.5), a duration (5m → 300) or a size (10GB, 512MiB)."""
    try:
        return float(text)
    except ValueError:
        pass
    size = re.fullmatch(r"(\d+(?:\.\d+)?)(KB|MB|GB|TB|KiB|MiB|GiB)", text)
    if size:
        return float(size.group(1)) * _SIZES[size.group(2)]
    try:
        return parse_duration(text)
    except ValueError:
        raise ValueError(
            f"cannot read the threshold {text!r}; write a number (300, 1e9), a duration (5m) "
            "or a size (10GB)"
        ) from None


@dataclass(frozen=True, slots=True)
class ThresholdExpr:
    """``[agg by (labels)] ([fn(] selector [[window]]) [)] op threshold``."""

    selector: Selector
    op: str
    threshold: float
    aggregation: str | None = None
    by: tuple[str, ...] = ()
    function: str | None = None
    window: float = 0.0

    def compare(self, value: float) -> bool:
        return not math.isnan(value) and COMPARISONS[self.op](value, self.threshold)


def parse_threshold(text: str) -> ThresholdExpr:
    """Return the parsed threshold expression or raise ValueError naming the part that is wrong."""
    found = _THRESHOLD.match(text)
    if not found:
        raise ValueError(
            f"cannot read expr {text.strip()!r}; write e.g. "
            "'max by (cluster, group) (lagwatch_kafka_group_max_lag_seconds) > 5m'"
        )
    inner = found.group("agg_inner") or found.group("inner")
    function, window = None, 0.0
    ranged = _RANGE.match(inner)
    if ranged:
        function = ranged.group("fn")
        inner = ranged.group("sel")
        window = parse_duration(ranged.group("window").strip())
        if window <= 0:
            raise ValueError(f"{function}(…[{ranged.group('window')}]): the window must be > 0")
    elif "[" in inner:
        raise ValueError(
            f"a range [window] needs a function around it: one of {', '.join(RANGE_FUNCTIONS)}"
        )
    by = tuple(b.strip() for b in (found.group("by") or "").split(",") if b.strip())
    return ThresholdExpr(
        selector=parse_selector(inner),
        op=found.group("op"),
        threshold=parse_number(found.group("rhs")),
        aggregation=found.group("agg"),
        by=by,
        function=function,
        window=window,
    )
