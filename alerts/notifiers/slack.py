"""Slack: Block Kit (what, where, value vs threshold, since, links, silence hint) + text.

Two ways to reach Slack:

- an incoming webhook (``webhook_url``): every notification is a new message.
  A group or incident that changes is told again as one message holding its
  whole state (every alert, what changed since the last message), never one
  message per alert; a backlog held back by the rate limit goes as one digest.
- a bot token and a channel (``token``, ``channel``): the first notification of
  a group or incident is posted (``chat.postMessage``); every later one edits
  that message to the current state (``chat.update``) and replies in its
  thread with what changed, the resolve included. Slack's answer (``channel``,
  ``ts``) comes back in ``Result.thread``; the dispatcher keeps it and gives it
  back with the group's next notification.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from lagwatch.alerts.notifiers.base import AlertView, Digest, Notification, Result, where
from lagwatch.alerts.notifiers.http import RETRYABLE, WebhookNotifier, post_json, retry_after

# Slack refuses messages past 50 blocks and headers past 150 characters.
MAX_BLOCKS = 50
ALERTS_PER_MESSAGE = 8
PARTS_PER_DIGEST = 15
EMOJI = {
    "firing": ":rotating_light:",
    "resolved": ":white_check_mark:",
    "flapping": ":warning:",
    "merged": ":twisted_rightwards_arrows:",
}
API_URL = "https://slack.com/api"
# Web API errors (HTTP 200, ``ok: false``) a later attempt can fix; any other is permanent.
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
             "request_timeout"}  # fmt: skip
# chat.update errors meaning the message cannot be edited: post a new one instead.
GONE = {"message_not_found", "cant_update_message", "edit_window_closed"}


class SlackConfig(BaseModel):
    """`slack: {webhook_url: ${SLACK_URL}}` (an incoming webhook), or `slack: {token:
    ${SLACK_BOT_TOKEN}, channel: C0123}` (a bot: messages are updated and threaded)."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: SecretStr | None = None
    token: SecretStr | None = Field(None, description="a bot token (xoxb-…) with chat:write")
    channel: str | None = Field(None, description="the channel id (or #name) the bot posts to")
    api_url: str = Field(API_URL, description="Slack's Web API")
    min_interval: float = Field(1.0, ge=0, description="Slack allows about one message a second")

    @model_validator(mode="after")
    def _one_way(self) -> SlackConfig:
        bot = self.token is not None or self.channel is not None
        if (self.webhook_url is None) == (not bot):
            raise ValueError(
                "slack: give webhook_url (an incoming webhook), or token and channel (a bot), "
                "not both"
            )
        if bot and (self.token is None or not self.channel):
            raise ValueError("slack: a bot needs both token and channel")
        return self


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


def _state(n: Notification) -> str:
    if n.status == "resolved":
        return "merged" if n.incident and n.incident.get("merged_into") else "resolved"
    return "flapping" if any(a.flapping for a in n.firing) else "firing"


def text_fallback(n: Notification) -> str:
    """Return the plain-text line shown in notifications and clients without blocks."""
    if n.incident is not None:
        return _cut(f"{n.title}: {n.headline}", 3000)
    first = (n.firing or list(n.alerts))[0]
    return _cut(f"{n.title}: {first.summary} — {first.value_text()}", 3000)


def _held_line(n: Notification) -> str:
    held = n.held
    if not held:
        return ""
    names = ", ".join(f"{m['alert']} ({m['hop']})" for m in held)
    if n.incident and n.incident.get("merged_into"):
        return f"Now told with the incident it merged into: {names}"
    return (
        f"Still firing, held with this resolved incident (they trail the recovery and "
        f"are not told again): {names}"
    )


def notification_payload(n: Notification) -> dict[str, Any]:
    """Return the message body for one group (or incident) notification."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(n.title, 150)}}
    ]
    if n.incident is not None:
        text = f"{EMOJI[_state(n)]} *{n.place}* — {n.headline}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}})
    ordered = n.firing + n.resolved
    for alert in ordered[:ALERTS_PER_MESSAGE]:
        blocks.extend(alert_blocks(alert))
    if len(ordered) > ALERTS_PER_MESSAGE:
        more = len(ordered) - ALERTS_PER_MESSAGE
        blocks.append({"type": "context", "elements": [_mrkdwn(f"…and {more} more in this group")]})
    if n.changes:
        text = "*Since the last message:* " + "; ".join(n.changes)
        blocks.append({"type": "context", "elements": [_mrkdwn(text)]})
    if _held_line(n):
        blocks.append({"type": "context", "elements": [_mrkdwn(_held_line(n))]})
    if n.status == "firing" and n.silence_hint:
        blocks.append({"type": "context", "elements": [_mrkdwn(f"To silence: `{n.silence_hint}`")]})
    return {"text": f"{EMOJI[_state(n)]} {text_fallback(n)}", "blocks": blocks[:MAX_BLOCKS]}


def reply_text(n: Notification) -> str:
    """Return the thread reply telling what changed since the message was last edited."""
    head = {"resolved": "Resolved", "merged": "Merged", "flapping": "Flapping"}.get(_state(n), "")
    parts = [head] if head else []
    parts += list(n.changes) or ([] if head else ["Updated"])
    if n.status == "firing" and n.incident is not None:
        parts.append(f"now: {n.headline}")
    if _held_line(n):
        parts.append(_held_line(n))
    return _cut(f"{EMOJI[_state(n)]} " + "; ".join(parts), 3000)


def digest_payload(d: Digest) -> dict[str, Any]:
    """Return one webhook body that carries a backlog of group notifications."""
    parts = d.parts
    title = f"lagwatch: {len(parts)} alert updates held back by the rate limit"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title, 150)}}
    ]
    lines = []
    for n in parts[:PARTS_PER_DIGEST]:
        shown = n.firing or list(n.alerts)
        if n.incident is not None or not shown:
            text = f"*{n.title}*\n{n.headline}"
        else:
            text = f"*{n.title}*\n{shown[0].summary} — {shown[0].value_text()}"
        if n.changes:
            text += "\n_" + "; ".join(n.changes) + "_"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}})
        lines.append(text_fallback(n) if shown or n.incident else n.title)
        links = _links(shown[0]) if shown else []
        if links:
            blocks.append({"type": "context", "elements": [_mrkdwn(" · ".join(links))]})
    if len(parts) > PARTS_PER_DIGEST:
        more = len(parts) - PARTS_PER_DIGEST
        blocks.append({"type": "context", "elements": [_mrkdwn(f"…and {more} more updates")]})
    return {"text": _cut(title + "\n" + "\n".join(lines), 3000), "blocks": blocks[:MAX_BLOCKS]}


class SlackNotifier(WebhookNotifier):
    """Posts to one incoming webhook (200 ``ok``), or through the Web API as a bot."""

    def __init__(self, name: str, config: SlackConfig, timeout: float) -> None:
        super().__init__(name, config.min_interval, timeout)
        self.config = config
        self.bot = config.token is not None
        # A webhook can only add messages, so a backlog is merged into one; a bot keeps one
        # message per group (and its thread), so each group is sent on its own.
        self.merges = not self.bot
        self.threads = self.bot

    def send(self, notification: Notification | Digest) -> Result:
        if self.bot:
            if isinstance(notification, Digest):
                raise TypeError("a Slack bot keeps one message per group, never a digest")
            return self._send_as_bot(notification)
        if isinstance(notification, Digest):
            payload = digest_payload(notification)
        else:
            payload = notification_payload(notification)
        assert self.config.webhook_url is not None
        url = self.config.webhook_url.get_secret_value()
        return post_json(self._client, url, payload, lambda r: r.text.strip() == "ok", hide=url)

    # -- the Web API -------------------------------------------------------------

    def _send_as_bot(self, n: Notification) -> Result:
        assert self.config.channel is not None
        body = notification_payload(n)
        thread = n.thread
        if thread and thread.get("ts") and thread.get("channel"):
            update = {"channel": thread["channel"], "ts": thread["ts"], **body}
            answer, result = self._call("chat.update", update)
            if result is not None and answer.get("error") not in GONE:
                return result
            if result is None:
                reply = {
                    "channel": thread["channel"],
                    "thread_ts": thread["ts"],
                    "text": reply_text(n),
                }
                answer, result = self._call("chat.postMessage", reply)
                return result or Result(True, 200, "updated and replied", thread=thread)
            # The message is gone (deleted, too old to edit): tell the whole state anew.
        answer, result = self._call("chat.postMessage", {"channel": self.config.channel, **body})
        if result is not None:
            return result
        where_ = {"channel": str(answer.get("channel") or self.config.channel),
                  "ts": str(answer.get("ts") or "")}  # fmt: skip
        return Result(True, 200, f"posted {where_['ts']}", thread=where_)

    def _call(self, method: str, payload: dict[str, Any]) -> tuple[dict[str, Any], Result | None]:
        """Call a Web API method; return its answer and, unless it went well, the failure."""
        assert self.config.token is not None
        token = self.config.token.get_secret_value()

        def clean(text: str) -> str:
            return text.replace(token, "***").strip().replace("\n", " ")[:300]

        url = f"{self.config.api_url.rstrip('/')}/{method}"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            response = self._client.post(url, json=payload, headers=headers)
        except httpx.TimeoutException as exc:
            return {}, Result(False, None, clean(f"{method} timed out: {type(exc).__name__}"))
        except httpx.TransportError as exc:
            return {}, Result(
                False, None, clean(f"{method}: cannot connect: {exc or type(exc).__name__}")
            )
        status = response.status_code
        wait = retry_after(response.headers.get("Retry-After"))
        if status in RETRYABLE or status >= 500:
            return {}, Result(False, status, clean(f"{method}: {status} {response.text}"), wait)
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not (200 <= status < 300) or not isinstance(answer, dict):
            detail = clean(f"{method}: {status} {response.text}")
            return {}, Result(False, status, detail, permanent=True)
        if answer.get("ok") is True:
            return answer, None
        error = str(answer.get("error") or "no error given")
        detail = clean(f"{method}: {error}")
        if error in GONE:
            return answer, Result(False, status, detail, permanent=True)
        return answer, Result(False, status, detail, wait, permanent=error not in TRANSIENT)


def build(name: str, config: SlackConfig, timeout: float) -> SlackNotifier:
    return SlackNotifier(name, config, timeout)
