"""The metric catalog: every metric lagwatch emits, with type, unit, labels and meaning."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOG = Path(__file__).with_name("catalog.csv")


@dataclass(frozen=True)
class MetricInfo:
    """One row of the catalog."""

    name: str
    type: str
    unit: str
    labels: tuple[str, ...]
    help: str


@cache
def catalog() -> dict[str, MetricInfo]:
    """Return the catalog keyed by metric name."""
    with CATALOG.open(newline="") as handle:
        return {
            row["name"]: MetricInfo(
                row["name"], row["type"], row["unit"], tuple(row["labels"].split()), row["help"]
            )
            for row in csv.DictReader(handle)
        }
