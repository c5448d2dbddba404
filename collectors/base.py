"""The collector protocol: read one source, yield samples (and records), never write or alert."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

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
