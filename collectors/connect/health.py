"""Is a CDC connector really reading? Connect's state joined with what its source shows.

RUNNING is not enough: a connector whose database password rotated retries forever and
stays RUNNING, and so does one whose publication was dropped and recreated, while
nothing is read; a PAUSED connector keeps its slot active. So the verdict weighs, in
order, from most to least bad:

1. a task or the connector FAILED;
2. the connector or a task PAUSED or STOPPED while changes wait;
3. an initial snapshot in progress (not a fault);
4. the source shows no reader on the connector's slot while changes wait;
5. its position (the offset, or the slot's confirmed_flush_lsn when further) has not
   moved for ``reader_stall`` while changes wait. Without ``heartbeat.interval.ms`` a
   PostgreSQL connector whose captured tables are idle also stops confirming while the
   server writes elsewhere, pinning WAL; that case is told apart as pinned (the fix is a
   heartbeat), not as a broken reader.

Pure: the collector passes the facts and keeps the positions between cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

from lagwatch.store.contracts import ReaderHealth
from lagwatch.store.types import format_duration

HOLDING = ("PAUSED", "STOPPED")


@dataclass(frozen=True)
class Facts:
    """One cycle's evidence about one connector."""

    connector_state: str | None
    task_states: tuple[str, ...]
    failure: str | None
    waiting_bytes: int
    snapshot: bool
    slot: str | None
    slot_active: bool | None
    """The slot's ``active`` on the source (None: no slot, or not read)."""
    position: str
    still_for: float
    """Seconds the position has not moved (0 when it just moved)."""
    heartbeat: bool
    action_query: bool = True
    """The connector sets ``heartbeat.action.query``."""
    filtered: bool = False
    """Its publication is not FOR ALL TABLES (as the source says, else as
    ``publication.autocreate.mode: filtered`` says): heartbeats without an action query then
    do not move the slot while only other tables are written."""


@dataclass(frozen=True)
class Verdict:
    health: ReaderHealth
    why: str
    pinned: bool = False


def judge(f: Facts, stall_after: float) -> Verdict:
    """Return the reader's health and the evidence that decided it."""
    states = [f.connector_state or "?", *f.task_states]
    if "FAILED" in states:
        return Verdict(ReaderHealth.FAILED, f"a task FAILED: {f.failure or 'no trace given'}")
    waiting = f.waiting_bytes > 0
    held = [s for s in states if s in HOLDING]
    if held and waiting:
        return Verdict(
            ReaderHealth.PAUSED,
            f"{held[0]} while {f.waiting_bytes:,} B wait (a paused connector keeps its slot)",
        )
    if f.snapshot:
        return Verdict(ReaderHealth.SNAPSHOT, "initial snapshot in progress")
    if not waiting:
        return Verdict(ReaderHealth.OK, "caught up: nothing waits after its position")
    said = f"Connect says {f.connector_state or '?'}"
    if f.slot_active is False:
        return Verdict(
            ReaderHealth.NOT_CONNECTED,
            f"slot {f.slot} has no reader connected while {f.waiting_bytes:,} B wait; {said}",
        )
    if f.still_for >= stall_after:
        still = format_duration(f.still_for)
        if not f.heartbeat and f.slot is not None and f.slot_active:
            return Verdict(
                ReaderHealth.OK,
                f"slot {f.slot} pinned: its position {f.position} has not moved for {still} "
                f"while {f.waiting_bytes:,} B of WAL were written, and the connector has no "
                "heartbeat.interval.ms; set it (and heartbeat.action.query for a filtered "
                "publication) so the slot advances while its tables are idle",
                pinned=True,
            )
        if f.filtered and not f.action_query and f.slot is not None and f.slot_active:
            return Verdict(
                ReaderHealth.OK,
                f"slot {f.slot} pinned: its position {f.position} has not moved for {still} "
                f"while {f.waiting_bytes:,} B of WAL were written; the connector sends "
                "heartbeats, but its publication is filtered and it has no "
                "heartbeat.action.query, so no heartbeat reaches the slot; set "
                "heartbeat.action.query to an update of a captured heartbeat table",
                pinned=True,
            )
        return Verdict(
            ReaderHealth.NOT_ADVANCING,
            f"position {f.position} has not moved for {still} while {f.waiting_bytes:,} B "
            f"wait; {said}",
        )
    return Verdict(ReaderHealth.OK, f"reading: {f.waiting_bytes:,} B after its position")


def position_of(offset: object, confirmed: int | None) -> str:
    """Return a comparable text of where a connector stands."""
    lsn = getattr(offset, "lsn", None)
    if lsn is not None:
        return f"lsn {max(int(lsn), confirmed or 0)}"
    return f"{getattr(offset, 'file', None)}:{getattr(offset, 'pos', None)}"
