"""Find samples in what a collector yielded, by name and labels."""

from __future__ import annotations

from collections.abc import Iterable

from lagwatch.store import Sample


def one(samples: Iterable[Sample], name: str, **labels: str) -> Sample:
    """Return the one sample named ``name`` whose labels include ``labels``."""
    found = [s for s in samples if s.name == name and labels.items() <= s.label_dict.items()]
    assert len(found) == 1, f"expected one {name} {labels}, found {found}"
    return found[0]


def names(samples: Iterable[Sample], **labels: str) -> set[str]:
    """Return the names of the samples whose labels include ``labels``."""
    return {s.name for s in samples if labels.items() <= s.label_dict.items()}
