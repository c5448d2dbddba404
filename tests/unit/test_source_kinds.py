"""Every source kind in the registry is whole: a docs page, catalog rows, unit and integration
tests, and a dashboard page; and no module outside a kind's package switches on its name."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from lagwatch.collectors.kinds import SOURCE_KINDS

ROOT = Path(__file__).resolve().parents[2]
KINDS = sorted(SOURCE_KINDS)


@pytest.mark.parametrize("name", KINDS)
def test_every_kind_has_its_docs_catalog_tests_and_dashboard_page(name: str) -> None:
    kind = SOURCE_KINDS[name]
    missing = []
    if not (ROOT / "docs" / "sources" / f"{name}.md").is_file():
        missing.append(f"docs/sources/{name}.md")
    with (ROOT / "lagwatch" / "catalog.csv").open() as f:
        prefix = f"lagwatch_{kind.metric_prefix}_"
        if not any(row["name"].startswith(prefix) for row in csv.DictReader(f)):
            missing.append(f"catalog rows named {prefix}*")
    if not list((ROOT / "tests" / "unit").glob(f"test_{name}_*.py")):
        missing.append(f"tests/unit/test_{name}_*.py")
    if not list((ROOT / "tests" / "integration").glob(f"test_{name}_*.py")):
        missing.append(f"tests/integration/test_{name}_*.py")
    if not (ROOT / "dashboard" / "views" / f"{name}.py").is_file():
        missing.append(f"dashboard/views/{name}.py")
    if not (ROOT / "collectors" / name / "__init__.py").is_file():
        missing.append(f"collectors/{name}/ (the kind's package)")
    assert missing == [], f"source kind {name} lacks: {', '.join(missing)}"


def test_no_module_outside_a_kinds_package_switches_on_its_name() -> None:
    names = "|".join(KINDS)
    switch = re.compile(r"""kind\s*(==|!=|\bin\b)\s*[(\[{]?\s*["'](""" + names + r""")["']""")
    found = []
    for folder in ("collectors", "alerts", "dashboard", "reports", "store", "lagwatch", "demo"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if rel.parts[0] == "lagwatch" and (ROOT / "lagwatch" / rel.parts[1]).is_symlink():
                continue
            if rel.parts[0] == "collectors" and rel.parts[1] in SOURCE_KINDS:
                continue  # a kind may know its own name
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if switch.search(line):
                    found.append(f"{rel}:{number}: {line.strip()}")
    assert found == [], "switch on a source kind outside its package:\n" + "\n".join(found)
