"""A failed connector that is deleted stops paging: the Connect state rules judge a state only
while the worker keeps listing it (written each cycle), so a FAILED task whose connector is
gone resolves 5 minutes after its last listing instead of firing on for the hour every rule
gives a value by default. A task still listed FAILED keeps firing."""

from __future__ import annotations

import json
from pathlib import Path

from lagwatch.alerts.state import FIRING, RESOLVED
from tests.support.alerting import Harness


def states(h: Harness) -> dict[str, str]:
    return {s.labels["connector"]: s.state for s in h.engine.states.values()
            if s.rule == "ConnectorTaskFailed"}  # fmt: skip


def test_a_deleted_failed_connector_resolves_and_a_listed_one_stays(tmp_path: Path) -> None:
    h = Harness(
        tmp_path, {"receivers": [{"name": "log", "log": {"path": str(tmp_path / "a.log")}}]}
    )
    failed = "org.apache.kafka.connect.errors.ConnectException: boom"
    for _ in range(8):  # both listed FAILED for 80 s: both fire (for: 30s)
        for name in ("kept", "deleted"):
            h.write(
                "lagwatch_connect_task_state", 5, failed, cluster="cdc", connector=name, task="0"
            )
        h.write("lagwatch_connect_up", 1, cluster="cdc")
        h.cycle()
        h.skip(10)
    assert states(h) == {"kept": FIRING, "deleted": FIRING}
    # "deleted" is no longer listed: the worker answers, and only "kept" is written.
    for _ in range(33):
        h.write("lagwatch_connect_task_state", 5, failed, cluster="cdc", connector="kept", task="0")
        h.write("lagwatch_connect_up", 1, cluster="cdc")
        h.cycle()
        h.skip(10)
    assert states(h) == {"kept": FIRING, "deleted": RESOLVED}
    h.close()
    told = [json.loads(line) for line in (tmp_path / "a.log").read_text().splitlines()]
    resolved = [a["labels"] for t in told for a in t["alerts"] if a["state"] == RESOLVED]
    assert [r["connector"] for r in resolved] == ["deleted"], told
