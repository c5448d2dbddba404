"""Kafka: every consumer group's verdict and lag, with a drill-down to its partitions."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lagwatch.dashboard import charts as plots
from lagwatch.dashboard import data, examples, fmt, model, ui
from lagwatch.store import LatestValue, Series

GROUP = "lagwatch_kafka_group_"
PARTITION = "lagwatch_kafka_partition_"
TOP_GROUPS = 8


@dataclass(frozen=True)
class GroupRow:
    cluster: str
    group: str
    status: float | None
    explanation: str
    state: str
    members: float | None
    lag_messages: float | None
    lag_seconds: float | None

    @property
    def health(self) -> str:
        return model.kafka_health(self.status)


def _value(found: dict[tuple[str, ...], LatestValue], key: tuple[str, ...]) -> float | None:
    hit = found.get(key)
    return hit.value if hit is not None else None


def group_rows(cluster: str | None) -> list[GroupRow]:
    """Return every group seen in the store, worst first."""
    match = {"cluster": cluster} if cluster else {}
    keys = ("cluster", "group")
    status = data.latest_by(GROUP + "status", *keys, **match)
    messages = data.latest_by(GROUP + "lag_messages", *keys, **match)
    seconds = data.latest_by(GROUP + "max_lag_seconds", *keys, **match)
    members = data.latest_by(GROUP + "members", *keys, **match)
    states = data.latest_by(GROUP + "state", *keys, **match)
    rows = []
    for key in set(status) | set(messages) | set(seconds):
        c, g = key[0], key[1]
        verdict, state = status.get(key), states.get(key)
        rows.append(
            GroupRow(
                c,
                g,
                verdict.value if verdict else None,
                (verdict.note if verdict else None) or "",
                (state.note if state and state.note else None)
                or model.status_name(model.GROUP_STATE, state.value if state else None),
                _value(members, (c, g)),
                _value(messages, (c, g)),
                _value(seconds, (c, g)),
            )
        )
    return sorted(rows, key=lambda r: (-model.RANK[r.health], -(r.lag_seconds or 0), r.group))


def groups_table(rows: list[GroupRow], lag: dict[tuple[str, ...], list[float]]) -> None:
    ui.table(
        [
            {
                "verdict": model.status_name(model.KAFKA_STATUS, r.status),
                "group": r.group,
                "cluster": r.cluster,
                "state": r.state,
                "members": fmt.count(r.members),
                "lag (messages)": r.lag_messages,
                "lag (time)": fmt.duration(r.lag_seconds),
                "lag over the range": lag.get((r.group,), []),
                "why": r.explanation,
                ui.HEALTH: r.health,
            }
            for r in rows
        ],
        status="verdict",
        column_config={
            "lag (messages)": st.column_config.NumberColumn(format="localized"),
            "lag over the range": ui.trend_column(
                "lag over the range", "lag in time, max per point"
            ),
            "why": st.column_config.TextColumn(width="large"),
        },
    )


def _partition_label(s: Series) -> str:
    return f"{s.label_dict.get('topic')}[{s.label_dict.get('partition')}]"


def problems_only(cluster: str) -> bool:
    """Return whether ``cluster`` writes partition series only for its partitions not OK."""
    return any(
        c.name == cluster and c.partition_series == "problems" for c in data.kafka_clusters()
    )


def partitions(row: GroupRow, window: data.Window) -> list[tuple[str, ...]]:
    """Show the group's partitions; return their (topic, partition), the worst first."""
    ids = {"cluster": row.cluster, "group": row.group}
    keys = ("topic", "partition")
    lag = data.latest_by(PARTITION + "lag_messages", *keys, **ids)
    seconds = data.latest_by(PARTITION + "lag_seconds", *keys, **ids)
    committed = data.latest_by(PARTITION + "committed_offset", *keys, **ids)
    status = data.latest_by(PARTITION + "status", *keys, **ids)
    log_end = data.latest_by(PARTITION + "log_end_offset", *keys, cluster=row.cluster)
    found = sorted(
        set(lag) | set(committed), key=lambda k: (k[0], int(k[1]) if k[1].isdigit() else 0)
    )
    if problems_only(row.cluster):
        group = data.latest_by(GROUP + "status", "group", cluster=row.cluster, group=row.group)
        cycle = group[(row.group,)].ts if (row.group,) in group else 0.0
        shown = model.kafka_current_partitions(found, status, cycle)
        st.caption(
            f"{row.cluster} writes partition series only for partitions that are not OK "
            f"(`partition_series: problems`): {len(found) - len(shown)} partition(s) OK "
            "since their last write are left out; the group's figures above count every one."
        )
        found = shown
    if not found:
        ui.empty(f"No partition of {row.group} to show.")
        return []
    trend = ui.trends(
        data.series(PARTITION + "lag_messages", window, ids, agg="max", max_points=ui.TREND_POINTS),
        lambda s: (s.label_dict.get("topic", ""), s.label_dict.get("partition", "")),
    )
    ui.table(
        [
            {
                "verdict": model.status_name(model.KAFKA_STATUS, _value(status, key)),
                "topic": key[0],
                "partition": key[1],
                "committed": _value(committed, key),
                "log end": _value(log_end, key),
                "lag (messages)": _value(lag, key),
                "lag (time)": fmt.duration(_value(seconds, key)),
                "lag over the range": trend.get(key, []),
                ui.HEALTH: model.kafka_health(_value(status, key)),
            }
            for key in found
        ],
        status="verdict",
        column_config={
            **{
                c: st.column_config.NumberColumn(format="localized")
                for c in ("committed", "log end", "lag (messages)")
            },
            "lag over the range": ui.trend_column("lag over the range", "lag in messages"),
        },
    )
    return sorted(found, key=lambda k: -(_value(lag, k) or 0))


def charts(
    cluster: str, worst: list[str], row: GroupRow, found: list[tuple[str, ...]], window: data.Window
) -> None:
    """The zoomable charts: the groups most behind, the group's partitions, log end vs committed."""
    top = [
        s
        for g in worst
        for s in data.series(GROUP + "max_lag_seconds", window, {"cluster": cluster, "group": g})
    ]
    if top:
        st.plotly_chart(
            plots.timeseries(
                top,
                f"Lag (time) of the {len(top)} groups most behind",
                "seconds",
                lambda s: s.label_dict.get("group", "?"),
            ),
            key="top_groups",
        )
    if not found:
        return
    ids = {"cluster": row.cluster, "group": row.group}
    ui.chart_grid(
        [
            (
                metric,
                plots.timeseries(
                    data.series(PARTITION + metric, window, ids), title, unit, _partition_label
                ),
            )
            for metric, title, unit in (
                ("lag_messages", f"{row.group}: lag per partition (messages)", "messages"),
                ("lag_seconds", f"{row.group}: lag per partition (time)", "seconds"),
            )
        ]
    )
    names = [f"{t}[{p}]" for t, p in found]
    picked = st.selectbox("Partition", names, key="_partition")
    topic, partition = found[names.index(picked)]
    where = {"cluster": row.cluster, "topic": topic, "partition": partition}
    ends = data.series(PARTITION + "log_end_offset", window, where)
    commits = data.series(PARTITION + "committed_offset", window, {**where, "group": row.group})
    if ends or commits:
        st.plotly_chart(
            plots.timeseries(
                [*ends, *commits],
                f"{picked}: log end vs committed",
                "messages",
                lambda s: "log end" if s.name.endswith("log_end_offset") else "committed",
                zero=False,
            ),
            key="offsets",
        )


def body() -> None:
    ui.freshness_banner()
    window = ui.window()
    clusters = sorted(
        {c.name for c in data.kafka_clusters()}
        | {v.label_dict.get("cluster", "") for v in data.latest(GROUP + "status")}
    )
    if not clusters:
        ui.not_configured("Kafka cluster", "kafka:", examples.KAFKA)
        return
    cluster = (
        ui.choice("Cluster", clusters, "cluster") if len(clusters) > 1 else None
    ) or clusters[0]
    rows = group_rows(cluster)
    if not rows:
        ui.empty(
            f"No consumer groups recorded on {cluster} yet. Groups appear after the "
            "first collection that finds committed offsets."
        )
        return
    bad = [r for r in rows if r.health not in (model.OK, model.UNKNOWN)]
    top = st.columns(4)
    top[0].metric("Groups", len(rows))
    top[1].metric("Not OK", len(bad))
    top[2].metric("Total lag (messages)", fmt.count(sum(r.lag_messages or 0 for r in rows)))
    top[3].metric("Worst lag (time)", fmt.duration(max((r.lag_seconds or 0) for r in rows)))
    only_bad = st.toggle("Only groups that are not OK", value=False, key="_only_bad")
    search = st.text_input("Filter groups", key="_group_filter", placeholder="part of a group name")
    shown = [r for r in (bad if only_bad else rows) if search.lower() in r.group.lower()]
    lag = ui.trends(
        data.series(
            GROUP + "max_lag_seconds",
            window,
            {"cluster": cluster},
            agg="max",
            max_points=ui.TREND_POINTS,
        ),
        lambda s: (s.label_dict.get("group", ""),),
    )
    groups_table(shown, lag)

    st.subheader("Group detail")
    names = [r.group for r in rows]
    group = ui.choice("Group", names, "group", default=rows[0].group)
    row = next(r for r in rows if r.group == group)
    st.markdown(
        f"**{row.group}** · {model.status_name(model.KAFKA_STATUS, row.status)} · "
        f"{row.state} · {fmt.count(row.members)} members"
    )
    if row.explanation:
        (
            st.error
            if row.health == model.CRIT
            else st.warning
            if row.health == model.WARN
            else st.info
        )(row.explanation)
    found = partitions(row, window)
    worst = [r.group for r in sorted(rows, key=lambda r: -(r.lag_seconds or 0))[:TOP_GROUPS]]
    ui.chart_section(
        "Charts: lag over time, log end vs committed",
        "_kafka_charts",
        lambda: charts(cluster, worst, row, found, window),
    )


st.title("Kafka")
ui.live(body)
