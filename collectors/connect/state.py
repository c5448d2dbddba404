"""What the Connect collector remembers between cycles, kept as store records so a restarted
daemon (or a `collect --once` from cron) goes on counting where it stopped.

Namespace ``connect.state``, one record per connector, key ``<cluster>/<connector>``:

```json
{"v": 1, "ts": 1796195617.2, "state": "RUNNING", "class": "io.debezium…PostgresConnector",
 "type": "source", "trace": "first line", "cause": "root cause line",
 "config": {"database.password": "***", …},
 "tasks": {"0": {"state": "RUNNING", "restarts": 1, "failed": false, "worker": "10.0.0.5:8083",
                 "since": 1796195600.0, "trace": null, "cause": null}}}
```

A task's restart counts once each time it is seen RESTARTING or RUNNING after it was seen
FAILED (states in between, such as UNASSIGNED or a stop and resume, do not matter). A
task that is gone from the status (connector stopped) keeps its entry, so a failure
followed by stop and resume still counts. The record holds the connector config with every
password/secret/key value masked, and never a whole trace.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lagwatch.collectors.connect.read import ConnectorView, first_line, root_cause
from lagwatch.collectors.connect.session import short
from lagwatch.store import Record, Store, StoreUnavailable
from lagwatch.store.contracts import Namespace

log = logging.getLogger("lagwatch.connect")

NAMESPACE = Namespace.CONNECT_STATE
FORMAT = 1
KEEP = 30 * 86400.0
"""Records of connectors not seen for this long are deleted."""
BACK_UP = ("RESTARTING", "RUNNING")


def key(cluster: str, connector: str) -> str:
    return f"{cluster}/{connector}"


@dataclass
class TaskTrack:
    state: str | None = None
    restarts: int = 0
    failed: bool = False
    """Seen FAILED and not yet back up."""
    worker: str | None = None
    since: float | None = None
    trace: str | None = None
    cause: str | None = None

    def observe(self, state: str, now: float) -> None:
        if state != self.state:
            self.since = now
        if state == "FAILED":
            self.failed = True
        elif state in BACK_UP and self.failed:
            self.failed = False
            self.restarts += 1
        self.state = state


@dataclass
class ConnectorTrack:
    tasks: dict[int, TaskTrack] = field(default_factory=dict)
    view: ConnectorView | None = None
    """The connector as last listed (this process only)."""
    body: dict[str, Any] | None = None
    """Its record as restored (class, config), for when the REST API is down."""


class ConnectState:
    """Per-connector tracks of one cluster, restored once from the store."""

    def __init__(self, cluster: str, store: Store | None) -> None:
        self.cluster = cluster
        self.store = store
        self.connectors: dict[str, ConnectorTrack] = {}
        self._restored = store is None

    def restore(self) -> None:
        """Fill the tracks from the store, once; never raises."""
        if self._restored:
            return
        self._restored = True
        assert self.store is not None
        try:
            records = self.store.list_records(NAMESPACE)
        except StoreUnavailable as exc:
            log.warning(
                "connect %s: cannot read saved state, counting afresh: %s", self.cluster, exc
            )
            return
        prefix = key(self.cluster, "")
        for record in records:
            if not record.key.startswith(prefix):
                continue
            try:
                self.connectors[record.key[len(prefix) :]] = _track(record.body)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warning(
                    "connect %s: ignoring saved state %r (%s)", self.cluster, record.key, exc
                )

    def observe(self, view: ConnectorView, now: float) -> ConnectorTrack:
        track = self.connectors.setdefault(view.name, ConnectorTrack())
        track.view = view
        for task in view.tasks:
            t = track.tasks.setdefault(task.id, TaskTrack())
            t.observe(task.state, now)
            t.worker = task.worker
            t.trace = short(view.masked(first_line(task.trace) or "")) or None
            t.cause = short(view.masked(root_cause(task.trace) or "")) or None
        return track

    def records(self, now: float) -> Iterable[Record]:
        out = []
        for name, track in self.connectors.items():
            view = track.view
            if view is None:
                continue  # restored but not listed this process: leave its record alone
            body = {
                "v": FORMAT,
                "ts": now,
                "state": view.state,
                "class": view.connector_class,
                "type": view.type,
                "trace": short(view.masked(first_line(view.trace) or "")) or None,
                "cause": short(view.masked(root_cause(view.trace) or "")) or None,
                "config": dict(view.config),
                "tasks": {
                    str(i): {
                        "state": t.state,
                        "restarts": t.restarts,
                        "failed": t.failed,
                        "worker": t.worker,
                        "since": t.since,
                        "trace": t.trace,
                        "cause": t.cause,
                    }
                    for i, t in sorted(track.tasks.items())
                },
            }
            out.append(Record(NAMESPACE, key(self.cluster, name), now, body))
        return out

    def forget(self, present: set[str]) -> None:
        """Drop the tracks of connectors the listing no longer has (their records age out)."""
        for name in [n for n in self.connectors if n not in present]:
            del self.connectors[name]


def _track(body: dict[str, Any]) -> ConnectorTrack:
    if body.get("v") != FORMAT:
        raise ValueError(f"format {body.get('v')!r}, expected {FORMAT}")
    track = ConnectorTrack(body=body)
    for task_id, saved in (body.get("tasks") or {}).items():
        track.tasks[int(task_id)] = TaskTrack(
            state=saved.get("state"),
            restarts=int(saved.get("restarts") or 0),
            failed=bool(saved.get("failed")),
            worker=saved.get("worker"),
            since=float(saved["since"]) if saved.get("since") is not None else None,
            trace=saved.get("trace"),
            cause=saved.get("cause"),
        )
    return track
