"""The collector protocol: read one source, yield samples (and records), never write or alert."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from lagwatch.store import Record, Sample, Store
from lagwatch.store.types import Duration


class SourceUnreachable(Exception):
    """A source could not be reached or queried; the message says what to fix."""


class Collector(Protocol):
    """Reads one source each ``interval`` seconds.

    ``collect`` yields samples or raises; the runner turns an exception or a
    run past ``timeout`` into ``lagwatch_collector_up{collector}=0`` with the
    error text. A collector that observes documents rather than numbers (probe
    traces, a tap's position) may yield ``Record``s among its samples: the
    runner writes them with ``Store.put_records``, so the collector still never
    touches the store itself. ``check`` reaches the source once and raises SourceUnreachable
    with a message that names the source and the fix.
    """

    name: str
    interval: float
    timeout: float
    origins: tuple[str, ...]
    """What the collector reads, as ``store.contracts.origin`` values (``source:orders-db``,
    ``cluster:main``); the runner writes them on the health series, the alert engine ties
    alerts to sources and clusters by them."""

    def collect(self) -> Iterable[Sample | Record]: ...

    def check(self) -> None: ...

    def close(self) -> None: ...


RecordRetention = dict[str, float]
"""Optional ``record_retention`` attribute of a collector that yields records:
namespace → seconds to keep them; the daemon deletes older ones when it maintains the store."""


@dataclass
class CollectorContext:
    """What a collector may use besides its own source: a read-only store and the time."""

    store: Store | None = None
    extras: dict[str, object] = field(default_factory=dict)


class SourceBase(BaseModel):
    """Keys every source kind has."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9_.:-]+$", description="unique source name, used as a label"
    )
    interval: Duration = 10.0
    timeout: Duration = 5.0


class ProbeWriter(Protocol):
    """Writes probe rows into the probe table over one kept connection."""

    def write(self, params: tuple[Any, ...]) -> None:
        """Upsert one row (pipeline, slot, probe_id, sent_at, traceparent); raise on failure."""
        ...

    def check(self) -> None:
        """Raise unless the table exists and the probe role can read it."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ProbeSupport:
    """What the probe needs of a source kind: its table, grants, writer and tap.

    Each callable takes the ``probes:`` entry and the ``sources:`` entry it runs on.
    """

    tap_key: str
    """The `probes[].tap` key only this kind takes (postgres ``slot``, mysql ``server_id``)."""
    writer: Callable[[Any, float], ProbeWriter]
    init: Callable[[Any, Any], list[str]]
    grants: Callable[[Any, Any], str]
    tap: Callable[[Any, Any, str, set[str]], Any]
    """(probe, source, tap name, tables) → a ``collectors.tap.Tap``."""


@dataclass(frozen=True)
class SourceLag:
    """How far a CDC reader is behind, in seconds, as of one stored reading."""

    seconds: float
    as_of: float
    note: str | None = None


@dataclass(frozen=True)
class PipelineSupport:
    """What a pipeline needs of the source kind it starts at."""

    reader_key: str
    """The `pipelines[]` key that names the CDC reader (postgres ``slot``, mysql ``reader``)."""
    reader_what: str
    """The reader in words, for errors: "the CDC reader's slot"."""
    source_lag: Callable[[Store, str, str, float], SourceLag | None]
    """(store, source name, reader, now) → how far the reader is behind, from stored series."""


@dataclass(frozen=True)
class SourceKind:
    """A kind of `sources:` entry: its config, its collectors, and what pipelines and probes need."""

    name: str
    config: type[SourceBase]
    build: Callable[[Any, CollectorContext], Sequence[Collector]]
    metric_prefix: str
    """Every metric of the kind is named ``lagwatch_<prefix>_…`` (``pg``, ``mysql``)."""
    pipeline: PipelineSupport | None = None
    probe: ProbeSupport | None = None
