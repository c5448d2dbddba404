"""PagerDuty Events API v2: trigger and resolve per alert group, with a stable dedup_key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from lagwatch.alerts.notifiers.base import PD_SEVERITY, Digest, Notification, Result, where
from lagwatch.alerts.notifiers.http import WebhookNotifier, post_json

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
# Labels that name the thing at fault, most specific first, for `component`.
COMPONENT_LABELS = ("group", "slot", "table", "reader", "topic", "receiver", "collector")


class PagerDutyConfig(BaseModel):
    """`pagerduty: {routing_key: ${PD_KEY}}`: an Events API v2 integration (the key is a secret)."""

    model_config = ConfigDict(extra="forbid")

    routing_key: SecretStr
    url: str = EVENTS_URL
    min_interval: float = Field(0.5, ge=0, description="PagerDuty takes about 120 events a minute")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_payload(n: Notification, routing_key: str) -> dict[str, Any]:
    """Return the Events API v2 body: resolve when the whole group is resolved, else trigger."""
    if n.status == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": n.dedup_key}
    firing = n.firing
    first = firing[0]
    labels = {**first.labels, **n.group_labels}
    summary = n.title + ": " + first.summary
    if len(firing) == 1:
        summary += f" ({first.value_text()})"
    if n.incident is not None:
        # One PagerDuty incident per lagwatch incident: its root hop and the evidence.
        summary = f"{n.title}: {n.headline}"
        root = next((a for a in firing if a.fingerprint == _root(n)), first)
        labels = dict(root.labels)
    details: dict[str, Any] = {
        "firing": [
            {
                "alert": a.name,
                "labels": a.labels,
                "value": a.value_text(),
                "since": _iso(a.active_since),
                "description": a.annotations.get("description", ""),
                "note": a.note or "",
                "flapping": a.flapping,
            }
            for a in firing
        ],
        "resolved": [{"alert": a.name, "labels": a.labels} for a in n.resolved],
        "silence": n.silence_hint,
    }
    if n.incident is not None:
        details["incident"] = {
            "id": n.incident.get("id"),
            "root": n.incident.get("root"),
            "pipelines": n.incident.get("pipelines"),
            "headline": n.headline,
            "members": [
                {k: m.get(k) for k in ("alert", "hop", "state", "evidence", "muted")}
                for m in n.incident.get("members", [])
            ],
        }
        if n.changes:
            details["changes"] = list(n.changes)
    links: list[dict[str, str]] = []
    for a in firing:
        for key, text in (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard")):
            href = a.annotations.get(key)
            if href and all(link["href"] != href for link in links):
                links.append({"href": href, "text": f"{text}: {a.name} {where(a.labels)}"[:100]})
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": n.dedup_key,
        "client": "lagwatch",
        "payload": {
            "summary": summary[:1024],
            "source": labels.get("source")
            or labels.get("cluster")
            or labels.get("pipeline")
            or labels.get("collector")
            or "lagwatch",
            "severity": PD_SEVERITY.get(n.severity, "warning"),
            "timestamp": _iso(min(a.active_since for a in firing)),
            "component": _component(n, labels, first.name),
            "group": ", ".join((n.incident or {}).get("pipelines") or [])
            or labels.get("pipeline")
            or labels.get("source")
            or labels.get("cluster")
            or "",
            "class": ((n.incident or {}).get("root") or {}).get("alert") or first.name,
            "custom_details": details,
        },
        "links": links[:10],
    }
    if n.dashboard_url:
        body["client_url"] = n.dashboard_url
    return body


def _root(n: Notification) -> str:
    return str(((n.incident or {}).get("root") or {}).get("fingerprint") or "")


def _component(n: Notification, labels: dict[str, str], name: str) -> str:
    """Return the thing at fault: an incident's root hop, else the most specific label."""
    if n.incident is not None and n.place:
        hop = str((n.incident.get("root") or {}).get("hop") or "")
        if hop:
            return hop.split(":", 1)[-1]
    return next((labels[k] for k in COMPONENT_LABELS if labels.get(k)), name)


class PagerDutyNotifier(WebhookNotifier):
    """Sends events one at a time (202 accepted); PagerDuty's dedup_key makes a resend harmless."""

    def __init__(self, name: str, config: PagerDutyConfig, timeout: float) -> None:
        super().__init__(name, config.min_interval, timeout)
        self.config = config

    def send(self, notification: Notification | Digest) -> Result:
        if isinstance(notification, Digest):
            raise TypeError("PagerDuty takes one event per alert group, never a digest")
        key = self.config.routing_key.get_secret_value()
        return post_json(
            self._client,
            self.config.url,
            event_payload(notification, key),
            lambda r: r.status_code == 202 or 200 <= r.status_code < 300,
            hide=key,
        )


def build(name: str, config: PagerDutyConfig, timeout: float) -> PagerDutyNotifier:
    return PagerDutyNotifier(name, config, timeout)
