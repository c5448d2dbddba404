"""Delivery to real HTTP servers on loopback that answer like Slack and PagerDuty."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lagwatch.alerts.outbox import HISTORY, OUTBOX
from tests.support.alerting import Harness
from tests.support.receivers import PD_ACCEPTED, SLACK_OK, FakeReceiver

STATUS = "lagwatch_kafka_group_status"
NOTE = "no commit for 4m12s while 1,830 messages wait"


@pytest.fixture
def slack() -> Iterator[FakeReceiver]:
    with FakeReceiver(SLACK_OK) as server:
        yield server


@pytest.fixture
def pd() -> Iterator[FakeReceiver]:
    with FakeReceiver(PD_ACCEPTED) as server:
        yield server


def config(slack: FakeReceiver, pd: FakeReceiver, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "builtin_rules": True,
        "disable": ["CollectorSilent"],
        "receivers": [
            {"name": "team", "slack": {"webhook_url": slack.url}},
            {"name": "oncall", "pagerduty": {"routing_key": "R0UT1NGKEY", "url": pd.url}},
        ],
        "routes": [
            {"match": {"severity": "page"}, "receiver": "oncall", "continue": True},
            {"receiver": "team"},
        ],
        "dashboard_url": "http://127.0.0.1:8501",
        "runbook_url": "https://runbooks.example/lagwatch",
        "delivery": {"retry_initial": "300ms", "retry_max": "5s", "timeout": "3s"},
    }
    base.update(extra)
    return base


def run_until(h: Harness, done: Any, timeout: float = 15.0) -> None:
    deadline = time.time() + timeout
    while not done():
        assert time.time() < deadline, "timed out"
        h.deliver()
        time.sleep(0.02)


def test_slack_and_pagerduty_payloads_field_by_field(
    tmp_path: Path, slack: FakeReceiver, pd: FakeReceiver
) -> None:
    """Given a consumer group that stops, Slack gets Block Kit and PagerDuty a trigger; then both
    get the resolve."""
    h = Harness(tmp_path, config(slack, pd), real_time=True)
    h.write(STATUS, 3, note=NOTE, cluster="main", group="search")
    h.cycle()
    [msg] = slack.wait_for(1)
    [event] = pd.wait_for(1)

    body = msg.body
    assert set(body) == {"text", "blocks"}
    assert body["text"] == (
        ":rotating_light: [FIRING] KafkaGroupStopped cluster=main: "
        "Consumer group search on main stopped — 3 (threshold == 3)"
    )
    header, section, links, hint = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text",
                                                 "text": "[FIRING] KafkaGroupStopped cluster=main"}}  # fmt: skip
    assert section["type"] == "section"
    assert section["text"] == {
        "type": "mrkdwn",
        "text": f":rotating_light: *Consumer group search on main stopped*\n{NOTE}",
    }
    where, value, since, severity = (f["text"] for f in section["fields"])
    assert where == "*Where*\n`cluster=main group=search`"
    assert value == "*Value*\n3 (threshold == 3)"
    assert re.fullmatch(
        r"\*Since\*\n<!date\^\d+\^\{date_short_pretty\} \{time_secs\}\|[\d-]+ [\d:]+ UTC>", since
    )
    assert severity == "*Severity*\npage"
    assert links == {"type": "context", "elements": [{"type": "mrkdwn", "text":
        "<https://runbooks.example/lagwatch#kafkagroupstopped|Runbook> · "
        "<http://127.0.0.1:8501/kafka?cluster=main&group=search|Dashboard>"}]}  # fmt: skip
    assert hint["type"] == "context"
    assert hint["elements"][0]["text"] == (
        'To silence: `lagwatch silence add alertname=KafkaGroupStopped cluster=main --for 2h --comment "…"`'
    )

    e = event.body
    assert set(e) == {
        "routing_key",
        "event_action",
        "dedup_key",
        "client",
        "client_url",
        "payload",
        "links",
    }
    assert (e["routing_key"], e["event_action"], e["client"]) == (
        "R0UT1NGKEY",
        "trigger",
        "lagwatch",
    )
    assert re.fullmatch(r"lagwatch/oncall/[0-9a-f]{20}", e["dedup_key"])
    assert e["client_url"] == "http://127.0.0.1:8501"
    p = e["payload"]
    assert p["summary"] == (
        "[FIRING] KafkaGroupStopped cluster=main: Consumer group search on main stopped (3 (threshold == 3))"
    )
    assert (p["source"], p["severity"], p["component"], p["group"], p["class"]) == (
        "main", "critical", "search", "main", "KafkaGroupStopped"
    )  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", p["timestamp"])
    [firing] = p["custom_details"]["firing"]
    assert firing["labels"] == {"alertname": "KafkaGroupStopped", "cluster": "main", "group": "search",
                                "severity": "page"}  # fmt: skip
    assert (firing["value"], firing["description"], firing["note"]) == (
        "3 (threshold == 3)",
        NOTE,
        NOTE,
    )
    assert [link["text"].split(":")[0] for link in e["links"]] == ["Runbook", "Dashboard"]
    assert e["links"][1]["href"] == "http://127.0.0.1:8501/kafka?cluster=main&group=search"

    h.write(STATUS, 0, cluster="main", group="search")
    h.skip(61)  # a resolve waits for group_interval after the group's last message
    h.cycle()
    run_until(h, lambda: len(slack.received) == 2 and len(pd.received) == 2)
    assert pd.received[1].body == {"routing_key": "R0UT1NGKEY", "event_action": "resolve",
                                   "dedup_key": e["dedup_key"]}  # fmt: skip
    assert (
        slack.received[1].body["blocks"][0]["text"]["text"]
        == "[RESOLVED] KafkaGroupStopped cluster=main"
    )
    assert "resolved <!date^" in slack.received[1].body["blocks"][1]["fields"][2]["text"]
    h.close()


def test_429_waits_for_retry_after_then_delivers(
    tmp_path: Path, slack: FakeReceiver, pd: FakeReceiver
) -> None:
    slack.answer((429, "rate_limited", {"Retry-After": "2"}))
    h = Harness(tmp_path, config(slack, pd, routes=[{"receiver": "team"}]), real_time=True)
    h.write(STATUS, 4, cluster="main", group="search")
    h.cycle()
    run_until(h, lambda: len(slack.received) == 2)
    first, second = slack.received
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 2.0, "Retry-After honoured"
    assert second.body == first.body
    [sent] = h.store.list_records(HISTORY)
    assert (sent.body["status"], sent.body["attempts"]) == ("sent", 1)
    [notify] = h.store.latest("lagwatch_alert_notify_seconds", {"receiver": "team"})
    assert 2.0 <= notify.value < 10.0
    h.close()


def test_5xx_is_retried_with_growing_backoff_and_the_same_dedup_key(
    tmp_path: Path, slack: FakeReceiver, pd: FakeReceiver
) -> None:
    pd.answer((500, "oops", {}), (503, "busy", {}))
    h = Harness(tmp_path, config(slack, pd, routes=[{"receiver": "oncall"}]), real_time=True)
    h.write(STATUS, 3, cluster="main", group="search")
    h.cycle()
    run_until(h, lambda: len(pd.received) == 3)
    statuses = [r.status for r in pd.received]
    gaps = [b.at - a.at for a, b in zip(pd.received, pd.received[1:], strict=False)]
    assert statuses == [500, 503, 202]
    assert gaps[0] >= 0.3 and gaps[1] >= 0.6, f"backoff doubles: {gaps}"
    assert len({r.body["dedup_key"] for r in pd.received}) == 1
    assert h.store.list_records(OUTBOX) == []
    h.close()


def test_400_is_never_retried_and_marks_the_receiver_broken(
    tmp_path: Path, slack: FakeReceiver, pd: FakeReceiver
) -> None:
    pd.answer((400, '{"status":"invalid event","errors":["routing_key invalid"]}', {}))
    h = Harness(tmp_path, config(slack, pd, routes=[{"receiver": "oncall"}]), real_time=True)
    h.write(STATUS, 3, cluster="main", group="search")
    h.cycle()
    pd.wait_for(1)
    for _ in range(20):
        h.deliver()
        time.sleep(0.05)
    assert len(pd.received) == 1
    [failed] = h.store.list_records(HISTORY)
    assert failed.body["status"] == "failed" and failed.body["detail"].startswith("400 ")
    [broken] = h.store.latest("lagwatch_alert_receiver_broken", {"receiver": "oncall"})
    assert broken.value == 1 and "routing_key invalid" in (broken.note or "")
    assert "R0UT1NGKEY" not in (broken.note or "")
    h.close()


def test_slack_403_raises_a_receiver_broken_page_that_goes_to_pagerduty(
    tmp_path: Path, slack: FakeReceiver, pd: FakeReceiver
) -> None:
    """Given Slack answers 403 action_prohibited, then ReceiverBroken{receiver=team} pages via
    PagerDuty and never goes to the broken Slack webhook."""
    slack.default = (403, "action_prohibited", {})
    h = Harness(tmp_path, config(slack, pd, routes=[{"receiver": "team"}]), real_time=True)
    h.write("lagwatch_kafka_group_max_lag_seconds", 900, cluster="main", group="search")
    h.cycle()
    h.skip(301)
    h.cycle()  # KafkaGroupLagHigh (for 5m) fires: to Slack, which refuses
    slack.wait_for(1)
    h.deliver()
    h.cycle()  # the broken flag is in the store now: ReceiverBroken fires
    [event] = pd.wait_for(1)
    assert event.body["payload"]["class"] == "ReceiverBroken"
    assert event.body["payload"]["component"] == "team"
    assert "action_prohibited" in event.body["payload"]["custom_details"]["firing"][0]["note"]
    assert len(slack.received) == 1, "nothing about the broken webhook is sent to it"
    h.close()


def test_rate_limit_merges_a_backlog_into_one_digest(
    tmp_path: Path, slack: FakeReceiver, pd: FakeReceiver
) -> None:
    """Given one message just sent, three more groups firing within Slack's 1 s go as one digest."""
    cfg = config(slack, pd, routes=[{"receiver": "team"}], group_by=["alertname", "group"])
    h = Harness(tmp_path, cfg, real_time=True)
    h.write(STATUS, 3, cluster="main", group="g0")
    h.cycle()
    slack.wait_for(1)
    for i in range(1, 4):
        h.write(STATUS, 3, cluster="main", group=f"g{i}")
    h.cycle()
    run_until(h, lambda: len(slack.received) == 2)
    time.sleep(1.2)
    h.deliver()
    assert len(slack.received) == 2
    first, digest = slack.received
    assert digest.at - first.at >= 1.0
    blocks = digest.body["blocks"]
    assert blocks[0]["text"]["text"] == "lagwatch: 3 alert updates held back by the rate limit"
    titles = sorted(b["text"]["text"].split("\n")[0] for b in blocks if b["type"] == "section")
    assert titles == [f"*[FIRING] KafkaGroupStopped group=g{i}*" for i in range(1, 4)]
    assert digest.body["text"].count("[FIRING]") == 3
    assert [r.body["status"] for r in h.store.list_records(HISTORY)] == ["sent"] * 4
    h.close()
