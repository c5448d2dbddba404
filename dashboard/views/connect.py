"""Connect: Kafka Connect clusters, their connectors and tasks, and how far each Debezium reader is.

One row per connector: its state and its tasks' (a FAILED task under a RUNNING
connector shows red), the failure's first line, the workers, the source it is
tied to and its lag in bytes and seconds, the reader's health with the evidence
that decided it, and the restarts lagwatch saw. ``?connector=NAME`` opens one
connector: its tasks, and on demand its lag and restart history over the range.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from lagwatch.dashboard import charts, data, fmt, model, ui
from lagwatch.store import LatestValue
from lagwatch.store.contracts import ConnectState, ReaderHealth, names

STATES = names(ConnectState)
HEALTHS = names(ReaderHealth)
EXAMPLE = """
connect:
  - name: cdc
    url: http://127.0.0.1:8083
    interval: 10s
"""


def state_health(value: float | None) -> str:
    if value is None:
        return model.UNKNOWN
    if value == ConnectState.FAILED:
        return model.CRIT
    return model.OK if value == ConnectState.RUNNING else model.WARN


def reader_health(value: float | None) -> str:
    if value is None:
        return model.UNKNOWN
    return {int(ReaderHealth.OK): model.OK, int(ReaderHealth.SNAPSHOT): model.OK}.get(
        int(value), model.CRIT
    )


def _value(found: Mapping[tuple[str, ...], LatestValue], key: tuple[str, ...]) -> float | None:
    return found[key].value if key in found else None


def _note(found: Mapping[tuple[str, ...], LatestValue], key: tuple[str, ...]) -> str:
    return (found[key].note or "") if key in found else ""


def unlisted(
    seen: Mapping[tuple[str, ...], float], up: Mapping[tuple[str, ...], LatestValue]
) -> dict[tuple[str, ...], float]:
    """Return the connectors (with when they were last seen) that their cluster's worker,
    answering now, has not listed for longer than ``model.STALE_AFTER``: deleted, renamed or
    outside the entry's ``connectors:`` filter. While a worker does not answer its connectors
    stay listed, their values stale."""
    gone = {}
    for key, ts in seen.items():
        worker = up.get((key[0],))
        if worker is not None and worker.value == 1 and worker.ts - ts > model.STALE_AFTER:
            gone[key] = ts
    return gone


def connector_rows(
    cluster: str | None, up: Mapping[tuple[str, ...], LatestValue]
) -> tuple[list[dict[str, str]], dict[tuple[str, ...], float]]:
    """Return a row per connector the cluster lists, and the ones it no longer lists."""
    where = {"cluster": cluster} if cluster else {}
    keys = ("cluster", "connector")
    states = data.latest_by("lagwatch_connect_connector_state", *keys, **where)
    lag_bytes = data.latest_by("lagwatch_debezium_source_lag_bytes", *keys, **where)
    lag_seconds = data.latest_by("lagwatch_debezium_source_lag_seconds", *keys, **where)
    snapshot = data.latest_by("lagwatch_debezium_snapshot_running", *keys, **where)
    health = data.latest_by("lagwatch_debezium_reader_health", *keys, **where)
    tasks = data.latest("lagwatch_connect_task_state", **where)
    restarts = data.latest("lagwatch_connect_task_restarts_total", **where)
    workers = data.latest("lagwatch_connect_worker_id", **where)
    linked = data.latest("lagwatch_debezium_source_linked", **where)
    seen: dict[tuple[str, ...], float] = {}
    for found in (states, lag_bytes):
        for key, value in found.items():
            seen[key] = max(seen.get(key, 0.0), value.ts)
    gone = unlisted(seen, up)
    rows = []
    for key in sorted(set(seen) - set(gone)):
        mine = [t for t in tasks if (t.label_dict["cluster"], t.label_dict["connector"]) == key]
        task_states = [STATES.get(int(t.value), "?") for t in mine]
        worst = max([_value(states, key) or 0.0, *(t.value for t in mine)])
        failed = next((t.note for t in mine if t.value == ConnectState.FAILED and t.note), None)
        link = next(
            (v.label_dict for v in linked
             if (v.label_dict["cluster"], v.label_dict["connector"]) == key and v.value == 1),
            None,
        )  # fmt: skip
        rows.append(
            {
                "state": STATES.get(int(_value(states, key) or 0), "?")
                if key in states
                else fmt.NONE,
                "cluster": key[0],
                "connector": key[1],
                "tasks": ", ".join(task_states) or fmt.NONE,
                "failure": failed or _note(states, key),
                "workers": ", ".join(
                    sorted(
                        {
                            w.label_dict["worker"]
                            for w in workers
                            if (w.label_dict["cluster"], w.label_dict["connector"]) == key
                        }
                    )
                )
                or fmt.NONE,  # fmt: skip
                "source": f"{link['source']}"
                + (f" · slot {link['slot']}" if link.get("slot") else "")
                if link
                else fmt.NONE,
                "lag": fmt.size(_value(lag_bytes, key)),
                "lag (time)": fmt.duration(_value(lag_seconds, key)),
                "snapshot": "running" if _value(snapshot, key) == 1 else "",
                "reader": HEALTHS.get(int(_value(health, key) or 0), "?")
                if key in health
                else fmt.NONE,
                "evidence": _note(health, key),
                "restarts": fmt.count(
                    sum(
                        r.value
                        for r in restarts
                        if (r.label_dict["cluster"], r.label_dict["connector"]) == key
                    )
                ),  # fmt: skip
                ui.HEALTH: model.worst(
                    [state_health(worst), reader_health(_value(health, key))]
                    if key in health
                    else [state_health(worst)]
                ),
            }
        )
    rows.sort(key=lambda r: (-model.RANK[str(r[ui.HEALTH])], str(r["connector"])))
    return rows, gone


def drill_down(cluster: str, connector: str, window: data.Window) -> None:
    st.subheader(connector)
    labels = {"cluster": cluster, "connector": connector}
    tasks = data.latest_by("lagwatch_connect_task_state", "task", **labels)
    restarts = data.latest_by("lagwatch_connect_task_restarts_total", "task", **labels)
    workers = data.latest_by("lagwatch_connect_worker_id", "task", **labels)
    if not tasks:
        ui.empty(f"Connector {connector} has no tasks on {cluster} right now.")
    ui.table(
        [
            {
                "state": STATES.get(int(v.value), "?"),
                "task": key[0],
                "worker": workers[key].label_dict.get("worker") if key in workers else fmt.NONE,
                "restarts": fmt.count(_value(restarts, key)),
                "failure": v.note or "",
                ui.HEALTH: state_health(v.value),
            }
            for key, v in sorted(tasks.items())
        ],
        status="state",
    )

    def history() -> None:
        ui.chart_grid(
            [
                (
                    "lag",
                    charts.timeseries(
                        data.series("lagwatch_debezium_source_lag_bytes", window, labels),
                        "Source lag",
                        "bytes",
                        lambda s: connector,
                    ),
                ),  # fmt: skip
                (
                    "restarts",
                    charts.timeseries(
                        data.series("lagwatch_connect_task_restarts_total", window, labels),
                        "Restarts seen",
                        "",
                        lambda s: f"task {s.label_dict.get('task')}",
                    ),
                ),  # fmt: skip
            ]
        )

    ui.chart_section("Charts: lag and restarts over the range", "_connect_charts", history)


def body() -> None:
    ui.freshness_banner()
    window = ui.window()
    up = data.latest_by("lagwatch_connect_up", "cluster")
    configured = list(getattr(data.config(), "connect", []))
    if not up:
        if configured:
            ui.empty(
                "Kafka Connect is configured but nothing is recorded yet: is `lagwatch run` running?"
            )
        else:
            ui.not_configured("Kafka Connect cluster", "connect:", EXAMPLE)
        return
    clusters = sorted(k[0] for k in up)
    cluster = ui.choice("Cluster", clusters, "cluster") if len(clusters) > 1 else clusters[0]
    for key, v in sorted(up.items()):
        if v.value == 0:
            st.error(f"Kafka Connect **{key[0]}** cannot be read: {v.note or 'no answer'}")
    rows, gone = connector_rows(cluster, up)
    top = st.columns(4)
    top[0].metric("Connectors", len(rows))
    top[1].metric("Not RUNNING", sum(1 for r in rows if r["state"] != "RUNNING"))
    top[2].metric("Tasks FAILED", sum(str(r["tasks"]).count("FAILED") for r in rows))
    top[3].metric(
        "Readers not OK", sum(1 for r in rows if r["reader"] not in ("OK", fmt.NONE, "SNAPSHOT"))
    )
    if gone:
        st.caption(
            f"No longer listed by {cluster} (deleted, renamed or outside `connectors:`), "
            "last seen: "
            + ", ".join(f"{key[1]} {fmt.ago(ts, data.now())}" for key, ts in sorted(gone.items()))
        )
    if not rows:
        ui.empty(f"Kafka Connect {cluster} runs no connector.")
        return
    ui.table(
        rows, status="state", column_config={"failure": st.column_config.TextColumn(width="large")}
    )
    names_ = [str(r["connector"]) for r in rows]
    picked = ui.choice("Connector", names_, "connector")
    if picked is not None:
        drill_down(str(cluster), picked, window)


st.title("Connect")
ui.live(body)
