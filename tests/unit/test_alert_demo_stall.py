"""The demo's stall is one incident: one notification naming group:fraud-scorer, updated as the
other alerts join, and one resolve — on every kind of receiver.

Given the demo's own config (its rules, its pacing, its pipeline) and the stall recorded in
sample_data/alerts/demo_stall.json, when the real engine and dispatcher replay it cycle by
cycle over a real SQLite store, telling a log receiver, Slack as a bot (loopback Web API),
Slack by incoming webhook and PagerDuty (loopback Events API), then ProbeLost,
PipelineHopStale, KafkaGroupStalled and PipelineSLOBurn — which used to page separately —
make one incident rooted at group:fraud-scorer; each receiver hears of it as one
message/incident, updated as alerts join, resolved once when the group recovers, and not
again when the lagging ProbeLost and burn-rate alerts clear later.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest

from lagwatch.alerts.notifiers.base import Digest, Notification
from lagwatch.alerts.topology import linked_connectors, links_from
from lagwatch.config import load
from lagwatch.demo.config import DemoNames, DemoPorts, write_configs
from tests.support import seed
from tests.support.alerting import T0, Harness
from tests.support.receivers import SLACK_OK, FakeReceiver, PagerDutyApi, SlackApi

ENV = {
    "LAGWATCH_PG_MONITOR_DSN": "postgresql://mon:mon-pass@127.0.0.1:5432/db",
    "LAGWATCH_MYSQL_MONITOR_DSN": "mysql://mon:my-pass@127.0.0.1:3306/db",
    "LAGWATCH_PG_PROBE_DSN": "postgresql://probe:probe-pass@127.0.0.1:5432/db",
    "LAGWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
    "LAGWATCH_CONNECT_URL": "http://127.0.0.1:8083",
}
TOKEN = "xoxb-lagwatch-test"
STALL = seed.load_stall()
END = T0 + STALL["seconds"]
STALLED, RECOVERED = END + STALL["stall"]["from"], END + STALL["stall"]["to"]
FOUR = {"ProbeLost", "PipelineHopStale", "KafkaGroupStalled", "PipelineSLOBurn"}


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The stall replayed through the engine and dispatcher, and what each receiver got."""
    tmp = tmp_path_factory.mktemp("stall")
    demo = load(write_configs(tmp, ENV, DemoNames(run="0a1b2c"), DemoPorts(8600, 0))[0])
    slack_api, pd_api = SlackApi(TOKEN), PagerDutyApi("R0UT1NGKEY")
    with FakeReceiver(api=slack_api) as bot, FakeReceiver(SLACK_OK) as hook, \
            FakeReceiver(api=pd_api) as pd:  # fmt: skip
        alerts = demo.alerts.model_dump(by_alias=True, exclude_unset=True)
        alerts["receivers"] = [
            {"name": "demo-log", "log": {}},
            {"name": "bot", "slack": {"token": TOKEN, "channel": "#oncall",
                                      "api_url": bot.url.removesuffix("/hook") + "/api"}},
            {"name": "hook", "slack": {"webhook_url": hook.url}},
            {"name": "oncall", "pagerduty": {"routing_key": "R0UT1NGKEY", "url": pd.url}},
        ]  # fmt: skip
        links = links_from(
            demo.pipelines,
            [k.name for k in demo.kafka],
            demo.sources,
            linked_connectors(demo.connect),
        )
        h = Harness(tmp, alerts, links=links)
        h.engine.started = T0
        samples = seed.stall_samples(STALL, END)
        for ts, batch in groupby(samples, key=lambda s: s.ts):
            h.store.write(list(batch))
            h.cycle(ts)
        for _ in range(3):  # anything the rate limits held back
            h.skip(5)
            h.cycle()
        yield {"h": h, "slack_api": slack_api, "bot": bot, "hook": hook, "pd_api": pd_api,
               "pd": pd, "log": told(h)}  # fmt: skip
        h.close()


def told(h: Harness) -> list[Notification]:
    out: list[Notification] = []
    for item in h.log("demo-log").sent:
        out.extend(item.parts if isinstance(item, Digest) else [item])
    return out


def test_the_four_alerts_fire_and_make_one_incident_at_the_groups_hop(
    replayed: dict[str, Any],
) -> None:
    log: list[Notification] = replayed["log"]
    names = {a.name for n in log for a in n.alerts}
    assert names >= FOUR, names
    assert {n.group_key for n in log} == {log[0].group_key}, "one incident, one group"
    first = log[0]
    assert first.incident is not None and first.reason == "new"
    assert first.incident["root"]["hop"] == "group:fraud-scorer"
    assert first.title.startswith("[FIRING] group:fraud-scorer (demo-orders): ")
    assert STALLED < first.created_at < STALLED + 30, "the first page comes within seconds"


def test_later_alerts_update_the_incident_and_its_root_is_the_verdict(
    replayed: dict[str, Any],
) -> None:
    log: list[Notification] = replayed["log"]
    updates = [n for n in log if n.reason == "changed"]
    joined = {c.split(" ")[1] for n in updates for c in n.changes if c.startswith("joined: ")}
    assert {"KafkaGroupStalled", "PipelineHopStale", "PipelineSLOBurn"} <= joined
    during = [n for n in log if n.status == "firing"]
    # The update where all four fire: the root first, then what else the incident shows.
    [full] = [n for n in during if {a.name for a in n.firing} >= FOUR][:1]
    assert full.incident is not None
    assert full.incident["root"] == {
        "fingerprint": full.incident["root"]["fingerprint"],
        "alert": "KafkaGroupStalled",
        "hop": "group:fraud-scorer",
    }
    parts = full.headline.split("; ")
    assert parts[0].startswith("fraud-scorer: STALL: committed offsets unchanged"), parts
    assert any(p.startswith("no probe through group:fraud-scorer for ") for p in parts)
    assert any(p.startswith("probe lost at group:fraud-scorer (") for p in parts)
    assert any(p.startswith("freshness budget burning ") for p in parts)
    assert parts[-1].startswith("freshness ") and parts[-1].endswith(", over its 5s SLO")
    assert len(during) <= 2 + len(FOUR), "updates are batched by group_interval, not one an alert"


def test_one_resolve_when_the_group_recovers_and_nothing_after(replayed: dict[str, Any]) -> None:
    log: list[Notification] = replayed["log"]
    [resolve] = [n for n in log if n.status == "resolved"]
    assert resolve is log[-1]
    assert RECOVERED < resolve.created_at < RECOVERED + 40
    assert [a.name for a in resolve.alerts] == ["KafkaGroupStalled"], "the root resolved last"
    assert resolve.incident is not None
    causes = {m["alert"]: m["state"] for m in resolve.incident["members"] if not m["symptom"]}
    assert causes == {"KafkaGroupStalled": "resolved", "PipelineHopStale": "resolved"}
    held = {m["alert"] for m in resolve.incident["members"] if m["state"] == "held"}
    assert "ProbeLost" in held, "ProbeLost still counts lost probes for 5 minutes"
    assert any(c.startswith("still firing, held") for c in resolve.changes)
    h: Harness = replayed["h"]
    lagging = {s.rule for s in h.engine.states.values() if s.state == "resolved"}
    assert "ProbeLost" in lagging, "it cleared later, and no one was told again"


def test_slack_bot_posts_once_then_edits_that_message_and_replies_in_its_thread(
    replayed: dict[str, Any],
) -> None:
    api: SlackApi = replayed["slack_api"]
    [head] = api.heads()
    assert head["channel"] == "C0LAGWATCH"
    assert head["text"].startswith(":white_check_mark: [RESOLVED] group:fraud-scorer (demo-orders)")
    assert head["edits"][0]["text"].startswith(":rotating_light: [FIRING] group:fraud-scorer")
    replies = api.replies(head["ts"])
    log: list[Notification] = replayed["log"]
    assert len(replies) == len(log) - 1 == len(head["edits"])
    assert any("joined: KafkaGroupStalled" in r["text"] for r in replies)
    assert replies[-1]["text"].startswith(":white_check_mark: Resolved")
    requests = replayed["bot"].received
    assert all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in requests)
    assert {r.path for r in requests} == {"/api/chat.postMessage", "/api/chat.update"}


def test_slack_webhook_gets_one_message_per_incident_update_each_with_the_whole_incident(
    replayed: dict[str, Any],
) -> None:
    messages = replayed["hook"].received
    log: list[Notification] = replayed["log"]
    assert len(messages) == len(log), "one message per update of the incident, not per alert"
    for message in messages:
        header = message.body["blocks"][0]["text"]["text"]
        assert "group:fraud-scorer (demo-orders)" in header
    assert messages[-1].body["blocks"][0]["text"]["text"].startswith("[RESOLVED]")
    text = str(messages[-2].body)
    for name in ("KafkaGroupStalled", "PipelineHopStale"):
        assert name in text


def test_pagerduty_gets_one_incident_by_one_dedup_key_triggered_then_resolved_once(
    replayed: dict[str, Any],
) -> None:
    api: PagerDutyApi = replayed["pd_api"]
    assert api.opened == 1
    [(key, incident)] = api.incidents.items()
    assert key.startswith("lagwatch/oncall/")
    assert incident["status"] == "resolved" and incident["resolves"] == 1
    events = replayed["pd"].received
    assert all(e.status == 202 for e in events)
    assert [e.body["event_action"] for e in events][-1] == "resolve"
    first = incident["triggers"][0]
    assert first["component"] == "fraud-scorer" and first["group"] == "demo-orders"
    assert first["summary"].startswith("[FIRING] group:fraud-scorer (demo-orders): ")
    assert incident["triggers"][-1]["class"] == "KafkaGroupStalled"


def test_the_incident_record_tells_the_story(replayed: dict[str, Any], tmp_path: Path) -> None:
    h: Harness = replayed["h"]
    [inc] = h.engine.incidents.all.values()
    assert (inc.state, inc.root_hop, inc.root_rule) == ("resolved", "group:fraud-scorer",
                                                        "KafkaGroupStalled")  # fmt: skip
    assert {m.rule for m in inc.members.values()} >= FOUR
    stored = h.store.get_record("alerts.incidents", inc.id)
    assert stored is not None and stored.body["root_hop"] == "group:fraud-scorer"
