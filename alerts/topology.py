"""What alerts know of pipelines: which source, cluster and consumer groups each one spans, its
SLO, and the hops an alert sits at (source → slot/reader/connector → topic → groups), upstream
first, which is what ties alerts into one incident."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lagwatch.store.contracts import ORIGIN_LABEL


@dataclass(frozen=True)
class PipelineLink:
    """One pipeline as the alert engine sees it: for inhibition, burn-rate objectives and
    incidents (its path: source, reader, topic, groups)."""

    name: str
    source: str | None = None
    cluster: str | None = None
    groups: tuple[str, ...] = ()
    freshness: float | None = None
    objective: float | None = None
    slot: str | None = None
    reader: str | None = None
    connector: str | None = None
    connect: str | None = None
    """The Kafka Connect cluster running ``connector``."""
    topic: str | None = None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _only(names: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    return names[0] if len(names) == 1 else None


def linked_connectors(connect: Iterable[Any]) -> dict[str, tuple[str, str]]:
    """Return connector → (Connect cluster, source) from the ``connect[].links`` of a config."""
    return {c: (str(k.name), str(s)) for k in connect for c, s in (k.links or {}).items()}


def links_from(
    pipelines: Iterable[Any],
    clusters: Sequence[str] = (),
    sources: Iterable[Any] = (),
    connectors: Mapping[str, tuple[str, str]] | None = None,
) -> list[PipelineLink]:
    """Return links read from configured pipelines (name, source, kafka/cluster, groups, slo,
    slot, reader, connector, topic); a pipeline naming no cluster gets the only one configured.

    A pipeline whose ``reader`` is a connector (``{connect, connector}``) gets that connector
    and its Connect cluster; on a mysql source, the ``readers:`` entry naming the same
    connector is its binlog reader (``sources`` gives those entries).
    ``connectors`` (connector → (Connect cluster, source), see ``linked_connectors``) puts a
    connector on the pipelines of its source that name none, when it is the only one there.
    """
    out = []
    only = clusters[0] if len(clusters) == 1 else None
    readers = {
        (getattr(r, "connect", None), getattr(r, "connector", None), str(s.name)): str(r.name)
        for s in sources
        for r in getattr(s, "readers", None) or ()
    }
    by_source: dict[str, list[tuple[str, str]]] = {}
    for name, (connect_name, source_name) in (connectors or {}).items():
        by_source.setdefault(source_name, []).append((connect_name, name))
    for p in pipelines:
        slo = getattr(p, "slo", None)
        cluster = _text(getattr(p, "cluster", None)) or _text(getattr(p, "kafka", None)) or only
        reader = getattr(p, "reader", None)
        ref = reader if hasattr(reader, "connector") and hasattr(reader, "connect") else None
        connect = _text(getattr(ref, "connect", None)) or _text(getattr(p, "connect", None))
        connector = _text(getattr(ref, "connector", None)) or _text(getattr(p, "connector", None))
        source = getattr(p, "source", None)
        if connector is None and (linked := _only(by_source.get(str(source or ""), []))):
            connect, connector = linked
        named = _text(reader) or readers.get((connect, connector, str(source)))
        out.append(
            PipelineLink(
                name=str(p.name),
                source=source,
                cluster=cluster,
                groups=tuple(str(g) for g in getattr(p, "groups", ()) or ()),
                freshness=getattr(slo, "freshness", None) if slo is not None else None,
                objective=getattr(slo, "objective", None) if slo is not None else None,
                slot=_text(getattr(p, "slot", None)),
                reader=named,
                connector=connector,
                connect=connect,
                topic=_text(getattr(p, "topic", None)),
            )
        )
    return out


CONNECT_ORIGIN = "connect"
"""``connect:NAME``: what an alert depends on when a pipeline's reader runs on that Connect
cluster (its worker down holds back the slot, lag and freshness alerts downstream)."""


def _connector_hop(cluster: str | None, name: str) -> Hop:
    where = f"{cluster}/{name}" if cluster else name
    return Hop(f"connector:{where}", f"connector:{name}", READER)


# How far down a pipeline a hop is: the root of an incident is its most upstream hop.
SOURCE, READER, TOPIC, GROUP, END = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Hop:
    """A place in the pipelines an alert can be about: ``id`` is unique, ``label`` is shown."""

    id: str
    label: str
    depth: int


@dataclass
class Topology:
    """Answers "which sources and clusters does this alert depend on" and "where in the
    pipelines is it" from its labels."""

    links: list[PipelineLink] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._upstream: dict[str, set[str]] | None = None
        self._pipelines: dict[str, set[str]] = {}

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
        source = labels.get("source")
        # An alert about a whole Connect cluster (its worker down) stands for every pipeline
        # whose reader runs there, and those pipelines' alerts depend on it; an alert about
        # one connector does not stand for the others on its cluster.
        whole = not labels.get("connector")
        if whole and cluster and any(link.connect == cluster for link in self.links):
            found.add(f"{CONNECT_ORIGIN}:{cluster}")
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
            reads = (
                source is not None
                and source == link.source
                and (
                    (link.slot is not None and labels.get("slot") == link.slot)
                    or (link.reader is not None and labels.get("reader") == link.reader)
                )
            )
            if whole and link.connect and (named or consumes or reads):
                found.add(f"{CONNECT_ORIGIN}:{link.connect}")
        return frozenset(found)

    # -- hops --------------------------------------------------------------------

    def path(self, link: PipelineLink) -> list[Hop]:
        """Return a pipeline's hops in order: source, reader, the probe's tap, topic, groups, end.

        The groups are side by side (neither is upstream of the other); the end
        (``pipeline:NAME``) is what freshness and SLO alerts are about.
        """
        c = link.cluster or "*"
        out = []
        if link.source:
            out.append(Hop(f"source:{link.source}", f"source:{link.source}", SOURCE))
        if link.connect:
            # The Connect cluster runs the reader: a worker down is above the slot it reads.
            out.append(Hop(f"cluster:{link.connect}", f"connect:{link.connect}", READER))
        if link.slot and link.source:
            out.append(Hop(f"slot:{link.source}/{link.slot}", f"slot:{link.slot}", READER))
        elif link.reader and link.source:
            out.append(Hop(f"reader:{link.source}/{link.reader}", f"reader:{link.reader}", READER))
        if link.connector:
            out.append(_connector_hop(link.connect, link.connector))
        out.append(Hop(f"tap:{link.name}", "tap", READER))
        if link.topic:
            out.append(Hop(f"topic:{c}/{link.topic}", f"topic:{link.topic}", TOPIC))
        out += [Hop(f"group:{c}/{g}", f"group:{g}", GROUP) for g in link.groups]
        out.append(Hop(f"pipeline:{link.name}", f"pipeline:{link.name}", END))
        return out

    def _graph(self) -> dict[str, set[str]]:
        """Return hop id → the ids upstream of it (itself included), over every pipeline."""
        if self._upstream is not None:
            return self._upstream
        up: dict[str, set[str]] = {}
        for link in self.links:
            hops = self.path(link)
            cluster = f"cluster:{link.cluster}" if link.cluster else None
            before: set[str] = set()
            for hop in hops:
                mine = up.setdefault(hop.id, {hop.id})
                mine |= before
                if cluster and hop.depth >= TOPIC:
                    mine.add(cluster)
                if hop.depth != GROUP:  # groups are side by side: one is not above the next
                    before = before | {hop.id}
                self._pipelines.setdefault(hop.id, set()).add(link.name)
            if cluster:
                up.setdefault(cluster, {cluster})
                self._pipelines.setdefault(cluster, set()).add(link.name)
            # The end is downstream of every group.
            up[f"pipeline:{link.name}"] |= {h.id for h in hops}
        self._upstream = up
        return up

    def upstream(self, hop: Hop) -> set[str]:
        """Return the ids of the hops at or above ``hop`` (its own source and cluster too)."""
        found = self._graph().get(hop.id)
        if found is not None:
            return found
        # Not on a pipeline: a slot, reader or outbox still sits under its source, a group
        # or topic under its cluster.
        own = {hop.id}
        kind, _, rest = hop.id.partition(":")
        if kind in ("slot", "reader", "outbox") and "/" in rest:
            own.add(f"source:{rest.split('/', 1)[0]}")
        elif kind in ("group", "topic") and "/" in rest and not rest.startswith("*/"):
            own.add(f"cluster:{rest.split('/', 1)[0]}")
        return own

    def pipelines_of(self, hops: Iterable[Hop]) -> list[str]:
        """Return the pipelines these hops are on (a source or cluster: every pipeline it feeds)."""
        self._graph()
        names: set[str] = set()
        for hop in hops:
            names |= self._pipelines.get(hop.id, set())
        return sorted(names)

    def on_pipelines(self, hops: Iterable[Hop]) -> bool:
        """Return whether any of ``hops`` is on a pipeline, or below a pipeline's source or cluster."""
        graph = self._graph()
        return any(any(up in graph for up in self.upstream(h)) for h in hops)

    def hops(self, labels: Mapping[str, str]) -> tuple[Hop, ...]:
        """Return where an alert with ``labels`` is: the pipeline hop, reader, group or source."""
        pipeline, hop = labels.get("pipeline"), labels.get("hop")
        cluster, group = labels.get("cluster"), labels.get("group")
        source, topic = labels.get("source"), labels.get("topic")
        if pipeline:
            link = self.pipeline(pipeline)
            if link is None:
                return (Hop(f"pipeline:{pipeline}", f"pipeline:{pipeline}", END),)
            path = self.path(link)
            if not hop:
                return (path[-1],)
            c = link.cluster or "*"
            if hop in ("tap", "debezium"):  # the probe's reader hop: its tap, or Debezium's
                return (Hop(f"tap:{link.name}", hop, READER),)
            if hop == "topic" and link.topic:
                return (Hop(f"topic:{c}/{link.topic}", f"topic:{link.topic}", TOPIC),)
            if hop.startswith("group:"):
                name = hop.removeprefix("group:")
                return (Hop(f"group:{c}/{name}", f"group:{name}", GROUP),)
            return (Hop(f"hop:{link.name}/{hop}", hop, TOPIC),)
        if group:
            found = [
                Hop(f"group:{link.cluster or '*'}/{group}", f"group:{group}", GROUP)
                for link in self.links
                if group in link.groups
                and (cluster is None or link.cluster is None or link.cluster == cluster)
            ]
            unique = {h.id: h for h in found}
            if unique:
                return tuple(unique.values())
            return (Hop(f"group:{cluster or '*'}/{group}", f"group:{group}", GROUP),)
        if topic:
            found = [
                Hop(f"topic:{link.cluster or '*'}/{topic}", f"topic:{topic}", TOPIC)
                for link in self.links
                if link.topic == topic
                and (cluster is None or link.cluster is None or link.cluster == cluster)
            ]
            unique = {h.id: h for h in found}
            if unique:
                return tuple(unique.values())
            return (Hop(f"topic:{cluster or '*'}/{topic}", f"topic:{topic}", TOPIC),)
        if labels.get("connector"):
            # A connector's alert is about the connector, even when it names its source and slot.
            return (_connector_hop(cluster, labels["connector"]),)
        if source:
            for key, kind in (("slot", "slot"), ("reader", "reader"), ("table", "outbox")):
                if labels.get(key):
                    name = labels[key]
                    return (Hop(f"{kind}:{source}/{name}", f"{kind}:{name}", READER),)
            return (Hop(f"source:{source}", f"source:{source}", SOURCE),)
        if cluster:
            if any(link.connect == cluster for link in self.links):
                return (Hop(f"cluster:{cluster}", f"connect:{cluster}", READER),)
            return (Hop(f"cluster:{cluster}", f"cluster:{cluster}", TOPIC),)
        out = []
        for o in labels.get(ORIGIN_LABEL, "").split(","):
            kind, _, name = o.partition(":")
            if kind == "source" and name:
                out.append(Hop(f"source:{name}", f"source:{name}", SOURCE))
            elif kind == "cluster" and name:
                out.append(Hop(f"cluster:{name}", f"cluster:{name}", TOPIC))
        return tuple(out)

    def related(self, a: Sequence[Hop], b: Sequence[Hop]) -> bool:
        """Return whether two alerts at these hops belong together: the same hop, or one
        upstream of the other on a pipeline (a source and its slot, a topic and its groups,
        any hop and its pipeline's end). Two groups side by side are not related."""
        return any(x.id in self.upstream(y) or y.id in self.upstream(x) for x in a for y in b)
