"""The state changes of alerts: every one for ``lagwatch rules test``, those that fire or
resolve kept as store records for a while and up to a number (the dashboard's history).

The engine writes the kept changes in the same store write as the new state.
Keys sort by time: ``<ms since epoch, 13 digits>.<fingerprint>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lagwatch.alerts.state import AlertState
from lagwatch.store import Record, Store
from lagwatch.store.contracts import Namespace

NAMESPACE = Namespace.ALERTS_HISTORY
# Kept this long, and never more than LIMIT changes in all (a condition that
# hovers around its threshold under a long `for` can go pending and back every cycle).
KEEP = 7 * 86400.0
LIMIT = 10_000
# What a change says when the alert stopped being tracked before it ever fired.
INACTIVE = "inactive"


@dataclass(frozen=True)
class Change:
    """One alert going from one shown state to another (or starting or stopping to flap)."""

    ts: float
    fingerprint: str
    rule: str
    labels: dict[str, str]
    before: str
    state: str
    value: float
    threshold: float | None
    op: str
    flapping: bool
    summary: str
    unit: str = ""

    def to_record(self) -> Record:
        key = f"{int(self.ts * 1000):013d}.{self.fingerprint}"
        body = {name: getattr(self, name) for name in self.__dataclass_fields__}
        body["value"] = None if math.isnan(self.value) else self.value
        return Record(NAMESPACE, key, self.ts, body)

    @classmethod
    def from_record(cls, record: Record) -> Change:
        body: dict[str, Any] = {
            k: v for k, v in record.body.items() if k in cls.__dataclass_fields__
        }
        if body.get("value") is None:
            body["value"] = float("nan")
        return cls(**body)


def change_of(before: AlertState | None, after: AlertState | None, now: float) -> Change | None:
    """Return the change from ``before`` to ``after`` (None: not tracked), or None if none shows."""
    was = before.state if before is not None else ""
    if after is None:
        if before is None or was != "pending":
            return None  # a resolved alert being forgotten is no change
        return _change(before, was, INACTIVE, before.flapping, now)
    if before is not None and was == after.state and before.flapping == after.flapping:
        return None
    return _change(after, was or INACTIVE, after.state, after.flapping, now)


def _change(s: AlertState, was: str, state: str, flapping: bool, now: float) -> Change:
    return Change(
        now,
        s.fingerprint,
        s.rule,
        s.labels,
        was,
        state,
        s.value,
        s.threshold,
        s.op,
        flapping,
        s.annotations.get("summary", ""),
        s.unit,
    )


def kept(change: Change) -> bool:
    """Return whether the store keeps ``change``: it fires or resolves (or flaps).

    A condition hovering around its threshold under a long ``for`` goes
    pending and back every evaluation; kept, those would crowd the changes
    on-call looks for out of the bounded history.
    """
    return bool({change.before, change.state} & {"firing", "resolved"})


def prune(store: Store, now: float, keep: float = KEEP, limit: int = LIMIT) -> int:
    """Delete changes older than ``keep``, then all but the newest ``limit``; return how many went."""
    gone = store.delete_records(NAMESPACE, older_than=now - keep)
    newest = store.list_records(NAMESPACE, newest_first=True, limit=limit + 1)
    if len(newest) > limit:
        gone += store.delete_records(NAMESPACE, older_than=newest[limit - 1].ts)
    return gone
