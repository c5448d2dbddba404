"""Name filters of a config: watch a name when it wholly matches an include and no exclude."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator


def regexes(patterns: list[str]) -> list[str]:
    """Return ``patterns`` once each compiles; else say which does not and how to fix it."""
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(
                f"{pattern!r} is not a valid regular expression ({exc}); fix or quote it"
            ) from None
    return patterns


class NameFilter(BaseModel):
    """`include` / `exclude` regular expressions, each matched against a whole name."""

    model_config = ConfigDict(extra="forbid")

    include: list[str] = [".*"]
    exclude: list[str] = []

    @field_validator("include", "exclude")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        return regexes(patterns)

    def watches(self, name: str) -> bool:
        return any(re.fullmatch(p, name) for p in self.include) and not any(
            re.fullmatch(p, name) for p in self.exclude
        )
