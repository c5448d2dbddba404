"""Real HTTP servers on loopback standing in for Slack and PagerDuty: they record and answer like them.

``FakeReceiver`` answers scripted statuses (an incoming webhook's 200 ``ok``, PagerDuty's
202, 429 with Retry-After, 5xx); with ``api=SlackApi()`` it answers like Slack's Web API
(``chat.postMessage`` and ``chat.update`` with ``ok``/``ts``, threads, its errors), with
``api=PagerDutyApi()`` like the Events API v2 (it validates events and keeps incidents by
``dedup_key``). Scripted answers still come first, so a test can make either fail.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLACK_OK = (200, "ok", {})
PD_ACCEPTED = (202, '{"status":"success","message":"Event processed"}', {})


@dataclass
class Received:
    """One POST the server got, and the status it answered."""

    at: float
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    raw: bytes = b""


Answer = tuple[int, str, dict[str, str]]
JSON = {"Content-Type": "application/json; charset=utf-8"}


class SlackApi:
    """Slack's Web API for one bot token: chat.postMessage (a message, or a reply in a thread)
    and chat.update, answering HTTP 200 with ``ok`` and ``ts``, or ``ok: false`` and Slack's
    error (invalid_auth, channel_not_found, message_not_found, thread_not_found, no_text)."""

    def __init__(self, token: str = "xoxb-lagwatch-test", channels: dict[str, str] | None = None):
        self.token = token
        self.channels = channels or {"C0LAGWATCH": "oncall"}  # id → name
        self.messages: dict[str, dict[str, Any]] = {}  # ts → the message as it is now
        self._clock = 1_700_000_000.0

    def _channel(self, given: object) -> str | None:
        text = str(given or "")
        if text in self.channels:
            return text
        return next((i for i, n in self.channels.items() if f"#{n}" == text or n == text), None)

    def __call__(self, path: str, headers: dict[str, str], body: Any) -> Answer:
        def answer(**fields: Any) -> Answer:
            return 200, json.dumps(fields), JSON

        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if auth != f"Bearer {self.token}":
            return answer(ok=False, error="invalid_auth")
        if not isinstance(body, dict):
            return answer(ok=False, error="invalid_json")
        method = path.rstrip("/").rsplit("/", 1)[-1]
        channel = self._channel(body.get("channel"))
        if channel is None:
            return answer(ok=False, error="channel_not_found")
        if not body.get("text") and not body.get("blocks"):
            return answer(ok=False, error="no_text")
        if method == "chat.postMessage":
            parent = body.get("thread_ts")
            if parent is not None and parent not in self.messages:
                return answer(ok=False, error="thread_not_found")
            self._clock += 0.000100
            ts = f"{self._clock:.6f}"
            self.messages[ts] = {"channel": channel, "ts": ts, "thread_ts": parent,
                                 "text": body.get("text"), "blocks": body.get("blocks"),
                                 "edits": []}  # fmt: skip
            return answer(ok=True, channel=channel, ts=ts, message={"text": body.get("text")})
        if method == "chat.update":
            found = self.messages.get(str(body.get("ts")))
            if found is None or found["channel"] != channel:
                return answer(ok=False, error="message_not_found")
            found["edits"].append({"text": found["text"], "blocks": found["blocks"]})
            found["text"], found["blocks"] = body.get("text"), body.get("blocks")
            return answer(ok=True, channel=channel, ts=found["ts"], text=found["text"])
        return answer(ok=False, error="unknown_method")

    def heads(self) -> list[dict[str, Any]]:
        """Return the messages posted to the channel itself (not in a thread)."""
        return [m for m in self.messages.values() if m["thread_ts"] is None]

    def replies(self, ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["thread_ts"] == ts]


PD_SEVERITIES = {"critical", "error", "warning", "info"}


class PagerDutyApi:
    """PagerDuty's Events API v2: validates each event as PagerDuty does (400 "invalid event"
    with its errors) and keeps incidents by ``dedup_key``: a trigger opens one or adds to the
    open one, a resolve closes it."""

    def __init__(self, routing_key: str | None = None) -> None:
        self.routing_key = routing_key
        self.incidents: dict[str, dict[str, Any]] = {}  # dedup_key → the newest incident
        self.opened = 0

    def __call__(self, path: str, headers: dict[str, str], body: Any) -> Answer:
        errors = self.problems(body)
        if errors:
            text = {"status": "invalid event", "message": "Event object is invalid",
                    "errors": errors}  # fmt: skip
            return 400, json.dumps(text), JSON
        key = body.get("dedup_key")
        action = body["event_action"]
        if action == "trigger":
            key = key or f"pd-{len(self.incidents)}"
            found = self.incidents.get(key)
            if found is None or found["status"] == "resolved":
                self.opened += 1
                found = self.incidents[key] = {"status": "triggered", "triggers": [],
                                               "resolves": 0}  # fmt: skip
            found["triggers"].append(body["payload"])
        elif key in self.incidents and self.incidents[key]["status"] != "resolved":
            self.incidents[key]["status"] = "resolved" if action == "resolve" else "acknowledged"
            self.incidents[key]["resolves"] += action == "resolve"
        text = {"status": "success", "message": "Event processed", "dedup_key": key}
        return 202, json.dumps(text), JSON

    def problems(self, body: Any) -> list[str]:
        if not isinstance(body, dict):
            return ["Event must be a JSON object"]
        errors = []
        if not body.get("routing_key") or (
            self.routing_key is not None and body["routing_key"] != self.routing_key
        ):
            errors.append("'routing_key' is invalid")
        action = body.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' must be trigger, acknowledge or resolve")
        key = body.get("dedup_key")
        if key is not None and (not isinstance(key, str) or len(key) > 255):
            errors.append("'dedup_key' must be a string of at most 255 characters")
        if action in ("acknowledge", "resolve") and not key:
            errors.append("'dedup_key' is required for acknowledge and resolve")
        if action == "trigger":
            payload = body.get("payload")
            if not isinstance(payload, dict):
                return [*errors, "'payload' is missing"]
            if not payload.get("summary") or len(payload["summary"]) > 1024:
                errors.append("'payload.summary' must be 1 to 1024 characters")
            if not payload.get("source"):
                errors.append("'payload.source' is missing")
            if payload.get("severity") not in PD_SEVERITIES:
                errors.append("'payload.severity' must be critical, error, warning or info")
        return errors


@dataclass
class FakeReceiver:
    """Answers POSTs from ``script`` (status, body, headers) in order, then from ``api`` if
    given, else with ``default``."""

    default: tuple[int, str, dict[str, str]] = SLACK_OK
    port: int = 0
    script: deque[tuple[int, str, dict[str, str]]] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    hang: threading.Event | None = None
    api: Callable[[str, dict[str, str], Any], Answer] | None = None

    def __post_init__(self) -> None:
        owner = self
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                with owner._lock:
                    if owner.script:
                        status, text, headers = owner.script.popleft()
                    elif owner.api is not None:
                        status, text, headers = owner.api(self.path, dict(self.headers), body)
                    else:
                        status, text, headers = owner.default
                    owner.received.append(
                        Received(time.time(), self.path, dict(self.headers), body, status, raw)
                    )
                    owner._arrived.notify_all()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                data = text.encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer(self, *answers: tuple[int, str, dict[str, str]]) -> None:
        """Queue the next answers."""
        with self._lock:
            self.script.extend(answers)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Return the received requests once there are ``count`` (fail after ``timeout``)."""
        deadline = time.time() + timeout
        with self._arrived:
            while len(self.received) < count:
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} requests within {timeout}s, got {len(self.received)}"
                    )
                self._arrived.wait(left)
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
