"""The Kafka Connect collector: connector and task states, restarts, workers, and how far each
Debezium connector is behind the source it reads.

One cycle: one ``GET /connectors?expand=status&expand=info`` (``read.py``); the offsets of
the connectors that need them, several at a time and bounded in time (``read.py``); the
linked sources' positions (``sources.py``); the lag (``lag.py``) and the samples
(``samples.py``); the per-connector state as records (``state.py``).

A worker that does not answer is a fact, not a failure of the collector:
``lagwatch_connect_up=0`` with the error as its note; the connector and task series it could
not read are marked stale (``collectors/stale.py``); Debezium lag is still computed from the
offsets topic when the cluster names its ``kafka:`` cluster, else marked stale too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lagwatch.collectors.base import CollectorContext, SourceUnreachable
from lagwatch.collectors.connect.config import ConnectCluster
from lagwatch.collectors.connect.debezium import (
    WAL,
    BinlogOffset,
    OffsetError,
    PgOffset,
    Target,
    is_debezium,
    source_offset,
    target_of,
)
from lagwatch.collectors.connect.health import Facts, judge, position_of
from lagwatch.collectors.connect.lag import SourceLag, binlog_lag, pg_lag
from lagwatch.collectors.connect.offsets import EXTRAS_KEY, Endpoint
from lagwatch.collectors.connect.read import (
    ConnectorView,
    OffsetReader,
    OffsetsRead,
    list_connectors,
)
from lagwatch.collectors.connect.samples import (
    CONNECTOR_SERIES,
    CONNECTORS,
    DEBEZIUM_SERIES,
    LINKED,
    TASK_SERIES,
    connector_samples,
    lag_samples,
    link_sample,
    snapshot_sample,
    up_sample,
)
from lagwatch.collectors.connect.session import ConnectError, short
from lagwatch.collectors.connect.sources import BinlogReading, Link, PgReading, SourceReader
from lagwatch.collectors.connect.state import KEEP, NAMESPACE, ConnectState
from lagwatch.collectors.stale import stale_samples
from lagwatch.store import Record, Sample, Store
from lagwatch.store.contracts import origin

READER_HEALTH = "lagwatch_debezium_reader_health"
SLOT_PINNED = "lagwatch_debezium_slot_pinned"


@dataclass(frozen=True)
class Known:
    """A connector as far as the lag needs it: its class and (masked) config."""

    name: str
    connector_class: str
    config: Mapping[str, str]


@dataclass
class Pending:
    known: Known
    offset: PgOffset | BinlogOffset
    target: Target
    link: Link | str
    via: str | None


class ConnectCollector:
    """Watches one Kafka Connect cluster."""

    def __init__(
        self,
        config: ConnectCluster,
        endpoint: Endpoint | None = None,
        sources: Sequence[Any] = (),
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.name = f"connect:{config.name}"
        self.origins: tuple[str, ...] = (origin("cluster", config.name),)
        self.interval = config.interval
        self.timeout = config.timeout
        self.endpoint = endpoint or Endpoint(config, None)
        self._owns_endpoint = endpoint is None
        self.reader = OffsetReader(
            self.endpoint.session, config.concurrency, config.offsets_timeout
        )
        self.sources = SourceReader(sources, config.links, config.request_timeout)
        self.store = store
        self.state = ConnectState(config.name, store)
        self.record_retention = {NAMESPACE: KEEP} if store else {}
        self._now = clock
        self._positions: dict[str, tuple[str | None, float]] = {}
        """connector → (its position, since when it has been there): for NOT_ADVANCING."""

    # -- the cycle -------------------------------------------------------------

    def collect(self) -> list[Sample | Record]:
        now = self._now()
        self.state.restore()
        cluster = self.config.name
        try:
            connectors = self._watched(list_connectors(self.endpoint.session))
        except ConnectError as exc:
            return self._down(short(str(exc)), now)
        out: list[Sample | Record] = [
            up_sample(cluster, True, None, now),
            Sample.of(CONNECTORS, len(connectors), now, cluster=cluster),
        ]
        for view in connectors.values():
            track = self.state.observe(view, now)
            out += connector_samples(cluster, view, track, now)
        self.state.forget(set(connectors))
        offsets = self.reader.read(
            v for v in connectors.values() if self._wants(v.type, v.connector_class)
        )
        known = [
            Known(v.name, v.connector_class, v.config)
            for v in connectors.values()
            if v.name in offsets
        ]
        out += self._debezium(known, offsets, self._now(), connectors)
        out += self.state.records(now)
        return out

    def _watched(self, connectors: dict[str, ConnectorView]) -> dict[str, ConnectorView]:
        """Return the connectors ``connectors:`` includes (all, by default)."""
        wanted = self.config.connectors
        return {name: v for name, v in connectors.items() if wanted.watches(name)}

    def _wants(self, kind: str | None, connector_class: str) -> bool:
        if self.config.offsets == "none" or kind == "sink":
            return False
        return self.config.offsets == "source" or is_debezium(connector_class)

    def _down(self, error: str, now: float) -> list[Sample | Record]:
        """The REST API did not answer: say so, mark what it would have told stale, and read
        the Debezium offsets from the offsets topic if there is one."""
        cluster = self.config.name
        out: list[Sample | Record] = [up_sample(cluster, False, error, now)]
        reason = f"Kafka Connect did not answer: {error}"
        out += stale_samples(
            self.store,
            (*CONNECTOR_SERIES, *TASK_SERIES, CONNECTORS),
            {"cluster": cluster},
            reason,
            now,
        )
        known = [(t, k) for t, k in self._known() if self._wants(t, k.connector_class)]
        found, why = self.endpoint.topic_offsets()
        if found is None:
            out += stale_samples(
                self.store,
                (*DEBEZIUM_SERIES, LINKED),
                {"cluster": cluster},
                f"{reason}; {why}",
                now,
            )
            return out
        via = f"offset read from {self.config.offsets_topic}: the REST API is down"
        offsets = {
            k.name: OffsetsRead(found.get(k.name, []), via="topic", note=via) for _, k in known
        }
        out += self._debezium([k for _, k in known], offsets, now)
        return out

    def _known(self) -> list[tuple[str | None, Known]]:
        """Return (type, connector) of every connector known from earlier cycles or records."""
        out: list[tuple[str | None, Known]] = []
        for name, track in self.state.connectors.items():
            if not self.config.connectors.watches(name):
                continue
            if track.view is not None:
                view = track.view
                out.append((view.type, Known(name, view.connector_class, view.config)))
            elif track.body is not None:
                body = track.body
                out.append(
                    (
                        body.get("type"),
                        Known(name, str(body.get("class") or ""), body.get("config") or {}),
                    )
                )
        return out

    # -- Debezium ---------------------------------------------------------------

    def _debezium(
        self,
        known: Sequence[Known],
        offsets: Mapping[str, OffsetsRead],
        now: float,
        views: Mapping[str, Any] | None = None,
    ) -> list[Sample | Record]:
        cluster = self.config.name
        out: list[Sample | Record] = []
        pending: list[Pending] = []
        for k in known:
            read = offsets.get(k.name)
            labels = {"cluster": cluster, "connector": k.name}
            if read is None:
                continue
            if read.entries is None:
                out += stale_samples(
                    self.store, DEBEZIUM_SERIES, labels, read.error or "offsets not read", now
                )
                continue
            try:
                offset = source_offset(
                    k.connector_class, read.entries, k.config.get("topic.prefix")
                )
            except OffsetError as exc:
                out += stale_samples(self.store, DEBEZIUM_SERIES, labels, short(str(exc)), now)
                continue
            if offset is None:
                out += stale_samples(
                    self.store,
                    DEBEZIUM_SERIES,
                    labels,
                    "no committed offset (never saw a change, or its offsets were deleted)",
                    now,
                )
                continue
            out.append(snapshot_sample(cluster, k.name, offset.snapshot, now))
            target = target_of(k.connector_class, k.config)
            pending.append(Pending(k, offset, target, self.sources.link(k.name, target), read.note))
        if not pending:
            return out
        pg_names = {
            p.link.source for p in pending if isinstance(p.link, Link) and p.target.family == WAL
        }
        if any(p.link == "" for p in pending):
            pg_names |= set(self.sources.pg)  # some are linked by slot: ask every postgres source
        slots = {p.target.slot for p in pending if p.target.slot}
        pubs = {p.target.publication for p in pending if p.target.publication}
        readings: dict[str, PgReading | str] = self.sources.read_pg(sorted(pg_names), slots, pubs)
        binlogs: dict[str, BinlogReading | str] = {}
        sample_time = self._now()
        for p in pending:
            labels = {"cluster": cluster, "connector": p.known.name}
            link = self.sources.by_slot(p.target, readings) if p.link == "" else p.link
            if not isinstance(link, Link):
                out.append(link_sample(cluster, p.known.name, link, p.target, sample_time))
                continue
            lag = self._lag(p, link, readings, binlogs, sample_time)
            if isinstance(lag, str):
                out.append(link_sample(cluster, p.known.name, link, p.target, sample_time, lag))
                out += stale_samples(self.store, DEBEZIUM_SERIES[:2], labels, lag, sample_time)
                continue
            out.append(link_sample(cluster, p.known.name, link, p.target, sample_time))
            out += lag_samples(cluster, p.known.name, lag, p.via, sample_time)
            view = (views or {}).get(p.known.name)
            if view is not None:  # the REST API answered: Connect's state is known
                out += self._health(p, view, lag, link, readings.get(link.source), sample_time)
        return out

    def _health(
        self, p: Pending, view: Any, lag: SourceLag, link: Link, reading: object, now: float
    ) -> list[Sample]:
        """Return the reader's health verdict (and whether its slot is pinned) for one cycle."""
        slot = p.target.slot if isinstance(p.offset, PgOffset) else None
        row = reading.slots.get(slot) if isinstance(reading, PgReading) and slot else None
        position = position_of(p.offset, row.confirmed if row else None)
        seen, since = self._positions.get(p.known.name, (None, now))
        if seen != position:
            since = now
        self._positions[p.known.name] = (position, since)
        failure = next((t.trace for t in view.tasks if t.state == "FAILED" and t.trace), view.trace)
        facts = Facts(
            connector_state=view.state,
            task_states=tuple(t.state for t in view.tasks),
            failure=short(failure.splitlines()[0]) if failure else None,
            waiting_bytes=lag.bytes,
            snapshot=p.offset.snapshot,
            slot=slot,
            slot_active=row.active if row is not None else None,
            position=position,
            still_for=now - since,
            heartbeat=bool(p.known.config.get("heartbeat.interval.ms", "0") not in ("", "0")),
            action_query=bool(p.known.config.get("heartbeat.action.query")),
            filtered=filtered_publication(p, reading),
        )
        verdict = judge(facts, self.config.reader_stall)
        labels = {"cluster": self.config.name, "connector": p.known.name}
        # The source (and slot) it reads, as labels: its alert then ties to that source's.
        where = {"source": link.source, **({"slot": slot} if slot else {})}
        out = [
            Sample.of(READER_HEALTH, int(verdict.health), now, note=verdict.why, **labels, **where)
        ]
        if isinstance(p.offset, PgOffset):
            out.append(
                Sample.of(
                    SLOT_PINNED, 1 if verdict.pinned else 0, now,
                    note=verdict.why if verdict.pinned else None, **labels,
                )
            )  # fmt: skip
        return out

    def _lag(
        self,
        p: Pending,
        link: Link,
        readings: dict[str, PgReading | str],
        binlogs: dict[str, BinlogReading | str],
        now: float,
    ) -> SourceLag | str:
        if isinstance(p.offset, PgOffset):
            reading = readings.get(link.source)
            if reading is None:
                reading = readings[link.source] = self.sources.read_pg(
                    [link.source], {p.target.slot or ""}, {p.target.publication or ""}
                )[link.source]
            if isinstance(reading, str):
                return reading
            return pg_lag(p.offset, reading, p.target.slot, link, now)
        binlog = binlogs.get(link.source)
        if binlog is None:
            binlog = binlogs[link.source] = self.sources.read_mysql(link.source)
        if isinstance(binlog, str):
            return binlog
        return binlog_lag(p.offset, binlog, link, now)

    # -- lifecycle -------------------------------------------------------------

    def check(self) -> None:
        """Reach the REST API once; raise naming the cluster and the fix."""
        try:
            connectors = self._watched(list_connectors(self.endpoint.session))
        except ConnectError as exc:
            raise SourceUnreachable(f"connect {self.config.name}: {exc}") from None
        unknown = sorted(set(self.config.links) - set(connectors))
        if unknown:
            raise SourceUnreachable(
                f"connect {self.config.name}: links names connectors the cluster does not have: "
                f"{', '.join(unknown)}; fix the names or remove them"
            )

    def close(self) -> None:
        self.reader.close()
        self.sources.close()
        if self._owns_endpoint:
            self.endpoint.close()


def filtered_publication(p: Pending, reading: object) -> bool:
    """Whether the connector's publication holds only some tables, so writes elsewhere send
    it nothing (not even what a heartbeat could confirm): as the source says when its
    publication was read there, else as ``publication.autocreate.mode: filtered`` says.

    A publication made by hand for the captured tables (the mode ``disabled``, or the
    default ``all_tables`` finding it made) is as filtered as one Debezium makes.
    """
    publications = reading.publications if isinstance(reading, PgReading) else {}
    name = p.target.publication
    if name is not None and name in publications:
        return not publications[name]
    return p.known.config.get("publication.autocreate.mode") == "filtered"


def build(
    config: ConnectCluster, context: CollectorContext, sources: Sequence[Any] = ()
) -> list[ConnectCollector]:
    """Return the collector of one connect: cluster (sharing the process's endpoint for it)."""
    shared = context.extras.get(EXTRAS_KEY)
    endpoint = shared.get(config.name) if isinstance(shared, dict) else None
    return [ConnectCollector(config, endpoint, sources, context.store)]
