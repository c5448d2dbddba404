"""What a tap hands on: one committed row change, and where the tap has read to."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Operation = Literal["insert", "update", "delete", "message"]


@dataclass(slots=True)
class Change:
    """One committed change read from the source's log.

    ``row`` holds the new values (the old key for a delete) as the source's
    text form; ``commit_ts`` is the server's commit time in seconds since the
    epoch (microseconds on PostgreSQL, whole seconds in a MySQL binlog);
    ``seen`` is this process's clock when the tap decoded it.
    """

    table: str
    op: Operation
    row: dict[str, Any]
    commit_ts: float | None
    position: str
    seen: float
    old: dict[str, Any] | None = None


ChangeHandler = Callable[[Change], None]


@dataclass
class TapPosition:
    """Where a tap has read to: an LSN, or a binlog file, offset and GTID."""

    ts: float = 0.0
    lsn: str | None = None
    file: str | None = None
    pos: int | None = None
    gtid: str | None = None
    event_ts: float | None = None

    def body(self) -> dict[str, Any]:
        """Return the `tap.position` record body (only the fields this source has)."""
        out: dict[str, Any] = {"ts": self.ts}
        for key in ("lsn", "file", "pos", "gtid", "event_ts"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class Tap(Protocol):
    """A log reader that runs in its own thread until ``stop`` is set.

    ``ready`` is set once the tap streams (so changes committed from then on
    will be seen); ``error`` holds the last connection problem in plain words,
    or None while streaming.
    """

    name: str
    ready: threading.Event
    error: str | None
    position: TapPosition

    def run(self, on_change: ChangeHandler, stop: threading.Event) -> None: ...


@dataclass
class Backoff:
    """Reconnect delays: 0.5 s doubling to ``limit``, reset once a stream works."""

    limit: float = 30.0
    delay: float = field(default=0.5)

    def next(self) -> float:
        current = self.delay
        self.delay = min(self.limit, self.delay * 2)
        return current

    def reset(self) -> None:
        self.delay = 0.5
