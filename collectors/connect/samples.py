"""Turn one cycle's Connect reading into samples (pure functions)."""

from __future__ import annotations

from lagwatch.collectors.connect.debezium import Target
from lagwatch.collectors.connect.lag import SourceLag
from lagwatch.collectors.connect.read import ConnectorView, first_line
from lagwatch.collectors.connect.session import short
from lagwatch.collectors.connect.sources import Link
from lagwatch.collectors.connect.state import ConnectorTrack
from lagwatch.store import Sample
from lagwatch.store.contracts import ConnectState

UP = "lagwatch_connect_up"
CONNECTORS = "lagwatch_connect_connectors"
CONNECTOR_STATE = "lagwatch_connect_connector_state"
TASK_STATE = "lagwatch_connect_task_state"
CONNECTOR_TASKS = "lagwatch_connect_connector_tasks"
TASK_RESTARTS = "lagwatch_connect_task_restarts_total"
WORKER = "lagwatch_connect_worker_id"
SOURCE_LAG_BYTES = "lagwatch_debezium_source_lag_bytes"
SOURCE_LAG_SECONDS = "lagwatch_debezium_source_lag_seconds"
SNAPSHOT_RUNNING = "lagwatch_debezium_snapshot_running"
LINKED = "lagwatch_debezium_source_linked"

CONNECTOR_SERIES = (CONNECTOR_STATE, CONNECTOR_TASKS)
TASK_SERIES = (TASK_STATE, TASK_RESTARTS, WORKER)
DEBEZIUM_SERIES = (SOURCE_LAG_BYTES, SOURCE_LAG_SECONDS, SNAPSHOT_RUNNING)

STATES = {s.name: s for s in ConnectState}


def state_value(state: str | None) -> ConnectState:
    """Return the numeric state; a state this version of lagwatch does not know is UNASSIGNED."""
    return STATES.get(str(state).upper(), ConnectState.UNASSIGNED)


def up_sample(cluster: str, up: bool, note: str | None, now: float) -> Sample:
    return Sample.of(UP, 1 if up else 0, now, note=note, cluster=cluster)


def connector_samples(
    cluster: str, view: ConnectorView, track: ConnectorTrack, now: float
) -> list[Sample]:
    """Return the connector's state, its tasks' states, counts, restarts and workers."""
    labels = {"cluster": cluster, "connector": view.name}
    state = state_value(view.state)
    note = _note(view, view.trace)
    if note is None and state == ConnectState.RUNNING:
        bad = [t for t in view.tasks if state_value(t.state) != ConnectState.RUNNING]
        if bad:
            worst = max(bad, key=lambda t: state_value(t.state))
            line = _note(view, worst.trace)
            note = short(
                f"RUNNING, but {len(bad)} of {len(view.tasks)} tasks are not: task {worst.id} "
                f"{worst.state}" + (f": {line}" if line else "")
            )
    out = [Sample.of(CONNECTOR_STATE, int(state), now, note=note, **labels)]
    counts = dict.fromkeys(ConnectState, 0)
    for task in view.tasks:
        task_state = state_value(task.state)
        counts[task_state] += 1
        tlabels = {**labels, "task": str(task.id)}
        out.append(
            Sample.of(TASK_STATE, int(task_state), now, note=_note(view, task.trace), **tlabels)
        )
        restarts = track.tasks[task.id].restarts if task.id in track.tasks else 0
        out.append(Sample.of(TASK_RESTARTS, restarts, now, **tlabels))
        if task.worker:
            out.append(Sample.of(WORKER, 1, now, worker=task.worker, **tlabels))
    for task_state, count in counts.items():
        out.append(Sample.of(CONNECTOR_TASKS, count, now, state=task_state.name, **labels))
    return out


def _note(view: ConnectorView, trace: str | None) -> str | None:
    line = first_line(trace)
    return short(view.masked(line)) if line else None


def lag_samples(
    cluster: str, connector: str, lag: SourceLag, via: str | None, now: float
) -> list[Sample]:
    labels = {"cluster": cluster, "connector": connector}
    note = lag.note if via is None else short(f"{lag.note}; {via}")
    out = [Sample.of(SOURCE_LAG_BYTES, lag.bytes, now, note=note, **labels)]
    if lag.seconds is not None:
        out.append(Sample.of(SOURCE_LAG_SECONDS, lag.seconds, now, **labels))
    return out


def snapshot_sample(cluster: str, connector: str, running: bool, now: float) -> Sample:
    return Sample.of(
        SNAPSHOT_RUNNING,
        1 if running else 0,
        now,
        note="the offset says an initial snapshot is under way" if running else None,
        cluster=cluster,
        connector=connector,
    )


def link_sample(
    cluster: str,
    connector: str,
    link: Link | str,
    target: Target,
    now: float,
    problem: str | None = None,
) -> Sample:
    """Return 1 with the source (and slot) the connector reads, or 0 with why there is none.

    ``problem`` says why the lag could not be computed although the link is known."""
    if isinstance(link, Link):
        text = f"reads source {link.source}, matched by {link.how}"
        if problem:
            text += f"; lag unknown: {problem}"
        return Sample.of(
            LINKED,
            1,
            now,
            note=short(text),
            cluster=cluster,
            connector=connector,
            source=link.source,
            slot=target.slot or "",
        )
    return Sample.of(
        LINKED, 0, now, note=short(link), cluster=cluster, connector=connector, source="", slot=""
    )
