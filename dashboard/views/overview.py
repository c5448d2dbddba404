"""Overview: is anything wrong, and where — one tile per pipeline, alerts, worst groups, failures."""

from __future__ import annotations

import streamlit as st

from lagwatch.alerts.state import AlertState
from lagwatch.dashboard import charts, data, examples, fmt, model, summary, ui

TILES_PER_ROW = 3
WORST_GROUPS = 10
FIRING_SHOWN = 10
SEVERITY_ORDER = {"page": 0, "critical": 0, "ticket": 1, "warning": 2, "info": 3}


def tile(state: summary.PipelineState, window: data.Window) -> None:
    info = state.info
    with st.container(border=True):
        head, badge = st.columns([3, 2])
        head.markdown(f"**{info.name}**")
        badge.badge(state.label.upper(), color=model.COLOUR[state.health])  # type: ignore[arg-type]
        spark = data.series(summary.FRESHNESS, window, {"pipeline": info.name}, max_points=120)
        slo = f"SLO {fmt.duration(info.slo_seconds)}" if info.slo_seconds else "no SLO set"
        st.metric(
            f"Freshness · {slo}",
            fmt.duration(state.freshness),
            help="Commit in the source to processed by the slowest consumer group.",
        )
        if spark:
            # Markdown, not st.html: st.html's sanitizer drops inline SVG.
            st.markdown(charts.sparkline([v for _, v in spark[0].points]), unsafe_allow_html=True)
        if state.stale:
            st.caption(
                f":material/pause_circle: last measured {fmt.ago(state.freshness_ts, data.now())}"
            )
        if state.behind is not None:
            st.markdown(f"Behind: **{state.behind.hop}** — {state.behind.reason}")
        elif state.health == model.OK:
            st.caption("All hops within SLO")
        firing = summary.firing(state.alerts)
        if firing:
            st.caption(
                ":material/notifications_active: " + ", ".join(sorted({a.rule for a in firing}))
            )
        st.page_link(
            "views/pipeline.py", label="Open pipeline →", query_params={"pipeline": info.name}
        )


def alerts_table(firing: list[AlertState], muted: int) -> None:
    st.subheader(f"Firing alerts ({len(firing)})")
    if muted:
        st.caption(f"{muted} more firing but silenced or inhibited.")
    if not firing:
        ui.empty("No alert is firing.")
    else:
        at = data.now()
        worst = sorted(
            firing, key=lambda a: (SEVERITY_ORDER.get(a.labels.get("severity", ""), 9), -a.since)
        )
        rows = [
            {
                "severity": a.labels.get("severity") or fmt.NONE,
                "alert": a.rule,
                "summary": a.annotations.get("summary") or a.value_text(),
                "for": fmt.duration(at - a.since),
                ui.HEALTH: model.CRIT
                if a.labels.get("severity") in ("page", "critical")
                else model.WARN,
            }
            for a in worst[:FIRING_SHOWN]
        ]
        ui.small_table(rows, status="severity")
        if len(firing) > FIRING_SHOWN:
            st.caption(f"and {len(firing) - FIRING_SHOWN} more")
    st.page_link("views/alerts.py", label="All alerts and silences →")


def worst_groups() -> None:
    st.subheader("Consumer groups most behind")
    lag = data.latest("lagwatch_kafka_group_max_lag_seconds")
    if not lag:
        ui.empty("No consumer-group lag recorded yet.")
        return
    status = data.latest_by("lagwatch_kafka_group_status", "cluster", "group")
    messages = data.latest_by("lagwatch_kafka_group_lag_messages", "cluster", "group")
    rows = []
    for value in sorted(lag, key=lambda v: -v.value)[:WORST_GROUPS]:
        key = (value.label_dict.get("cluster", ""), value.label_dict.get("group", ""))
        verdict = status.get(key)
        count = messages.get(key)
        name = model.status_name(model.KAFKA_STATUS, verdict.value if verdict else None)
        health = model.kafka_health(verdict.value if verdict else None)
        rows.append(
            {
                "verdict": name,
                "group": key[1],
                "cluster": key[0],
                "lag": fmt.duration(value.value),
                "messages": count.value if count else None,
                ui.HEALTH: health,
            }
        )
    ui.small_table(rows, status="verdict")
    st.page_link("views/kafka.py", label="Kafka groups →")


def failing(down: list[summary.DownCollector]) -> None:
    st.subheader(f"Collectors failing ({len(down)})")
    if not down:
        ui.empty("Every collector's last run succeeded.")
        return
    at = data.now()
    rows = [
        {
            "collector": d.collector,
            "down for": fmt.duration(at - d.since) if d.since else "over a day",
            "since": fmt.clock(d.since) if d.since else "—",
            "error": d.error,
        }
        for d in down
    ]
    ui.small_table(rows)


def body() -> None:
    ui.freshness_banner()
    window = ui.window()
    alerts = data.alerts()
    firing = summary.firing(alerts)
    incidents = data.incidents()
    states = [summary.pipeline_state(p, window, alerts, incidents) for p in data.pipelines()]
    counts = {h: sum(1 for s in states if s.health == h) for h in model.COLOUR}
    down = summary.failing_collectors()
    groups_bad = sum(
        1 for v in data.latest("lagwatch_kafka_group_status") if model.kafka_health(v.value) != "ok"
    )
    top = st.columns(4)
    top[0].metric("Pipelines fresh", f"{counts[model.OK]} / {len(states)}")
    top[1].metric("Alerts firing", len(firing))
    top[2].metric("Groups not OK", groups_bad)
    top[3].metric("Collectors failing", len(down))

    st.subheader("Pipelines")
    if not states:
        ui.not_configured("pipeline", "pipelines:", examples.PIPELINES)
    ordered = sorted(states, key=lambda s: (-model.RANK[s.health], s.info.name))
    for i in range(0, len(ordered), TILES_PER_ROW):
        for column, state in zip(
            st.columns(TILES_PER_ROW), ordered[i : i + TILES_PER_ROW], strict=False
        ):
            with column:
                tile(state, window)

    left, right = st.columns(2)
    with left:
        alerts_table(firing, len(summary.muted(alerts)))
    with right:
        worst_groups()
    failing(down)


st.title("Overview")
ui.live(body)
