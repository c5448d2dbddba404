"""What one cycle reads from Kafka Connect: every connector with its status and config in one
request, then the source offsets of the connectors that need them, several at a time.

Requests:
- ``GET /connectors?expand=status&expand=info``: one call for all connectors — connector and
  task ``state``, ``worker_id``, ``trace`` on FAILED, type and config. The config holds
  ``database.password`` in clear text: it is masked here, before anything else sees it, and
  its secret values are kept only to mask them out of traces.
- ``GET /connectors/{name}/offsets`` (Kafka ≥ 3.5, KIP-875; works on a stopped connector),
  for the connectors ``wanted`` picks, at most ``concurrency`` in flight and all of them within
  ``offsets_timeout``: one slow connector cannot hold up the cycle, it is reported unknown.

Failure policy: the listing failing is the worker being down (``ConnectError``, the
collector writes ``lagwatch_connect_up=0``); one connector's offsets failing makes that
connector's offsets unknown this cycle, the rest go on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from lagwatch.collectors.connect.session import (
    ConnectError,
    ConnectSession,
    connector_path,
    error_text,
    mask_config,
    mask_text,
    secret_values,
    short,
)

LIST_PARAMS = [("expand", "status"), ("expand", "info")]


@dataclass(frozen=True)
class TaskView:
    """One task as the status says."""

    id: int
    state: str
    worker: str | None
    trace: str | None


@dataclass(frozen=True)
class ConnectorView:
    """One connector: its state, its tasks and its config (secrets masked)."""

    name: str
    type: str | None
    state: str | None
    worker: str | None
    trace: str | None
    tasks: tuple[TaskView, ...]
    config: Mapping[str, str]
    secrets: tuple[str, ...] = ()
    """Its secret config values, only to mask them out of traces and errors; never shown."""

    @property
    def connector_class(self) -> str:
        return self.config.get("connector.class", "")

    def masked(self, text: str) -> str:
        return mask_text(text, self.secrets)


@dataclass
class OffsetsRead:
    """A connector's source offsets as read this cycle, or why they could not be."""

    entries: list[dict[str, Any]] | None
    error: str | None = None
    """Why ``entries`` is None."""
    via: str = "rest"
    """"rest", or "topic" when read from the offsets topic because no worker answered."""
    note: str | None = None


@dataclass
class ClusterRead:
    """Everything one cycle read from a Connect cluster."""

    taken_at: float
    connectors: dict[str, ConnectorView]
    offsets: dict[str, OffsetsRead] = field(default_factory=dict)


def first_line(trace: str | None) -> str | None:
    """Return the first non-empty line of a Java trace (never the whole trace)."""
    if not trace:
        return None
    for line in trace.splitlines():
        if line.strip():
            return line.strip()
    return None


def root_cause(trace: str | None) -> str | None:
    """Return the last ``Caused by:`` line of a trace, the error underneath the others."""
    if not trace:
        return None
    causes = [line.strip() for line in trace.splitlines() if line.startswith("Caused by:")]
    return causes[-1].removeprefix("Caused by:").strip() if causes else None


def parse_connectors(body: Any) -> dict[str, ConnectorView]:
    """Return the connectors of a ``?expand=status&expand=info`` answer; ValueError on another shape."""
    if not isinstance(body, dict):
        raise ValueError(
            'expected {"<connector>": {"status": …, "info": …}} from '
            "/connectors?expand=status&expand=info (Kafka Connect 2.3 or later)"
        )
    out: dict[str, ConnectorView] = {}
    for name, entry in body.items():
        if not isinstance(entry, dict):
            raise ValueError(f"connector {name!r}: expected an object with status and info")
        status = entry.get("status") or {}
        info = entry.get("info") or {}
        raw = info.get("config") or {}
        if not isinstance(status, dict) or not isinstance(info, dict) or not isinstance(raw, dict):
            raise ValueError(f"connector {name!r}: status, info and config must be objects")
        own = status.get("connector") or {}
        tasks = []
        for task in status.get("tasks") or []:
            try:
                tasks.append(
                    TaskView(
                        int(task["id"]),
                        str(task.get("state", "UNASSIGNED")),
                        task.get("worker_id"),
                        task.get("trace"),
                    )
                )
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"connector {name!r}: a task without a numeric id") from None
        out[str(name)] = ConnectorView(
            name=str(name),
            type=status.get("type") or info.get("type"),
            state=own.get("state"),
            worker=own.get("worker_id"),
            trace=own.get("trace"),
            tasks=tuple(sorted(tasks, key=lambda t: t.id)),
            config=mask_config(raw),
            secrets=tuple(secret_values(raw)),
        )
    return out


def list_connectors(session: ConnectSession) -> dict[str, ConnectorView]:
    """Return every connector with status and config, in one request; raise ConnectError."""
    body = session.get("/connectors", LIST_PARAMS)
    try:
        return parse_connectors(body)
    except ValueError as exc:
        raise ConnectError(
            f"Kafka Connect {session.config.name} sent connectors in an unknown shape: {exc}"
        ) from None


def parse_offsets(body: Any) -> list[dict[str, Any]]:
    """Return the entries of a ``GET /connectors/{c}/offsets`` answer; ValueError on another shape."""
    entries = body.get("offsets") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError('expected {"offsets": [{"partition": {...}, "offset": {...}}]}')
    return entries


class OffsetReader:
    """Reads several connectors' offsets at once, bounded in concurrency and total time."""

    def __init__(self, session: ConnectSession, concurrency: int, budget: float) -> None:
        self.session = session
        self.budget = budget
        self._pool = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix=f"connect-{session.config.name}"
        )

    def read(self, connectors: Iterable[ConnectorView]) -> dict[str, OffsetsRead]:
        views = list(connectors)
        if not views:
            return {}
        futures: dict[Future[list[dict[str, Any]]], ConnectorView] = {
            self._pool.submit(self._one, view): view for view in views
        }
        done, pending = wait(futures, timeout=self.budget)
        out: dict[str, OffsetsRead] = {}
        for future in pending:
            future.cancel()
            view = futures[future]
            out[view.name] = OffsetsRead(
                None, f"offsets not read within offsets_timeout ({self.budget:g}s)"
            )
        for future in done:
            view = futures[future]
            try:
                out[view.name] = OffsetsRead(future.result())
            except (ConnectError, ValueError) as exc:
                out[view.name] = OffsetsRead(None, short(view.masked(str(exc))))
            except Exception as exc:  # one connector must not take the others down
                out[view.name] = OffsetsRead(None, short(view.masked(error_text(exc))))
        return out

    def _one(self, view: ConnectorView) -> list[dict[str, Any]]:
        body = self.session.get(connector_path(view.name, "/offsets"))
        try:
            return parse_offsets(body)
        except ValueError as exc:
            raise ValueError(f"offsets of {view.name!r} in an unknown shape: {exc}") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
