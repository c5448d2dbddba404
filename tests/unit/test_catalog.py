"""Every metric name in the code is in the catalog, and every catalog row is emitted somewhere."""

from __future__ import annotations

import re
from pathlib import Path

from lagwatch.catalog import catalog

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["collectors", "alerts", "lagwatch", "store"]
NAME = re.compile(r"[\"'](lagwatch_[a-z0-9_]+)[\"']")


def names_in_code() -> set[str]:
    found: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found.update(NAME.findall(path.read_text()))
    return found


def test_every_emitted_name_is_catalogued() -> None:
    missing = sorted(names_in_code() - set(catalog()))
    assert not missing, f"add these to lagwatch/catalog.csv: {missing}"


def test_every_catalogued_name_is_used_by_code() -> None:
    unused = sorted(set(catalog()) - names_in_code())
    assert not unused, f"catalog rows no code emits: {unused}"


def test_catalog_rows_follow_prometheus_naming() -> None:
    for info in catalog().values():
        assert info.type in {"gauge", "counter"}, info.name
        assert info.name.startswith("lagwatch_"), info.name
        assert (info.type == "counter") == info.name.endswith("_total"), info.name
        if info.unit:
            assert info.name.removesuffix("_total").endswith(f"_{info.unit}"), info.name
        assert info.help, info.name
