"""Outbox: backlog, age of the oldest unpublished row and publish rate per table."""

from __future__ import annotations

import streamlit as st

from lagwatch.dashboard import charts, data, examples, fmt, model, ui

OUTBOX = "lagwatch_outbox_"
# An oldest row older than this is a warning, ten times this critical.
OLD_ROW = 60.0
ALL = "(all sources)"


def body() -> None:
    ui.freshness_banner()
    window = ui.window()
    keys = ("source", "table")
    backlog = data.latest_by(OUTBOX + "backlog_rows", *keys)
    oldest = data.latest_by(OUTBOX + "oldest_age_seconds", *keys)
    rate = data.latest_by(OUTBOX + "published_per_second", *keys)
    tables = sorted(set(backlog) | set(oldest) | set(rate))
    configured = [s for s in data.config().sources if getattr(s, "outbox", None)]
    if not tables:
        if configured:
            ui.empty(
                "Outbox tables are configured but nothing is recorded yet: "
                "is `lagwatch run` running?"
            )
        else:
            ui.not_configured("outbox table", "sources[].outbox", examples.OUTBOX)
        return
    sources = sorted({key[0] for key in tables})
    source = (
        ui.choice("Source", [ALL, *sources], "source", ALL) if len(sources) > 1 else None
    ) or ALL
    if source != ALL:
        tables = [key for key in tables if key[0] == source]
    rows = []
    for key in tables:
        age = oldest[key].value if key in oldest else None
        health = (
            model.UNKNOWN
            if age is None
            else (model.OK if age < OLD_ROW else model.WARN if age < 10 * OLD_ROW else model.CRIT)
        )
        rows.append(
            {
                "oldest pending": fmt.duration(age),
                "source": key[0],
                "table": key[1],
                "backlog (rows)": backlog[key].value if key in backlog else None,
                "published": fmt.rate(rate[key].value, " rows/s") if key in rate else fmt.NONE,
                "note": (backlog[key].note if key in backlog else None) or "",
                ui.HEALTH: health,
            }
        )
    rows.sort(key=lambda r: (-model.RANK[str(r[ui.HEALTH])], str(r["table"])))
    top = st.columns(3)
    top[0].metric("Tables", len(rows))
    top[1].metric(
        "Backlog (rows)", fmt.count(sum(backlog[k].value for k in tables if k in backlog))
    )
    top[2].metric(
        "Oldest pending row",
        fmt.duration(max((oldest[k].value for k in tables if k in oldest), default=None)),
    )
    ui.table(
        rows,
        status="oldest pending",
        column_config={"backlog (rows)": st.column_config.NumberColumn(format="localized")},
    )

    where = {} if source == ALL else {"source": source}

    def name(s: object) -> str:
        labels = s.label_dict  # type: ignore[attr-defined]
        return f"{labels.get('source')}: {labels.get('table')}"

    for metric, title, unit in (
        ("backlog_rows", "Backlog", "rows"),
        ("oldest_age_seconds", "Oldest pending row", "seconds"),
        ("published_per_second", "Publish rate", "rows/s"),
    ):
        st.plotly_chart(
            charts.timeseries(data.series(OUTBOX + metric, window, where), title, unit, name),
            key=metric,
        )


st.title("Outbox")
ui.live(body)
