"""Real HTTP servers on loopback standing in for Slack and PagerDuty: they record and answer like them."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
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


@dataclass
class FakeReceiver:
    """Answers POSTs from ``script`` (status, body, headers) in order, then with ``default``."""

    default: tuple[int, str, dict[str, str]] = SLACK_OK
    port: int = 0
    script: deque[tuple[int, str, dict[str, str]]] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    hang: threading.Event | None = None

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
                    status, text, headers = (
                        owner.script.popleft() if owner.script else owner.default
                    )
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
