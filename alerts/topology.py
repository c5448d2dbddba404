"""What alerts know of pipelines: which source, cluster and consumer groups each one spans, and its SLO."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lagwatch.store.contracts import ORIGIN_LABEL


@dataclass(frozen=True)
class PipelineLink:
    """One pipeline as the alert engine sees it: for inhibition and for burn-rate objectives."""

    name: str
    source: str | None = None
    cluster: str | None = None
    groups: tuple[str, ...] = ()
    freshness: float | None = None
    objective: float | None = None


def links_from(pipelines: Iterable[Any]) -> list[PipelineLink]:
    """Return links read from configured pipelines (name, source, kafka/cluster, groups, slo)."""
    out = []
    for p in pipelines:
        slo = getattr(p, "slo", None)
        cluster = getattr(p, "cluster", None) or getattr(p, "kafka", None)
        out.append(
            PipelineLink(
                name=str(p.name),
                source=getattr(p, "source", None),
                cluster=cluster if isinstance(cluster, str) else None,
                groups=tuple(str(g) for g in getattr(p, "groups", ()) or ()),
                freshness=getattr(slo, "freshness", None) if slo is not None else None,
                objective=getattr(slo, "objective", None) if slo is not None else None,
            )
        )
    return out


@dataclass
class Topology:
    """Answers "which sources and clusters does this alert depend on" from its labels."""

    links: list[PipelineLink] = field(default_factory=list)

    def pipeline(self, name: str) -> PipelineLink | None:
        return next((p for p in self.links if p.name == name), None)

    def origins(self, labels: Mapping[str, str]) -> frozenset[str]:
        """Return the ``source:NAME``, ``cluster:NAME`` and ``registry:NAME`` an alert with ``labels``
        depends on.

        An alert's own source, cluster or collector counts, and so does the source
        of every pipeline it names or whose consumer group it is about.
        """
        found: set[str] = set()
        if labels.get("source"):
            found.add(f"source:{labels['source']}")
        if labels.get("cluster"):
            found.add(f"cluster:{labels['cluster']}")
        if labels.get("registry"):
            found.add(f"registry:{labels['registry']}")
        # A collector's health series says what it reads (the runner writes its origins).
        found.update(o for o in labels.get(ORIGIN_LABEL, "").split(",") if o)
        group, cluster = labels.get("group"), labels.get("cluster")
        for link in self.links:
            named = labels.get("pipeline") == link.name
            consumes = (
                group is not None
                and group in link.groups
                and (cluster is None or link.cluster is None or link.cluster == cluster)
            )
            if named or consumes:
                if link.source:
                    found.add(f"source:{link.source}")
                if link.cluster:
                    found.add(f"cluster:{link.cluster}")
        return frozenset(found)
