"""Capacity: what runs out first, and when — the `lagwatch report capacity` items, most urgent first."""

from __future__ import annotations

import streamlit as st

from lagwatch.dashboard import capacity as cap
from lagwatch.dashboard import charts, data, fmt, ui
from lagwatch.reports.capacity import MIN_POINTS, Item

COLUMNS = {
    "what": st.column_config.TextColumn(width="medium"),
    "note": st.column_config.TextColumn(width="large"),
    "open": st.column_config.LinkColumn(display_text="open", help="The item's page"),
    "when": st.column_config.TextColumn(
        help="When it runs out, or for lag and backlog is caught up"
    ),
    "history": st.column_config.TextColumn(help="Points fitted and the time they span"),
}


def rows(items: list[Item], horizon: float) -> list[dict[str, object]]:
    return [
        {
            "state": cap.state(item, horizon),
            "kind": cap.KIND.get(item.kind, item.kind),
            "what": cap.what(item),
            "open": cap.link(item),
            "now": cap.amount(item.value, item.unit),
            "rate/h": cap.amount(item.rate_per_hour, item.unit, signed=True),
            "limit": cap.limit(item),
            "when": cap.when(item),
            "history": cap.history(item),
            "note": item.note,
            ui.HEALTH: cap.health(item, horizon),
        }
        for item in items
    ]


def headline(items: list[Item], horizon: float, horizon_name: str) -> None:
    within = [i for i in items if i.state == "runs_out" and i.runs_out_within(horizon)]
    first = cap.soonest(items)
    top = st.columns(4)
    top[0].metric(f"Run out within {horizon_name}", len(within))
    top[1].metric("Lost", sum(1 for i in items if i.state == "lost"))
    top[2].metric("Growing without a limit", sum(1 for i in items if i.state == "growing_no_limit"))
    top[3].metric("Soonest to run out", fmt.duration(first.eta_seconds) if first else fmt.NONE)
    if first is not None and first.eta_seconds is not None:
        st.caption(
            f"First to run out: **{cap.KIND.get(first.kind, first.kind)} {cap.what(first)}** "
            f"{cap.when(first)} (about {fmt.clock(data.now() + first.eta_seconds)}), "
            f"at {cap.amount(first.rate_per_hour, first.unit, signed=True)} an hour "
            f"toward {cap.limit(first)}."
        )


def trend(items: list[Item], window: data.Window) -> None:
    """One item's fitted series over the look-back, with its limit; drawn only when asked."""
    names = [f"{cap.KIND.get(i.kind, i.kind)}: {cap.what(i)}" for i in items]
    picked = st.selectbox("Item", names, key="_capacity_item")
    item = items[names.index(picked)]
    found = data.series(item.metric, window, item.labels)
    lines = [(item.limit, "limit")] if item.limit is not None else []
    st.plotly_chart(
        charts.timeseries(found, picked, item.unit, lambda s: item.metric, thresholds=lines),
        key="capacity_trend",
    )


def body() -> None:
    ui.freshness_banner()
    left, right = st.columns(2)
    window_name = (
        ui.choice(
            "Fitted over",
            list(cap.WINDOWS),
            "window",
            cap.DEFAULT_WINDOW,
            left,
            help="The look-back each series is fitted over, as `lagwatch report capacity "
            "--window`. The sidebar's time range does not apply here.",
        )
        or cap.DEFAULT_WINDOW
    )
    horizon_name = (
        ui.choice(
            "Horizon",
            list(cap.HORIZONS),
            "horizon",
            cap.DEFAULT_HORIZON,
            right,
            help="Items that run out within it are counted and shown in red, "
            "as `lagwatch report capacity --horizon`.",
        )
        or cap.DEFAULT_HORIZON
    )
    window = data.Window.last(cap.WINDOWS[window_name])
    horizon = cap.HORIZONS[horizon_name]
    items = data.capacity(window)
    if not items:
        ui.empty(
            f"Nothing to report yet: no replication slot, binlog, consumer group or outbox "
            f"series was recorded in the last {window_name}. The report fits each series over "
            f"that window and needs at least {MIN_POINTS} collections of it."
        )
        return
    headline(items, horizon, horizon_name)
    attention = st.toggle("Only items that need attention", value=False, key="_capacity_bad")
    shown = [i for i in items if not attention or cap.health(i, horizon) != "ok"]
    ui.table(rows(shown, horizon), status="state", column_config=COLUMNS)
    st.caption(
        "Each series is fitted with a least-squares line over the look-back and extrapolated "
        "to its limit, or to zero for lag and backlog; growth counts only when it stands out "
        "of the noise. Same figures as `lagwatch report capacity`."
    )
    ui.chart_section(
        "Chart: one item over the look-back",
        "_capacity_chart",
        lambda: trend(items, window),
    )


st.title("Capacity")
ui.live(body)
