"""Every rule kind and notifier is documented in the README and exercised by a test."""

from __future__ import annotations

from pathlib import Path

from lagwatch.alerts.notifiers import NOTIFIER_KINDS
from lagwatch.alerts.rules import KINDS

ROOT = Path(__file__).resolve().parents[2]


def _tests_text() -> str:
    return "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_alert*.py"))


def test_every_rule_kind_is_documented_and_tested() -> None:
    readme = (ROOT / "docs" / "alerts.md").read_text()
    tests = _tests_text()
    for kind in KINDS:
        assert f"{kind}:" in readme, f"docs/alerts.md: document the {kind} rule kind"
        assert f'"{kind}"' in tests, f"tests: exercise the {kind} rule kind"


def test_every_notifier_is_documented_and_tested() -> None:
    readme = (ROOT / "docs" / "alerts.md").read_text()
    tests = _tests_text()
    for kind in NOTIFIER_KINDS:
        assert f"{kind}:" in readme, f"docs/alerts.md: document the {kind} receiver"
        assert f'"{kind}"' in tests, f"tests: exercise the {kind} receiver"
