"""Annotation templates: ``{{ $labels.group }}``, ``{{ $value | duration }}`` and a few filters."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from lagwatch.store.types import format_bytes, format_duration

_FIELD = re.compile(r"\{\{\s*\$([a-zA-Z_]+)(?:\.([a-zA-Z0-9_]+))?\s*(?:\|\s*([a-z_]+)\s*)?\}\}")
VARIABLES = ("labels", "value", "threshold", "note", "dashboard", "runbooks", "for")


def _number(value: object) -> str:
    if not isinstance(value, int | float):
        return str(value)
    if math.isnan(value):
        return "unknown"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _bytes(value: object) -> str:
    if not isinstance(value, int | float) or math.isnan(value) or math.isinf(value):
        return _number(value)
    return format_bytes(value)


def _duration(value: object) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return _number(value)
    if math.isinf(value):
        return "never"
    return format_duration(float(value))


def _percent(value: object) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return _number(value)
    return f"{value * 100:.2f}%"


def _url(value: object) -> str:
    # A label value in a link's query: a group called "a&b" must not become two params.
    return quote(str(value), safe="")


FILTERS: dict[str, Callable[[object], str]] = {
    "url": _url,
    "number": _number,
    "bytes": _bytes,
    "duration": _duration,
    "percent": _percent,
}


def format_value(value: float, unit: str) -> str:
    """Return a value for people: durations for seconds, sizes for bytes, else a number."""
    if unit == "seconds":
        return _duration(value)
    if unit == "bytes":
        return _bytes(value)
    if unit == "ratio":
        return f"{_number(value)}×"
    return _number(value)


def value_text(value: float, op: str, threshold: float | None, unit: str) -> str:
    """Return e.g. ``4m12s (threshold > 5m00s)``."""
    text = format_value(value, unit)
    if threshold is None:
        return text
    return f"{text} (threshold {op} {format_value(threshold, unit)})"


def check_template(text: str) -> None:
    """Raise ValueError naming the first unknown variable or filter in ``text``."""
    for match in _FIELD.finditer(text):
        name, _, flt = match.groups()
        if name not in VARIABLES:
            raise ValueError(
                f"unknown template variable ${name} in {match.group(0)!r}; "
                f"use one of {', '.join('$' + v for v in VARIABLES)}"
            )
        if flt and flt not in FILTERS:
            raise ValueError(
                f"unknown template filter {flt!r} in {match.group(0)!r}; "
                f"use one of {', '.join(FILTERS)}"
            )
    stray = _FIELD.sub("", text)
    if "{{" in stray or "}}" in stray:
        raise ValueError(f"cannot read the template {text!r}; write e.g. {{{{ $labels.group }}}}")


@dataclass(frozen=True)
class Context:
    """The values one alert's annotations are rendered with."""

    labels: Mapping[str, str]
    value: float
    threshold: float | None
    note: str | None
    dashboard: str
    runbooks: str
    for_: float


def render(text: str, ctx: Context) -> str:
    """Return ``text`` with every ``{{ $… }}`` replaced; missing labels render as empty."""

    def sub(match: re.Match[str]) -> str:
        name, key, flt = match.groups()
        value: object
        if name == "labels":
            value = ctx.labels.get(key or "", "")
        elif name == "value":
            value = ctx.value
        elif name == "threshold":
            value = ctx.threshold if ctx.threshold is not None else math.nan
        elif name == "note":
            value = ctx.note or ""
        elif name == "dashboard":
            value = ctx.dashboard
        elif name == "runbooks":
            value = ctx.runbooks
        else:
            value = ctx.for_
        return FILTERS[flt or "number"](value) if isinstance(value, float) or flt else str(value)

    return _FIELD.sub(sub, text)
