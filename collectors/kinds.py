"""Every source kind, one line each: its config model, its collectors, what pipelines and probes need."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field

from lagwatch.collectors import mysql, postgres
from lagwatch.collectors.base import Collector, CollectorContext, SourceBase, SourceKind

SOURCE_KINDS: dict[str, SourceKind] = {
    kind.name: kind
    for kind in (
        postgres.KIND,
        mysql.KIND,
    )
}

if TYPE_CHECKING:
    SourceConfig = SourceBase
else:
    # The `sources:` item type: one of the kinds above, chosen by its `kind` key.
    SourceConfig = Annotated[
        Union[tuple(kind.config for kind in SOURCE_KINDS.values())],  # noqa: UP007
        Field(discriminator="kind"),
    ]


def kind_of(source: Any) -> SourceKind:
    """Return the kind of a validated `sources:` entry."""
    return SOURCE_KINDS[source.kind]


def pipeline_kinds() -> list[str]:
    """Return the kinds a pipeline may start at."""
    return [name for name, kind in SOURCE_KINDS.items() if kind.pipeline is not None]


def build_sources(sources: Sequence[Any], context: CollectorContext) -> list[Collector]:
    """Return the collectors of every configured source."""
    out: list[Collector] = []
    for source in sources:
        out.extend(kind_of(source).build(source, context))
    return out
