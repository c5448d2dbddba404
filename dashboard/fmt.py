"""How numbers read on screen: durations, bytes, counts, times."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from lagwatch.store.types import format_bytes, format_duration

NONE = "—"


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def duration(seconds: float | None) -> str:
    """Return 850ms, 45s, 4m12s, 3h05m or 2d04h; a dash when unknown."""
    if _missing(seconds):
        return NONE
    assert seconds is not None
    if math.isinf(seconds):
        return "unbounded"
    if abs(seconds) < 10 and seconds != int(seconds):
        return f"{seconds * 1000:.0f}ms" if abs(seconds) < 1 else f"{seconds:.1f}s"
    return format_duration(seconds)


def size(value: float | None) -> str:
    """Return bytes in binary units: 512 B, 12.4 MiB, 3.1 GiB."""
    if _missing(value):
        return NONE
    assert value is not None
    return format_bytes(value)


def count(value: float | None) -> str:
    """Return a whole number with thousands separators."""
    if _missing(value):
        return NONE
    assert value is not None
    return f"{value:,.0f}"


def rate(value: float | None, unit: str = "/s") -> str:
    """Return a rate with one decimal below 100."""
    if _missing(value):
        return NONE
    assert value is not None
    return f"{value:,.1f}{unit}" if abs(value) < 100 else f"{value:,.0f}{unit}"


def clock(ts: float | None) -> str:
    """Return a UTC wall-clock time, 2024-05-01 03:12:04 UTC."""
    if _missing(ts):
        return NONE
    assert ts is not None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(ts: float | None, now: float) -> str:
    """Return how long ago ``ts`` was: 4m12s ago."""
    if _missing(ts):
        return NONE
    assert ts is not None
    return f"{format_duration(max(0.0, now - ts))} ago"


def when(ts: float) -> datetime:
    """Return a UTC datetime for charts and tables."""
    return datetime.fromtimestamp(ts, UTC)
