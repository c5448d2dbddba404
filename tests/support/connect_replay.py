"""Recorded Kafka Connect answers, served by a real HTTP server on loopback for unit tests.

A recording (``sample_data/connect/*.json``, made by ``sample_data/connect/record.py`` on the
devstack's real worker) holds the body of ``GET /connectors?expand=status&expand=info`` and of
each connector's ``GET /connectors/{c}/offsets``. ``ConnectReplay`` answers exactly those
(404 with Connect's error body for any other connector) and counts the requests it got.
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data" / "connect"


def recording(name: str = "connect-4.3.1") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return data


class ConnectReplay:
    """Use as ``with ConnectReplay(recording()) as connect:``; ``connect.url`` is its base URL."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.listing: dict[str, Any] = copy.deepcopy(data["listing"])
        self.offsets: dict[str, Any] = copy.deepcopy(data["offsets"])
        self.requests: list[tuple[str, str | None]] = []
        self.auth: list[str | None] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                replay.requests.append((url.path, url.query or None))
                replay.auth.append(self.headers.get("Authorization"))
                parts = [unquote(p) for p in url.path.strip("/").split("/")]
                status, body = 404, {"error_code": 404, "message": "HTTP 404 Not Found"}
                if parts == ["connectors"] and parse_qs(url.query).get("expand"):
                    status, body = 200, replay.listing
                elif len(parts) == 3 and parts[0] == "connectors" and parts[2] == "offsets":
                    if parts[1] in replay.offsets:
                        status, body = 200, replay.offsets[parts[1]]
                    else:
                        body = {"error_code": 404, "message": f"Connector {parts[1]} not found"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def task(self, connector: str, task: int) -> dict[str, Any]:
        """Return one task's status entry of the listing, to change it between cycles."""
        tasks: list[dict[str, Any]] = self.listing[connector]["status"]["tasks"]
        return next(t for t in tasks if t["id"] == task)

    def __enter__(self) -> ConnectReplay:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
