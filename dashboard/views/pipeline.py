"""Pipeline: freshness against its SLO, hop-by-hop probe latency, losses and the latest traces."""

from __future__ import annotations

import streamlit as st

from lagwatch.dashboard import charts, data, examples, fmt, model, summary, ui
from lagwatch.dashboard.records import Trace
from lagwatch.store import LatestValue, Series

QUANTILES = ["p50", "p95", "p99"]
TRACES = 20


def _hop_series(pipeline: str, window: data.Window, quantile: str) -> list[Series]:
    found = data.series(summary.PROBE_LATENCY, window, {"pipeline": pipeline})
    return [s for s in found if model.quantile_name(s.label_dict.get("quantile", "")) == quantile]


def _loss_per_bucket(series: list[Series]) -> list[Series]:
    """Return each lost-probe counter as the number lost per point interval."""
    out = []
    for s in series:
        points = [
            (ts, max(after - before, 0.0) if after >= before else after)
            for (_, before), (ts, after) in zip(s.points, s.points[1:], strict=False)
        ]
        out.append(Series(s.name, s.labels, points))
    return out


def headline(state: summary.PipelineState, window: data.Window) -> None:
    info = state.info
    cols = st.columns([1.2, 1, 1, 1, 1])
    with cols[0]:
        st.badge(
            state.label.upper(),
            color=model.COLOUR[state.health],  # type: ignore[arg-type]
        )
        if state.behind is not None:
            st.markdown(f"Behind: **{state.behind.hop}** — {state.behind.reason}")
        elif state.freshness is None:
            st.caption("No freshness measured yet.")
    slo = info.slo_seconds
    cols[1].metric(
        "Freshness now",
        fmt.duration(state.freshness),
        help="Commit in the source to processed by the slowest consumer group.",
    )
    cols[2].metric("SLO", fmt.duration(slo) if slo else "not set", help="pipelines[].slo.freshness")
    points = data.series(summary.FRESHNESS, window, {"pipeline": info.name}, agg="max")
    report = model.slo_report(points[0].points, slo, info.objective) if slo and points else None
    if report is None:
        cols[3].metric("Within SLO", fmt.NONE)
        cols[4].metric("Budget burn", fmt.NONE)
    else:
        cols[3].metric(
            "Within SLO",
            f"{report.good_fraction * 100:.2f}%",
            help=f"Share of the selected range with freshness ≤ {fmt.duration(slo)}.",
        )
        burn = fmt.NONE if report.burn_rate is None else f"{report.burn_rate:.1f}×"
        cols[4].metric(
            "Budget burn",
            burn,
            help=f"Error budget spent per unit of time against the {info.objective}% objective; "
            "1× spends it exactly over the SLO period, 14.4× pages.",
        )
    lost = sum(state.lost.values())
    if lost:
        hops = ", ".join(f"{hop} ({n:,.0f})" for hop, n in state.lost.items() if n > 0)
        st.error(
            f"{lost:,.0f} probes lost in the selected range at: {hops}",
            icon=":material/trending_down:",
        )
    for alert in summary.firing(state.alerts):
        st.error(
            f"**{alert.rule}** firing for {fmt.duration(data.now() - alert.since)}: "
            f"{alert.annotations.get('summary') or alert.value_text()}",
            icon=":material/notifications_active:",
        )


def trace_table(traces: list[Trace]) -> None:
    rows: list[dict[str, object]] = []
    for t in traces:
        row: dict[str, object] = {"commit": fmt.clock(t.start), "status": t.status}
        for span in t.spans:
            row[span.hop] = "lost" if span.end is None else fmt.duration(span.end - t.start)
        row[ui.HEALTH] = model.OK if t.status == "ok" else model.CRIT
        rows.append(row)
    ui.table(rows, status="status")


def traces_section(pipeline: str) -> None:
    st.subheader("Latest probes")
    traces = data.traces(pipeline, TRACES)
    if not traces:
        ui.empty(
            "No probe traces recorded for this pipeline. Add it under `probes:` to time every hop."
        )
        return
    labels = {t.trace_id: f"{fmt.clock(t.start)} · {t.status}" for t in traces}
    picked = st.selectbox(
        "Trace",
        list(labels),
        format_func=lambda k: labels[k],
        key="_trace_pick",
        help="Each probe is one trace: a span per hop, from the commit to when that hop saw it.",
    )
    chosen = next(t for t in traces if t.trace_id == picked)
    st.plotly_chart(charts.waterfall(chosen), key="waterfall")
    st.caption(f"trace id `{chosen.trace_id}`")
    trace_table(traces)


def groups_section(state: summary.PipelineState) -> None:
    groups = summary.pipeline_groups(state.info, state.latency)
    if not groups:
        return
    st.subheader("Consumer groups")
    status = data.latest_by("lagwatch_kafka_group_status", "group")
    lag = data.latest_by("lagwatch_kafka_group_max_lag_seconds", "group")
    messages = data.latest_by("lagwatch_kafka_group_lag_messages", "group")
    rows = []
    for group in sorted(groups):
        verdict = status.get((group,))
        value = verdict.value if verdict else None
        rows.append(
            {
                "group": group,
                "verdict": model.status_name(model.KAFKA_STATUS, value),
                "lag": fmt.duration(lag[(group,)].value) if (group,) in lag else fmt.NONE,
                "messages": fmt.count(messages[(group,)].value)
                if (group,) in messages
                else fmt.NONE,
                "why": (verdict.note if verdict else None) or "",
                ui.HEALTH: model.kafka_health(value),
            }
        )
    ui.table(rows, status="verdict")
    for group in sorted(groups):
        st.page_link(
            "views/kafka.py", label=f"{group} on the Kafka page →", query_params={"group": group}
        )


CONNECT_STATES = ["RUNNING", "PAUSED", "STOPPED", "UNASSIGNED", "RESTARTING", "FAILED"]
READER_HEALTHS = ["OK", "SNAPSHOT", "PAUSED", "NOT_CONNECTED", "NOT_ADVANCING", "FAILED"]


def _named(names: list[str], value: float | None) -> str:
    if value is None:
        return fmt.NONE
    return names[int(value)] if 0 <= int(value) < len(names) else str(int(value))


def connector_section(info: data.PipelineInfo) -> None:
    """The connector hop: the Debezium connector reading the source, its lag and verdict."""
    if not info.connector or not info.connect:
        return
    st.subheader(f"Connector {info.connector}")
    labels = {"cluster": info.connect, "connector": info.connector}

    def one(name: str) -> LatestValue | None:
        found = data.latest(name, **labels)
        return found[0] if found else None

    state = one("lagwatch_connect_connector_state")
    health = one("lagwatch_debezium_reader_health")
    size = one("lagwatch_debezium_source_lag_bytes")
    seconds = one("lagwatch_debezium_source_lag_seconds")
    cols = st.columns(4)
    cols[0].metric("Connect state", _named(CONNECT_STATES, state.value if state else None))
    cols[1].metric("Reader", _named(READER_HEALTHS, health.value if health else None))
    cols[2].metric("Behind", fmt.size(size.value) if size else fmt.NONE)
    waiting = size is not None and size.value > 0
    cols[3].metric(
        "Source lag",
        fmt.duration(seconds.value if waiting and seconds else 0.0) if size else fmt.NONE,
        help="now − the offset's source time while bytes wait (an upper bound: Debezium "
        "commits its offset every offset.flush.interval.ms)",
    )
    if health is not None and health.value >= 3:
        st.error(f"Reader {_named(READER_HEALTHS, health.value)}: {health.note or ''}")
    elif state is not None and state.note:
        st.warning(state.note)
    if size is None and state is None:
        ui.empty(f"Nothing recorded for connector {info.connector} on {info.connect} yet.")
    st.page_link(
        "views/connect.py",
        label=f"{info.connector} on the Connect page →",
        query_params={"cluster": info.connect, "connector": info.connector},
    )


def body() -> None:
    ui.freshness_banner()
    window = ui.window()
    known = data.pipelines()
    if not known:
        ui.not_configured("pipeline", "pipelines:", examples.PIPELINES)
        return
    names = [p.name for p in known]
    wanted = ui.param("pipeline")
    if wanted and wanted not in names:
        st.warning(f"No pipeline named `{wanted}`; showing {names[0]}. Known: {', '.join(names)}.")
    name = ui.choice("Pipeline", names, "pipeline")
    info = next(p for p in known if p.name == name)
    state = summary.pipeline_state(info, window, data.alerts(), data.incidents())
    st.header(info.name)
    if info.source or info.topic:
        path = [info.source or "?"]
        if info.connector:
            path.append(f"connector {info.connector} ({info.connect})")
        path += [info.topic or "?", ", ".join(info.groups) or "?"]
        st.caption(" → ".join(path))
    headline(state, window)
    connector_section(info)

    slo = [(info.slo_seconds, f"SLO {fmt.duration(info.slo_seconds)}")] if info.slo_seconds else []
    fresh = data.series(summary.FRESHNESS, window, {"pipeline": info.name})
    if fresh:
        st.plotly_chart(
            charts.timeseries(fresh, "Freshness", "seconds", lambda s: "freshness", slo),
            key="freshness",
        )
    quantile = st.segmented_control("Latency quantile", QUANTILES, default="p95", key="_quantile")
    hops = _hop_series(info.name, window, quantile or "p95")
    if hops:
        st.plotly_chart(
            charts.timeseries(
                hops,
                f"Commit → hop latency ({quantile})",
                "seconds",
                lambda s: s.label_dict.get("hop", "?"),
                slo,
            ),
            key="hops",
        )
    else:
        ui.empty("No probe latency recorded for this pipeline yet.")
    lost = _loss_per_bucket(
        data.series(summary.PROBE_LOST, window, {"pipeline": info.name}, agg="max")
    )
    if any(v for s in lost for _, v in s.points):
        st.plotly_chart(
            charts.timeseries(
                lost, "Probes lost", "", lambda s: s.label_dict.get("hop", "?"), step=True
            ),
            key="lost",
        )
    traces_section(info.name)
    groups_section(state)


st.title("Pipeline")
ui.live(body)
