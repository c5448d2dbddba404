"""The one protocol every store backend implements."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Literal, Protocol

from lagwatch.store.sample import LatestChanges, LatestValue, Record, Sample, Series

Aggregation = Literal["avg", "min", "max"]


class StoreUnavailable(Exception):
    """The store cannot be reached or written right now; the caller may retry later."""


class Store(Protocol):
    """Time series plus keyed records, shared by the daemon, alerts and dashboard.

    The daemon's runner is the only writer of samples. ``matchers`` select series
    whose labels contain every given (name, value) pair exactly.
    """

    def write(self, samples: Sequence[Sample]) -> None:
        """Write a batch of samples; raise StoreUnavailable if the store is down."""
        ...

    def latest(
        self, name: str | None = None, matchers: Mapping[str, str] | None = None
    ) -> list[LatestValue]:
        """Return the newest value of every series matching ``name`` and ``matchers``."""
        ...

    def latest_since(
        self, cursor: int | None = None, names: Collection[str] | None = None
    ) -> LatestChanges:
        """Return the newest value of every series written since ``cursor`` (None: every series),
        of the metrics in ``names`` (None: of every metric).

        The answer carries the cursor for the next call. It may repeat a series
        that was not written again, and never leaves out one that was: a reader
        that keeps its own copy of ``latest()`` and applies each answer stays
        exact while reading only what changed. Cursors are opaque and stay valid
        across store objects and restarts.
        """
        ...

    def query_range(
        self,
        name: str,
        matchers: Mapping[str, str] | None,
        start: float,
        end: float,
        step: float = 0.0,
        agg: Aggregation = "avg",
        max_points: int = 2000,
    ) -> list[Series]:
        """Return each matching series over [start, end], bucketed to at least ``step``.

        The backend picks raw samples or a rollup by the step and never returns
        more than ``max_points`` points per series.
        """
        ...

    def maintain(self, now: float) -> None:
        """Roll raw samples up into 1 m and 1 h buckets and apply retention."""
        ...

    def put_records(self, records: Sequence[Record]) -> None:
        """Insert or replace keyed JSON records."""
        ...

    def get_record(self, namespace: str, key: str) -> Record | None:
        """Return one record, or None."""
        ...

    def list_records(
        self,
        namespace: str,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Record]:
        """Return the records of a namespace ordered by time."""
        ...

    def delete_records(
        self, namespace: str, keys: Sequence[str] = (), older_than: float | None = None
    ) -> int:
        """Delete records by key or by age; return how many went."""
        ...

    def try_lock(self, name: str) -> bool:
        """Take a named lock held for this store object's lifetime; False if another holds it."""
        ...

    def close(self) -> None:
        """Release connections and locks."""
        ...
