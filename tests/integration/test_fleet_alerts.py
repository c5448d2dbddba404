"""The alert leader of a fleet SIGKILLed during a firing alert: no re-page, no loss, one resolve."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.integration.fleet_helpers import Fleet, fleet_status, fresh_database, live
from tests.integration.fleet_helpers import wait as wait_for
from tests.support.ports import free_port
from tests.support.receivers import PD_ACCEPTED, SLACK_OK, FakeReceiver
from tests.support.tcp_forward import Forwarder

INTERVAL = 2.0


def write_config(path: Path, store_dsn: str, flaky_dsn: str, slack: str, pd: str) -> Path:
    path.write_text(f"""
store: {{url: '{store_dsn}'}}
daemon: {{metrics_listen: null, jitter: 0s}}
sources:
  - {{name: orders-db, kind: postgres, interval: {INTERVAL:g}s, timeout: 1s,
     dsn: "{flaky_dsn}"}}
  - {{name: pg-a, kind: postgres, dsn: '${{LAGWATCH_PG_MONITOR_DSN}}', interval: {INTERVAL:g}s}}
  - {{name: pg-b, kind: postgres, dsn: '${{LAGWATCH_PG_MONITOR_DSN}}', interval: {INTERVAL:g}s}}
kafka:
  - {{name: main, bootstrap: '${{LAGWATCH_KAFKA_BOOTSTRAP}}', interval: {INTERVAL:g}s, timeout: 15s}}
alerts:
  builtin_rules: false
  evaluate_every: {INTERVAL:g}s
  group_interval: {INTERVAL:g}s
  rules:
    - {{name: CollectorDown, expr: 'lagwatch_collector_up{{collector="postgres:orders-db"}} == 0',
       severity: page}}
  receivers:
    - {{name: team, slack: {{webhook_url: "{slack}"}}}}
    - {{name: oncall, pagerduty: {{routing_key: KEY, url: "{pd}"}}}}
  routes:
    - {{match: {{severity: page}}, receiver: oncall, continue: true}}
    - {{receiver: team}}
""")
    return path


def leader(config: Path) -> str | None:
    found = [d["daemon"] for d in live(fleet_status(config)) if d["leader"]]
    assert len(found) <= 1, found
    return found[0] if found else None


def test_alert_leader_killed_while_firing_neither_repages_nor_loses_and_resolves_once(
    tmp_path: Path, pg_admin_dsn: str, pg_monitor_dsn: str, kafka_bootstrap: str, unique: str
) -> None:
    """Given three daemons and a source that is down, paged to PagerDuty and posted to Slack;
    when the daemon running the alert engine is SIGKILLed, then another leads within 2
    intervals and, over many more cycles with the alert still firing, nothing is sent again;
    when the source comes back, the resolve reaches each receiver exactly once."""
    flaky_port = free_port()
    pg = urlsplit(pg_monitor_dsn)
    # The monitor login, through a port where nothing listens until the forwarder opens.
    flaky_dsn = urlunsplit(
        pg._replace(netloc=f"{pg.username}:{pg.password}@127.0.0.1:{flaky_port}")
    )
    with (
        fresh_database(pg_admin_dsn, f"lagwatch_fleet_{unique}") as dsn,
        FakeReceiver(SLACK_OK) as slack,
        FakeReceiver(PD_ACCEPTED) as pd,
    ):
        config = write_config(tmp_path / "lagwatch.yaml", dsn, flaky_dsn, slack.url, pd.url)
        fleet = Fleet(config, tmp_path)
        forward: Forwarder | None = None
        try:
            fleet.start(3)
            [page] = pd.wait_for(1, timeout=120)
            [post] = slack.wait_for(1, timeout=60)
            assert page.body["event_action"] == "trigger"
            assert "[FIRING] CollectorDown" in post.body["text"]
            wait_for("3 live daemons", lambda: len(live(fleet_status(config))) == 3, timeout=60)
            first = wait_for("a leader", lambda: leader(config), timeout=30)

            killed = fleet.kill(first)
            second = wait_for("another leader", lambda: leader(config), timeout=60)
            assert second != first
            # When it took over, by its own log line (fleet status adds its own start-up).
            took = min(t for t in fleet.log_times("leads the alert engine") if t > killed) - killed
            print(json.dumps({"new_leader_after_seconds": round(took, 2)}))
            assert took <= 2 * INTERVAL, took

            time.sleep(10 * INTERVAL)  # the alert fires on in the new leader's engine
            assert (len(pd.received), len(slack.received)) == (1, 1), (
                [r.body for r in pd.received],
                [r.body for r in slack.received],
            )

            forward = Forwarder(flaky_port, (pg.hostname or "127.0.0.1", pg.port or 5432))
            [_, resolve] = pd.wait_for(2, timeout=90)
            [_, resolved] = slack.wait_for(2, timeout=60)
            assert resolve.body["event_action"] == "resolve"
            assert resolve.body["dedup_key"] == page.body["dedup_key"]
            assert "[RESOLVED] CollectorDown" in resolved.body["text"]
            time.sleep(5 * INTERVAL)
            assert (len(pd.received), len(slack.received)) == (2, 2)
        finally:
            if forward is not None:
                forward.close()
            fleet.stop()
    text = fleet.log_text()
    assert "Traceback" not in text, text[-5000:]
    assert "KEY" not in text.replace("KEYS", "")
