"""The reader-health verdict: one row per case, each saying why the verdict must be what it is."""

from __future__ import annotations

import pytest

from lagwatch.collectors.connect.health import Facts, judge
from lagwatch.store.contracts import ReaderHealth

STALL = 180.0


def facts(**changes: object) -> Facts:
    base = {
        "connector_state": "RUNNING", "task_states": ("RUNNING",), "failure": None,
        "waiting_bytes": 0, "snapshot": False, "slot": "dbz", "slot_active": True,
        "position": "lsn 100", "still_for": 0.0, "heartbeat": True,
    }  # fmt: skip
    return Facts(**{**base, **changes})  # type: ignore[arg-type]


CASES = [
    # (facts, expected, pinned, why)
    (facts(), ReaderHealth.OK, False, "running, nothing waits"),
    (facts(task_states=("FAILED",), failure="boom"), ReaderHealth.FAILED, False,
     "a FAILED task under a RUNNING connector is the silent failure to catch"),
    (facts(connector_state="PAUSED", waiting_bytes=10), ReaderHealth.PAUSED, False,
     "paused while changes wait: the slot stays active, so only Connect tells"),
    (facts(connector_state="PAUSED"), ReaderHealth.OK, False,
     "paused with nothing to read harms nothing (ConnectorPausedTooLong covers long pauses)"),
    (facts(snapshot=True, waiting_bytes=10), ReaderHealth.SNAPSHOT, False,
     "a snapshot reads the tables, not the WAL: not a fault"),
    (facts(slot_active=False, waiting_bytes=10), ReaderHealth.NOT_CONNECTED, False,
     "RUNNING but no reader on the slot: a rotated password, a recreated publication"),
    (facts(waiting_bytes=10, still_for=STALL), ReaderHealth.NOT_ADVANCING, False,
     "connected, heartbeat on, yet its position does not move while changes wait"),
    (facts(waiting_bytes=10, still_for=STALL - 1), ReaderHealth.OK, False,
     "not moving for less than the stall: offsets are flushed only every so often"),
    (facts(waiting_bytes=10, still_for=STALL, heartbeat=False), ReaderHealth.OK, True,
     "no heartbeat: idle captured tables leave the slot pinned, a config fix, not a broken reader"),
    (facts(waiting_bytes=10, still_for=STALL, filtered=True, action_query=False),
     ReaderHealth.OK, True,
     "heartbeats on but a filtered publication without heartbeat.action.query: the interval "
     "alone does not move the slot (issue 11, finding 5), a config fix"),
    (facts(waiting_bytes=10, still_for=STALL, filtered=True, action_query=True),
     ReaderHealth.NOT_ADVANCING, False,
     "with the action query its heartbeats reach the slot: not moving is not reading"),
    (facts(slot=None, slot_active=None, waiting_bytes=10, still_for=STALL, heartbeat=False),
     ReaderHealth.NOT_ADVANCING, False, "a binlog reader has no slot to pin: not moving is not reading"),
]  # fmt: skip


@pytest.mark.parametrize(("given", "expected", "pinned", "why"), CASES)
def test_reader_health(given: Facts, expected: ReaderHealth, pinned: bool, why: str) -> None:
    verdict = judge(given, STALL)
    assert (verdict.health, verdict.pinned) == (expected, pinned), why
    assert verdict.why
