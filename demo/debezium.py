"""The demo's CDC as users run it: a Debezium PostgreSQL connector on the devstack's Kafka Connect.

One connector per demo run, with names of its own (connector, slot, topic prefix): the
Connect worker is shared, and a connector's offsets outlive ``DELETE /connectors/{c}``, so
a name is never reused. It captures the orders table and the probe table through the demo's
publication and routes both to the demo topic (``RegexRouter``), so the topic carries the
orders and the probe rows as the relay's does.

The second incident is made here: :meth:`DebeziumConnector.break_it` drops the publication
under the running task. Debezium's next read of a change fails with ``publication "…" does
not exist`` and the task goes FAILED (the connector itself keeps saying RUNNING).
:meth:`DebeziumConnector.restore` then does what recovers it (devstack/README.md, "Dropped
publication"): re-create the publication, stop the connector, drop its slot (a new slot
refuses the old offset), ``DELETE /connectors/{c}/offsets``, resume; the task creates a new
slot and streams from there (what was written meanwhile is not captured: ``no_data``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from lagwatch.collectors.connect.session import mask_text

REQUEST_TIMEOUT = 30.0
CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector"


class ConnectProblem(RuntimeError):
    """Kafka Connect refused or failed a step; the message says which and why."""


def connector_config(
    debezium_dsn: str, slot: str, publication: str, server: str, tables: list[str], topic: str
) -> dict[str, str]:
    """Return the connector's config: pgoutput on ``publication``, no snapshot, every
    captured table's events routed to ``topic``."""
    params = conninfo_to_dict(debezium_dsn)
    return {
        "connector.class": CONNECTOR_CLASS,
        "tasks.max": "1",
        "database.hostname": str(params.get("host") or "127.0.0.1"),
        "database.port": str(params.get("port") or "5432"),
        "database.user": str(params["user"]),
        "database.password": str(params.get("password") or ""),
        "database.dbname": str(params["dbname"]),
        "topic.prefix": server,
        "plugin.name": "pgoutput",
        "slot.name": slot,
        "publication.name": publication,
        "publication.autocreate.mode": "disabled",
        "table.include.list": ",".join(tables),
        "snapshot.mode": "no_data",
        "transforms": "route",
        "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.route.regex": ".*",
        "transforms.route.replacement": topic,
        # A failed task stays FAILED (as in the field) instead of Connect retrying it.
        "errors.retry.timeout": "0",
    }


class DebeziumConnector:
    """One Debezium connector on a Connect worker, and the slot it makes on PostgreSQL."""

    def __init__(
        self, url: str, name: str, config: dict[str, str], admin_dsn: str,
        say: Callable[[str], None] = lambda _t: None,
    ) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.name = name
        self.config = config
        self.admin_dsn = admin_dsn
        self.say = say
        self.created = False
        self._http = httpx.Client(timeout=REQUEST_TIMEOUT)

    @property
    def slot(self) -> str | None:
        return self.config.get("slot.name")

    # -- REST ------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = ()) -> Any:
        try:
            answer = self._http.request(method, self.url + path, json=body)
        except httpx.HTTPError as exc:
            raise ConnectProblem(
                f"Kafka Connect at {self.url} did not answer {method} {path} ({exc}); "
                "is the devstack's connect service up (`devstack/up connect`)?"
            ) from None
        if answer.status_code >= 400 and answer.status_code not in ok:
            raise ConnectProblem(
                f"Kafka Connect refused {method} {path}: HTTP {answer.status_code} "
                f"{_message(answer)}"
            )
        return answer.json() if answer.content else None

    def _path(self, tail: str = "") -> str:
        return f"/connectors/{quote(self.name, safe='')}{tail}"

    def status(self) -> tuple[str | None, list[str], str]:
        """Return the connector's state, its tasks' states and the first failed task's first
        trace line ("" when none); (None, [], "") when the worker does not know it."""
        body = self._call("GET", self._path("/status"), ok=(404,))
        if not body or "connector" not in body:
            return None, [], ""
        tasks = body.get("tasks") or []
        trace = next((t.get("trace") or "" for t in tasks if t.get("state") == "FAILED"), "")
        first = trace.strip().splitlines()[0] if trace.strip() else ""
        return body["connector"]["state"], [t["state"] for t in tasks], first

    def create(self) -> None:
        self._call("POST", "/connectors", {"name": self.name, "config": self.config})
        self.created = True

    def wait(
        self, ready: Callable[[str | None, list[str]], bool], what: str, timeout: float = 60.0,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:  # fmt: skip
        """Wait until ``ready(connector state, task states)``; TimeoutError naming ``what``."""
        deadline = time.monotonic() + timeout
        seen: tuple[object, ...] = ()
        while not stop():
            state, tasks, trace = self.status()
            if ready(state, tasks):
                return
            seen = (state, tasks, trace)
            if time.monotonic() > deadline:
                raise TimeoutError(f"connector {self.name} not {what} after {timeout:g}s: {seen}")
            time.sleep(0.5)

    def wait_streaming(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Wait until the connector and its task run and its slot is active (it streams)."""

        def running(state: str | None, tasks: list[str]) -> bool:
            if "FAILED" in tasks:
                raise ConnectProblem(f"connector {self.name}'s task FAILED: {self.status()[2]}")
            return state == "RUNNING" and tasks == ["RUNNING"]

        self.wait(running, "RUNNING", stop=stop)
        deadline = time.monotonic() + 60.0
        while not stop() and self._slot_active() is not True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"slot {self.slot} of connector {self.name} not active")
            time.sleep(0.3)

    # -- the incident and the repair ---------------------------------------------

    def break_it(self, publication: str) -> None:
        """Drop the publication under the running task (the next change fails it)."""
        with psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(publication))
            )

    def restore(self, recreate: Callable[[], None], stop: Callable[[], bool]) -> None:
        """Publication back, stop, drop the slot, delete the offsets, resume; wait until it
        streams again."""
        recreate()
        self._stop_and_clear(stop)
        self._call("PUT", self._path("/resume"))
        self.wait_streaming(stop)

    def _stop_and_clear(self, stop: Callable[[], bool] = lambda: False) -> None:
        self._call("PUT", self._path("/stop"))
        self.wait(lambda state, _t: state == "STOPPED", "STOPPED", stop=stop)
        self._drop_slot()
        # Only accepted once STOPPED (HTTP 400 before); the worker may need a moment.
        deadline = time.monotonic() + 30.0
        while True:
            try:
                self._call("DELETE", self._path("/offsets"))
                return
            except ConnectProblem:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def forget(self) -> None:
        """Remove a connector this process did not create (one an earlier run left)."""
        self.created = True
        self.remove()

    def remove(self) -> None:
        """Remove the connector completely: stop, offsets, connector, slot (on every exit)."""
        try:
            if self.created and self.status()[0] is not None:
                self._stop_and_clear()
                self._call("DELETE", self._path(), ok=(404,))
        finally:
            self._drop_slot()
            self._http.close()

    # -- the slot --------------------------------------------------------------

    def _slot_active(self) -> bool | None:
        if not self.slot:
            return None
        with psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (self.slot,)
            ).fetchone()
        return None if row is None else bool(row[0])

    def _drop_slot(self) -> None:
        """Drop the slot once no task holds it (it goes inactive within about a second)."""
        if not self.slot:
            return
        deadline = time.monotonic() + 30.0
        while self._slot_active() and time.monotonic() < deadline:
            time.sleep(0.3)
        with psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = %s AND NOT active",
                (self.slot,),
            )


def remove_leftovers(url: str, prefix: str, admin_dsn: str) -> list[str]:
    """Remove the connectors (and slots) of earlier runs of this demo that did not stop
    (killed): those named ``prefix`` + a run's 6 hex digits; return their names."""
    name = re.compile(re.escape(prefix) + "[0-9a-f]{6}")
    try:
        listed = httpx.get(
            url.rstrip("/") + "/connectors", params={"expand": "info"}, timeout=REQUEST_TIMEOUT
        )
        listed.raise_for_status()
    except httpx.HTTPError as exc:
        raise ConnectProblem(
            f"Kafka Connect at {url} did not list its connectors ({exc}); is the devstack's "
            "connect service up (`devstack/up connect`)?"
        ) from None
    gone = []
    for found, body in sorted(listed.json().items()):
        if name.fullmatch(found):
            config = (body.get("info") or {}).get("config") or {}
            DebeziumConnector(url, found, dict(config), admin_dsn).forget()
            gone.append(found)
    return gone


def _message(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return mask_text(answer.text[:300])
    text = body.get("message", body) if isinstance(body, dict) else body
    return mask_text(str(text)[:300])
