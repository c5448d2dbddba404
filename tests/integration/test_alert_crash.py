"""A daemon SIGKILLed after deciding to notify delivers after its restart, once."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from lagwatch.alerts.outbox import HISTORY, OUTBOX
from lagwatch.store import StoreUnavailable
from lagwatch.store.sqlite import SqliteStore
from tests.support.daemon_run import start_daemon
from tests.support.ports import free_port
from tests.support.receivers import PD_ACCEPTED, SLACK_OK, FakeReceiver


def wait(what: str, check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_sigkill_between_deciding_and_sending_resends_once_after_restart(tmp_path: Path) -> None:
    """Given a source that cannot be reached and Slack/PagerDuty not answering yet; when the
    daemon has written both notifications to its outbox, it is SIGKILLed; then, with the
    receivers back and the daemon restarted, each receives the notification exactly once."""
    slack_port, pd_port, dead_port = free_port(), free_port(), free_port()
    config = tmp_path / "lagwatch.yaml"
    config.write_text(f"""
store: {{url: "sqlite:///{tmp_path}/lagwatch.db"}}
daemon: {{metrics_listen: null, jitter: 0s}}
sources:
  - {{kind: postgres, name: orders-db, interval: 1s, timeout: 1s,
     dsn: "postgresql://monitor@127.0.0.1:{dead_port}/postgres"}}
alerts:
  disable: [CollectorSilent]
  rules:
    - {{name: CollectorDown, expr: lagwatch_collector_up == 0, severity: page}}
  receivers:
    - {{name: team, slack: {{webhook_url: "http://127.0.0.1:{slack_port}/hook"}}}}
    - {{name: oncall, pagerduty: {{routing_key: KEY, url: "http://127.0.0.1:{pd_port}/hook"}}}}
  routes:
    - {{match: {{severity: page}}, receiver: oncall, continue: true}}
    - {{receiver: team}}
""")
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log)
    reader: SqliteStore | None = None
    try:

        def decided() -> bool:
            nonlocal reader
            if reader is None:
                if not (tmp_path / "lagwatch.db").exists():
                    return False
                reader = SqliteStore(tmp_path / "lagwatch.db", read_only=True)
            try:
                records = reader.list_records(OUTBOX)
            except StoreUnavailable:
                return False  # the file exists before the daemon has created its tables
            return len(records) == 2 and all(r.body["attempts"] >= 1 for r in records)

        wait("both notifications in the outbox", decided)
        assert reader is not None
        before = {r.body["notification"]["receiver"]: r.body for r in reader.list_records(OUTBOX)}
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)

        with FakeReceiver(SLACK_OK, port=slack_port) as slack, \
                FakeReceiver(PD_ACCEPTED, port=pd_port) as pd:  # fmt: skip
            daemon = start_daemon(config, log)
            [message] = slack.wait_for(1, timeout=30)
            [event] = pd.wait_for(1, timeout=30)
            time.sleep(5)  # several more cycles: the alert still fires, nothing is re-sent
            assert (len(slack.received), len(pd.received)) == (1, 1)
            assert "[FIRING] CollectorDown" in message.body["text"]
            group = before["oncall"]["notification"]["group_key"]
            assert event.body["dedup_key"] == f"lagwatch/oncall/{group}"
            wait(
                "the outbox to empty",
                lambda: reader is not None and not reader.list_records(OUTBOX),
            )
            history = {
                r.body["notification"]["receiver"]: r.body for r in reader.list_records(HISTORY)
            }
            assert {k: v["status"] for k, v in history.items()} == {
                "team": "sent",
                "oncall": "sent",
            }
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        if reader is not None:
            reader.close()
    assert "routing_key" not in log.read_text()
