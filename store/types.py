"""Value types every config section shares: durations and secrets."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, SecretStr

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}
_PART = r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)"
_DURATION = re.compile(rf"^\s*(?:{_PART}\s*)+$")


def parse_duration(value: Any) -> float:
    """Return seconds for '250ms', '10s', '5m', '7d', '2y', a sum such as '1h30m' or '4m12s'
    (what :func:`format_duration` and :func:`config_duration` write), or a plain number of
    seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 10s, 5m or 7d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str) and _DURATION.match(value):
        return sum(float(n) * _UNITS[unit] for n, unit in re.findall(_PART, value))
    raise ValueError(f"expected a duration such as 10s, 5m or 7d, got {value!r}")


def format_duration(seconds: float) -> str:
    """Return a short human form: 45s, 4m12s, 3h05m, 2d04h."""
    if seconds != seconds:  # NaN
        return "unknown"
    s = int(round(abs(seconds)))
    sign = "-" if seconds < 0 else ""
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{sign}{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{sign}{s // 86400}d{(s % 86400) // 3600:02d}h"


def config_duration(seconds: float) -> str:
    """Return a duration exactly as config writes it, largest units first: 15m, 1h30m, 250ms,
    1m500ms; what a config written back out (``model_dump``) holds, and parses to the same
    seconds."""
    if seconds == 0:
        return "0s"
    rest = round(float(seconds) * 1000)  # whole milliseconds, the smallest unit
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    if rest:
        parts.append(f"{rest}ms")
    return "".join(parts)


def format_bytes(value: float) -> str:
    """Return bytes in binary units: 512 B, 12.4 MiB, 3.1 GiB (TiB at most)."""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


Duration = Annotated[
    float, BeforeValidator(parse_duration), PlainSerializer(config_duration, return_type=str)
]
"""A duration in seconds, written in config as 10s, 5m, 7d."""

Secret = SecretStr
"""A secret value: shown as '**********' in repr, logs and errors."""
