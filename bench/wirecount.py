"""A loopback TCP proxy that counts the queries clients send, for PostgreSQL and MySQL wire protocols.

Counting on the wire treats every client alike — lagwatch's collectors and
the Prometheus exporters — without touching their code or the shared
servers' settings. Point a client at ``proxy.port`` instead of the server.

PostgreSQL (sslmode=disable): after the untyped startup messages every
frontend message is a type byte and a length. A statement run is a simple
``Q`` query or an extended-protocol ``E`` execute; a round trip ends with
``Q`` or ``S`` (sync).

MySQL (no TLS): every client packet after the handshake that starts a
command has sequence id 0; its first byte is the command (``COM_QUERY`` 3,
``COM_STMT_EXECUTE`` 0x17, …). Each command is one round trip; a COM_QUERY
may carry several statements, which only the server's own counters see.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections import Counter

PG_UNTYPED_REQUESTS = {80877103, 80877104}  # SSLRequest, GSSENCRequest
MYSQL_COMMANDS = {0x03: "query", 0x16: "prepare", 0x17: "execute", 0x0E: "ping", 0x01: "quit"}


class WireCounter:
    """Proxy 127.0.0.1:port → upstream, counting client messages by kind."""

    def __init__(self, protocol: str, upstream: tuple[str, int]) -> None:
        assert protocol in ("postgres", "mysql")
        self.protocol = protocol
        self.upstream = upstream
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._stopping = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)

    def queries(self, since: Counter[str]) -> int:
        """Return statements run since ``since`` (PostgreSQL) or commands sent (MySQL)."""
        now = self.snapshot()
        keys = ("Q", "E") if self.protocol == "postgres" else ("query", "execute")
        return sum(now[k] - since[k] for k in keys)

    def round_trips(self, since: Counter[str]) -> int:
        """Return request/response exchanges since ``since``."""
        now = self.snapshot()
        if self.protocol == "postgres":
            keys: tuple[str, ...] = ("Q", "S")
        else:
            keys = tuple(k for k in MYSQL_COMMANDS.values() if k != "quit")
        return sum(now[k] - since[k] for k in keys)

    # -- plumbing --------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump_client, args=(client, server), daemon=True).start()
            threading.Thread(target=_pump, args=(server, client), daemon=True).start()

    def _pump_client(self, client: socket.socket, server: socket.socket) -> None:
        parse = self._pg_messages if self.protocol == "postgres" else self._mysql_packets
        buffer = bytearray()
        state = {"startup": True}
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                buffer += data
                parse(buffer, state)
                server.sendall(data)
        except OSError:
            pass
        finally:
            _close(client, server)

    def _count(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] += 1

    def _pg_messages(self, buffer: bytearray, state: dict[str, bool]) -> None:
        while True:
            if state["startup"]:
                if len(buffer) < 8:
                    return
                length, code = struct.unpack("!ii", buffer[:8])
                if len(buffer) < length:
                    return
                del buffer[:length]
                if code not in PG_UNTYPED_REQUESTS:
                    state["startup"] = False
                continue
            if len(buffer) < 5:
                return
            length = struct.unpack("!i", buffer[1:5])[0]
            if len(buffer) < 1 + length:
                return
            self._count(chr(buffer[0]))
            del buffer[: 1 + length]

    def _mysql_packets(self, buffer: bytearray, state: dict[str, bool]) -> None:
        while len(buffer) >= 4:
            length = buffer[0] | buffer[1] << 8 | buffer[2] << 16
            if len(buffer) < 4 + length:
                return
            sequence, first = buffer[3], buffer[4] if length else None
            if sequence == 0 and first is not None:
                self._count(MYSQL_COMMANDS.get(first, f"command-{first:#x}"))
            del buffer[: 4 + length]

    def __enter__(self) -> WireCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping = True
        self._listener.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        _close(source, target)


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.close()
