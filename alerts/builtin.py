"""The built-in rule pack, merged with the user's rules."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Protocol

import yaml

from lagwatch.alerts.rules import RuleConfig


class RuleChoice(Protocol):
    """The keys of `alerts:` that choose the rules in force (``AlertsConfig`` has them)."""

    builtin_rules: bool
    rules: list[RuleConfig]
    disable: list[str]


PACK = Path(__file__).with_name("builtin.yaml")


@cache
def builtin_rules() -> tuple[RuleConfig, ...]:
    """Return the rules of the built-in pack (validated once)."""
    data = yaml.safe_load(PACK.read_text())
    return tuple(RuleConfig.model_validate(rule) for rule in data["rules"])


def effective_rules(config: RuleChoice) -> list[RuleConfig]:
    """Return the rules in force: the pack minus disabled and overridden ones, then the user's."""
    if not config.builtin_rules:
        return list(config.rules)
    own = {r.name for r in config.rules}
    skipped = set(config.disable) | own
    return [r for r in builtin_rules() if r.name not in skipped] + list(config.rules)
