"""A real HTTP server on loopback answering as Kafka Connect's REST API does for connector offsets.

``GET /connectors/{name}/offsets`` returns ``{"offsets": [{"partition": …,
"offset": …}]}`` for a known connector (Kafka ≥ 3.5, KIP-875) and 404 with
Connect's error body for an unknown one. Tests set ``connectors`` and read
``requests``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote


class ConnectStub:
    """Use as ``with ConnectStub() as connect:``; ``connect.url`` is its base URL."""

    def __init__(self) -> None:
        self.connectors: dict[str, list[dict[str, Any]]] = {}
        self.raw: dict[str, tuple[int, str]] = {}
        self.requests: list[tuple[str, str | None]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.requests.append((self.path, self.headers.get("Authorization")))
                parts = self.path.strip("/").split("/")
                name = unquote(parts[1]) if len(parts) == 3 else ""
                if name in stub.raw:
                    status, body = stub.raw[name]
                elif (
                    parts[0] == "connectors" and parts[-1] == "offsets" and name in stub.connectors
                ):
                    status, body = 200, json.dumps({"offsets": stub.connectors[name]})
                else:
                    status = 404
                    body = json.dumps({"error_code": 404, "message": f"Connector {name} not found"})
                data = body.encode()
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

    def offsets(self, connector: str, server: str, **offset: Any) -> None:
        """Make ``connector`` answer with one Debezium MySQL source offset."""
        self.connectors[connector] = [{"partition": {"server": server}, "offset": offset}]

    def __enter__(self) -> ConnectStub:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
