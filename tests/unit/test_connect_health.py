"""The reader-health verdict: one row per case, each saying why the verdict must be what it is."""

from __future__ import annotations

import pytest

from lagwatch.collectors.connect.collector import Known, Pending, filtered_publication
from lagwatch.collectors.connect.debezium import PgOffset, target_of
from lagwatch.collectors.connect.health import Facts, judge
from lagwatch.collectors.connect.sources import Link, PgReading
from lagwatch.store.contracts import ReaderHealth

STALL = 180.0
PG_CLASS = "io.debezium.connector.postgresql.PostgresConnector"


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


def pending(**config: str) -> Pending:
    known = Known("c", PG_CLASS, config)
    offset = PgOffset(lsn=100, lsn_proc=100, lsn_commit=None, tx_id=5, ts=1.0, snapshot=False)
    return Pending(known, offset, target_of(PG_CLASS, config), Link("pg", "links"), None)


@pytest.mark.parametrize(
    ("config", "publications", "filtered", "why"),
    [
        ({"publication.name": "p", "publication.autocreate.mode": "disabled"}, {"p": False},
         True, "made by hand for its tables (issue 11, finding 5): as filtered as Debezium's"),
        ({"publication.name": "p"}, {"p": False}, True,
         "the default mode all_tables uses a filtered publication it finds as it is"),
        ({"publication.name": "p", "publication.autocreate.mode": "filtered"}, {"p": True},
         False, "the source says FOR ALL TABLES: every write reaches the connector"),
        ({"publication.autocreate.mode": "filtered"}, {}, True,
         "not read on the source (another database): the config decides"),
        ({}, {"dbz_publication": False}, True, "Debezium's default publication name is looked up"),
        ({}, {}, False, "nothing says filtered"),
    ],
)  # fmt: skip
def test_a_publication_is_filtered_as_the_source_says_else_as_the_config_says(
    config: dict[str, str], publications: dict[str, bool], filtered: bool, why: str
) -> None:
    reading = PgReading(200, 6, None, publications=publications)
    assert filtered_publication(pending(**config), reading) is filtered, why
    assert filtered_publication(pending(**config), "source unreachable") is (
        config.get("publication.autocreate.mode") == "filtered"
    ), "an unread source leaves the config to decide"
