"""Slack incoming webhook: Block Kit (what, where, value vs threshold, since, links, silence hint) + text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from lagwatch.alerts.notifiers.base import AlertView, Digest, Notification, Result, where
from lagwatch.alerts.notifiers.http import WebhookNotifier, post_json

# Slack refuses messages past 50 blocks and headers past 150 characters.
MAX_BLOCKS = 50
ALERTS_PER_MESSAGE = 8
PARTS_PER_DIGEST = 15
EMOJI = {"firing": ":rotating_light:", "resolved": ":white_check_mark:", "flapping": ":warning:"}


class SlackConfig(BaseModel):
    """`slack: {webhook_url: ${SLACK_URL}}`: an incoming webhook (the URL is a secret)."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: SecretStr
    min_interval: float = Field(1.0, ge=0, description="Slack allows about one message a second")


def _when(ts: float | None) -> str:
    if ts is None:
        return "—"
    iso = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"<!date^{int(ts)}^{{date_short_pretty}} {{time_secs}}|{iso}>"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _cut(text, 2000)}


def _links(alert: AlertView) -> list[str]:
    out = []
    if alert.annotations.get("runbook_url"):
        out.append(f"<{alert.annotations['runbook_url']}|Runbook>")
    if alert.annotations.get("dashboard_url"):
        out.append(f"<{alert.annotations['dashboard_url']}|Dashboard>")
    return out


def _since(alert: AlertView) -> str:
    if alert.state == "resolved":
        return f"fired {_when(alert.fired_at)}\nresolved {_when(alert.resolved_at)}"
    return _when(alert.active_since)


def alert_blocks(alert: AlertView) -> list[dict[str, Any]]:
    """Return the section (and link context) telling one alert."""
    state = "flapping" if alert.flapping and alert.state == "firing" else alert.state
    text = f"{EMOJI[state]} *{alert.summary}*"
    if alert.annotations.get("description"):
        text += f"\n{alert.annotations['description']}"
    if alert.flapping:
        text += "\n_Flapping: held firing until it settles; no further messages until then._"
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _cut(text, 3000)},
            "fields": [
                _mrkdwn(f"*Where*\n`{where(alert.labels) or alert.name}`"),
                _mrkdwn(f"*Value*\n{alert.value_text()}"),
                _mrkdwn(f"*Since*\n{_since(alert)}"),
                _mrkdwn(f"*Severity*\n{alert.severity}"),
            ],
        }
    ]
    links = _links(alert)
    if links:
        blocks.append({"type": "context", "elements": [_mrkdwn(" · ".join(links))]})
    return blocks


def text_fallback(n: Notification) -> str:
    """Return the plain-text line shown in notifications and clients without blocks."""
    first = (n.firing or list(n.alerts))[0]
    return _cut(f"{n.title}: {first.summary} — {first.value_text()}", 3000)


def notification_payload(n: Notification) -> dict[str, Any]:
    """Return the webhook body for one group notification."""
    state = "resolved" if n.status == "resolved" else "firing"
    if state == "firing" and any(a.flapping for a in n.firing):
        state = "flapping"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(n.title, 150)}}
    ]
    ordered = n.firing + n.resolved
    for alert in ordered[:ALERTS_PER_MESSAGE]:
        blocks.extend(alert_blocks(alert))
    if len(ordered) > ALERTS_PER_MESSAGE:
        more = len(ordered) - ALERTS_PER_MESSAGE
        blocks.append({"type": "context", "elements": [_mrkdwn(f"…and {more} more in this group")]})
    if n.status == "firing" and n.silence_hint:
        blocks.append({"type": "context", "elements": [_mrkdwn(f"To silence: `{n.silence_hint}`")]})
    return {"text": f"{EMOJI[state]} {text_fallback(n)}", "blocks": blocks[:MAX_BLOCKS]}


def digest_payload(d: Digest) -> dict[str, Any]:
    """Return one webhook body that carries a backlog of group notifications."""
    parts = d.parts
    title = f"lagwatch: {len(parts)} alert updates held back by the rate limit"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title, 150)}}
    ]
    lines = []
    for n in parts[:PARTS_PER_DIGEST]:
        first = (n.firing or list(n.alerts))[0]
        text = f"*{n.title}*\n{first.summary} — {first.value_text()}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}})
        lines.append(text_fallback(n))
        links = _links(first)
        if links:
            blocks.append({"type": "context", "elements": [_mrkdwn(" · ".join(links))]})
    if len(parts) > PARTS_PER_DIGEST:
        more = len(parts) - PARTS_PER_DIGEST
        blocks.append({"type": "context", "elements": [_mrkdwn(f"…and {more} more updates")]})
    return {"text": _cut(title + "\n" + "\n".join(lines), 3000), "blocks": blocks[:MAX_BLOCKS]}


class SlackNotifier(WebhookNotifier):
    """Posts to one incoming webhook; success is 200 with body ``ok``."""

    merges = True

    def __init__(self, name: str, config: SlackConfig, timeout: float) -> None:
        super().__init__(name, config.min_interval, timeout)
        self.config = config

    def send(self, notification: Notification | Digest) -> Result:
        if isinstance(notification, Digest):
            payload = digest_payload(notification)
        else:
            payload = notification_payload(notification)
        url = self.config.webhook_url.get_secret_value()
        return post_json(self._client, url, payload, lambda r: r.text.strip() == "ok", hide=url)


def build(name: str, config: SlackConfig, timeout: float) -> SlackNotifier:
    return SlackNotifier(name, config, timeout)
