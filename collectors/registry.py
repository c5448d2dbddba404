"""Every source kind, one line each: its config model and how to build its collectors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field

from lagwatch.collectors import kafka, mysql, postgres
from lagwatch.collectors.base import Collector, CollectorContext, SourceBase


@dataclass(frozen=True)
class SourceKind:
    """A kind of `sources:` entry."""

    config: type[Any]
    build: Callable[[Any, CollectorContext], Sequence[Collector]]


SOURCE_KINDS: dict[str, SourceKind] = {
    "postgres": SourceKind(postgres.PostgresSource, postgres.build),
    "mysql": SourceKind(mysql.MysqlSource, mysql.build),
}

if TYPE_CHECKING:
    SourceConfig = SourceBase
else:
    # The `sources:` item type: one of the kinds above, chosen by its `kind` key.
    SourceConfig = Annotated[
        Union[tuple(kind.config for kind in SOURCE_KINDS.values())],  # noqa: UP007
        Field(discriminator="kind"),
    ]


def build_collectors(
    sources: Sequence[Any], clusters: Sequence[kafka.KafkaCluster], context: CollectorContext
) -> list[Collector]:
    """Return the collectors for every configured source and Kafka cluster."""
    out: list[Collector] = []
    for source in sources:
        out.extend(SOURCE_KINDS[source.kind].build(source, context))
    for cluster in clusters:
        out.extend(kafka.build(cluster, context))
    return out
