"""Incidents delivered to real HTTP servers on loopback that answer like Slack's Web API, an
incoming webhook and PagerDuty's Events API: updates in place, retries, refusals, restarts.

Given pipeline orders (orders-db → topic → search, fraud) and rules on its groups; when
alerts of one incident fire and join, then each receiver keeps one message or incident;
a receiver that fails is retried and told everything it missed; one that refuses is
broken and says why, never with its secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lagwatch.alerts.config import AlertsConfig
from lagwatch.alerts.outbox import HISTORY, OUTBOX, THREADS
from lagwatch.alerts.topology import PipelineLink
from tests.support.alerting import Harness
from tests.support.receivers import SLACK_OK, FakeReceiver, PagerDutyApi, SlackApi

TOKEN = "xoxb-s3cret-bot-token"
KEY = "R0UT1NGKEY0123456789abcdef012345"
STATUS = "lagwatch_kafka_group_status"
LAG = "lagwatch_kafka_group_max_lag_seconds"
LOST = "lagwatch_probe_lost_total"
ORDERS = PipelineLink("orders", source="orders-db", cluster="main", groups=("search", "fraud"),
                      freshness=5.0, objective=99.0, topic="dbz.orders")  # fmt: skip
RULES = [
    {"name": "KafkaGroupStalled", "expr": f"{STATUS} == 4", "severity": "page",
     "annotations": {"summary": "{{ $labels.group }} stalled", "evidence": "{{ $labels.group }}: {{ $note }}"}},
    {"name": "KafkaGroupLagHigh", "expr": f"{LAG} > 60", "severity": "warning",
     "annotations": {"summary": "{{ $labels.group }} lags", "evidence": "{{ $labels.group }} is {{ $value | duration }} behind"}},
    {"name": "ProbeLost", "expr": f"{LOST} > 0", "severity": "warning",
     "annotations": {"summary": "probes lost", "evidence": "probe lost at {{ $labels.hop }}"}},
]  # fmt: skip


@pytest.fixture
def bot() -> Iterator[tuple[FakeReceiver, SlackApi]]:
    api = SlackApi(TOKEN)
    with FakeReceiver(api=api) as server:
        yield server, api


@pytest.fixture
def pd() -> Iterator[tuple[FakeReceiver, PagerDutyApi]]:
    api = PagerDutyApi(KEY)
    with FakeReceiver(api=api) as server:
        yield server, api


def config(receivers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "builtin_rules": False, "rules": RULES, "receivers": receivers,
        "group_interval": "10s",
        "default_inhibit": False,  # the group's lag joins the incident, told, not muted
        "delivery": {"retry_initial": "1s", "retry_max": "4s", "timeout": "3s"},
    }  # fmt: skip
    base.update(extra)
    return base


def slack_bot(server: FakeReceiver, token: str = TOKEN) -> dict[str, Any]:
    api = server.url.removesuffix("/hook") + "/api"
    return {"name": "bot", "slack": {"token": token, "channel": "#oncall", "api_url": api}}


def until(h: Harness, done: Any, seconds: float = 30.0) -> None:
    """Deliver as the hand clock moves on, until ``done`` (retries wait on that clock)."""
    for _ in range(int(seconds)):
        if done():
            return
        h.skip(1)
        h.deliver()
    assert done(), "timed out"


def stall(h: Harness) -> None:
    """fraud stalls: its verdict, its lag, then the probe at its hop, 10 s apart."""
    h.write(STATUS, 4, note="STALL: no commit for 40s", cluster="main", group="fraud")
    h.cycle()
    h.skip(10)
    h.write(LAG, 90, cluster="main", group="fraud")
    h.write(LOST, 3, pipeline="orders", hop="group:fraud")
    h.cycle()


def test_bot_updates_its_one_message_and_replies_in_the_thread(
    tmp_path: Path, bot: tuple[FakeReceiver, SlackApi]
) -> None:
    server, api = bot
    h = Harness(tmp_path, config([slack_bot(server)]), links=[ORDERS])
    stall(h)
    until(h, lambda: len(server.received) == 3)  # post, then update + reply
    [head] = api.heads()
    assert head["text"].startswith(":rotating_light: [FIRING:3] group:fraud (orders): ")
    assert (
        "fraud: STALL: no commit for 40s; fraud is 1m30s behind; probe lost at group:fraud"
        in (head["text"])
    )
    [reply] = api.replies(head["ts"])
    assert "joined: KafkaGroupLagHigh" in reply["text"] and "joined: ProbeLost" in reply["text"]
    [where] = h.store.list_records(THREADS)
    assert where.body == {"channel": "C0LAGWATCH", "ts": head["ts"]}
    # When it recovers: the same message says RESOLVED, the thread says so, the record goes.
    h.write(STATUS, 0, cluster="main", group="fraud")
    h.write(LAG, 1, cluster="main", group="fraud")
    h.write(LOST, 0, pipeline="orders", hop="group:fraud")
    h.skip(10)
    h.cycle()
    until(h, lambda: len(api.replies(head["ts"])) == 2)
    assert len(api.heads()) == 1 and head["text"].startswith(":white_check_mark: [RESOLVED]")
    assert api.replies(head["ts"])[-1]["text"].startswith(":white_check_mark: Resolved")
    assert h.store.list_records(THREADS) == []
    h.close()


def test_bot_restarted_keeps_updating_the_same_message(
    tmp_path: Path, bot: tuple[FakeReceiver, SlackApi]
) -> None:
    """Where the message is lives in the store: a restarted daemon edits it, not a new one."""
    server, api = bot
    h = Harness(tmp_path, config([slack_bot(server)]), links=[ORDERS])
    h.write(STATUS, 4, note="STALL", cluster="main", group="fraud")
    h.cycle()
    until(h, lambda: len(api.heads()) == 1)
    h.restart()
    h.skip(10)
    h.write(LAG, 90, cluster="main", group="fraud")
    h.cycle()
    until(h, lambda: len(server.received) == 3)
    [head] = api.heads()
    assert len(head["edits"]) == 1 and "KafkaGroupLagHigh" in head["text"]
    h.close()


def test_a_deleted_message_is_posted_again_with_the_whole_incident(
    tmp_path: Path, bot: tuple[FakeReceiver, SlackApi]
) -> None:
    server, api = bot
    h = Harness(tmp_path, config([slack_bot(server)]), links=[ORDERS])
    h.write(STATUS, 4, note="STALL", cluster="main", group="fraud")
    h.cycle()
    until(h, lambda: len(api.heads()) == 1)
    api.messages.clear()  # someone deleted it in Slack
    h.skip(10)
    h.write(LAG, 90, cluster="main", group="fraud")
    h.cycle()
    until(h, lambda: len(api.heads()) == 1)
    [head] = api.heads()
    assert "KafkaGroupStalled" in head["text"] and "KafkaGroupLagHigh" in head["text"]
    [where] = h.store.list_records(THREADS)
    assert where.body["ts"] == head["ts"]
    h.close()


def test_slack_500_and_429_are_retried_and_the_missed_changes_told_together(
    tmp_path: Path, bot: tuple[FakeReceiver, SlackApi]
) -> None:
    """Given the Web API failing while the incident grows, nothing is dropped: the update
    that goes through says every change the failed ones would have."""
    server, api = bot
    h = Harness(tmp_path, config([slack_bot(server)], group_interval="0s"), links=[ORDERS])
    h.write(STATUS, 4, note="STALL", cluster="main", group="fraud")
    h.cycle()
    until(h, lambda: len(api.heads()) == 1)
    server.answer((500, "oops", {}), (429, "", {"Retry-After": "3"}))
    h.skip(5)
    h.write(LAG, 90, cluster="main", group="fraud")
    h.cycle()  # the update: 500
    h.skip(2)
    h.write(LOST, 2, pipeline="orders", hop="group:fraud")
    h.cycle()  # a newer one, before the retry: 429
    until(h, lambda: len(api.replies(api.heads()[0]["ts"])) == 1)
    [reply] = api.replies(api.heads()[0]["ts"])
    assert "joined: KafkaGroupLagHigh" in reply["text"] and "joined: ProbeLost" in reply["text"]
    statuses = [r.status for r in server.received]
    assert statuses[:3] == [200, 500, 429]
    assert h.store.list_records(OUTBOX) == []
    assert {r.body["status"] for r in h.store.list_records(HISTORY)} == {"sent", "superseded"}
    h.close()


def test_a_bot_slack_refuses_is_broken_and_its_token_never_shows(
    tmp_path: Path, bot: tuple[FakeReceiver, SlackApi]
) -> None:
    server, _api = bot
    wrong = "xoxb-wrong-s3cret"
    h = Harness(tmp_path, config([slack_bot(server, token=wrong)]), links=[ORDERS])
    h.write(STATUS, 4, note="STALL", cluster="main", group="fraud")
    h.cycle()
    server.wait_for(1)
    for _ in range(5):
        h.skip(2)
        h.deliver()
    assert len(server.received) == 1, "invalid_auth is never retried"
    [failed] = h.store.list_records(HISTORY)
    assert failed.body["status"] == "failed" and "invalid_auth" in failed.body["detail"]
    [broken] = h.store.latest("lagwatch_alert_receiver_broken", {"receiver": "bot"})
    assert broken.value == 1 and "invalid_auth" in (broken.note or "")
    everything = str(
        [r.body for ns in (HISTORY, OUTBOX, THREADS) for r in h.store.list_records(ns)]
    )
    assert wrong not in everything and wrong not in (broken.note or "")
    h.close()


def test_pagerduty_keeps_one_incident_through_updates_and_a_5xx(
    tmp_path: Path, pd: tuple[FakeReceiver, PagerDutyApi]
) -> None:
    server, api = pd
    receivers = [{"name": "oncall", "pagerduty": {"routing_key": KEY, "url": server.url}}]
    h = Harness(tmp_path, config(receivers), links=[ORDERS])
    server.answer((502, "bad gateway", {}))
    stall(h)  # the first trigger meets a 502; the update replaces it before the retry
    until(h, lambda: api.opened == 1)
    [(key, incident)] = api.incidents.items()
    [first] = incident["triggers"]
    assert first["summary"].startswith("[FIRING:3] group:fraud (orders): KafkaGroupStalled")
    assert first["component"] == "fraud" and first["class"] == "KafkaGroupStalled"
    assert first["custom_details"]["incident"]["root"]["hop"] == "group:fraud"
    # A later change is a trigger for the same incident, by the same dedup_key.
    h.write(LOST, 0, pipeline="orders", hop="group:fraud")
    h.skip(10)
    h.cycle()
    until(h, lambda: len(incident["triggers"]) == 2)
    assert "resolved: ProbeLost" in str(incident["triggers"][1]["custom_details"]["changes"])
    assert [r.status for r in server.received] == [502, 202, 202]
    assert {e.body["dedup_key"] for e in server.received} == {key}
    h.write(STATUS, 0, cluster="main", group="fraud")
    h.write(LAG, 1, cluster="main", group="fraud")
    h.write(LOST, 0, pipeline="orders", hop="group:fraud")
    h.skip(10)
    h.cycle()
    until(h, lambda: incident["status"] == "resolved")
    assert incident["resolves"] == 1 and api.opened == 1
    h.close()


def test_webhook_rate_limit_digest_keeps_every_incident_update(tmp_path: Path) -> None:
    """An incoming webhook cannot edit: each update is a new message with the whole incident,
    and a backlog the rate limit holds back goes as one digest naming each incident."""
    with FakeReceiver(SLACK_OK) as hook:
        receivers = [{"name": "hook", "slack": {"webhook_url": hook.url, "min_interval": 30}}]
        h = Harness(tmp_path, config(receivers, group_interval="0s"), links=[ORDERS])
        h.write(STATUS, 4, note="STALL", cluster="main", group="fraud")
        h.cycle()
        hook.wait_for(1)
        h.skip(2)
        h.write(LAG, 90, cluster="main", group="search")  # another hop: its own incident
        h.write(LAG, 90, cluster="main", group="fraud")  # joins fraud's
        h.cycle()
        until(h, lambda: len(hook.received) == 2, seconds=60)
        digest = hook.received[1].body
        titles = [
            b["text"]["text"].split("\n")[0] for b in digest["blocks"] if b["type"] == "section"
        ]
        assert sorted(titles) == ["*[FIRING:2] group:fraud (orders): KafkaGroupStalled, KafkaGroupLagHigh*",
                                  "*[FIRING] group:search (orders): KafkaGroupLagHigh*"]  # fmt: skip
        assert "joined: KafkaGroupLagHigh" in str(digest)
        h.close()


@pytest.mark.parametrize(
    ("slack", "says"),
    [
        ({"webhook_url": "http://x", "token": "t", "channel": "C1"}, "not both"),
        ({"token": "t"}, "needs both token and channel"),
        ({}, "give webhook_url"),
    ],
)
def test_slack_is_a_webhook_or_a_bot(slack: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        AlertsConfig.model_validate({"receivers": [{"name": "s", "slack": slack}]})


def test_bot_secrets_stay_out_of_the_outbox(
    tmp_path: Path, bot: tuple[FakeReceiver, SlackApi]
) -> None:
    server, _ = bot
    server.answer((503, "busy", {}))
    h = Harness(tmp_path, config([slack_bot(server)]), links=[ORDERS])
    h.write(STATUS, 4, note="STALL", cluster="main", group="fraud")
    h.cycle()
    server.wait_for(1)
    assert TOKEN not in str([r.body for r in h.store.list_records(OUTBOX)])
    h.close()
