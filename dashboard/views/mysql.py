"""MySQL / MariaDB: binlog files and bytes, retention, CDC readers and configuration checks."""

from __future__ import annotations

import streamlit as st

from lagwatch.dashboard import charts, data, examples, fmt, model, ui

BINLOG = "lagwatch_mysql_binlog_"
# A reader whose binlog is purged within this is shown as critical, within 4× as a warning.
PURGE_SOON = 86400.0


def checks(source: str) -> None:
    """Show every 0/1 configuration check the collector reports (lagwatch_mysql_*_ok)."""
    names = data.metric_names("lagwatch_mysql_")
    found = [v for n in names if n.endswith("_ok") for v in data.latest(n, source=source)]
    st.subheader("Configuration checks")
    if not found:
        ui.empty("No configuration checks recorded yet.")
        return
    ui.table(
        [
            {
                "check": v.name.removeprefix("lagwatch_mysql_")
                .removesuffix("_ok")
                .replace("_", " "),
                "result": "pass" if v.value >= 1 else "FAIL",
                "detail": v.note or "",
                ui.HEALTH: model.OK if v.value >= 1 else model.CRIT,
            }
            for v in found
        ],
        status="result",
    )


def readers(source: str, window: data.Window) -> None:
    behind = data.latest_by(BINLOG + "reader_behind_bytes", "reader", source=source)
    eta = data.latest_by(BINLOG + "purge_eta_seconds", "reader", source=source)
    st.subheader("CDC readers")
    names = sorted(set(behind) | set(eta))
    if not names:
        ui.empty(f"No binlog readers configured on {source}: add `readers:` to the source.")
        return
    rows = []
    for key in names:
        left = eta[key].value if key in eta else None
        health = (
            model.UNKNOWN
            if left is None
            else (
                model.CRIT
                if left < PURGE_SOON
                else model.WARN
                if left < 4 * PURGE_SOON
                else model.OK
            )
        )
        rows.append(
            {
                "purge in": fmt.duration(left),
                "reader": key[0],
                "behind": fmt.size(behind[key].value) if key in behind else fmt.NONE,
                "note": (eta[key].note if key in eta else None) or "",
                ui.HEALTH: health,
            }
        )
    owners = data.connectors_of(source)
    if owners:  # which Debezium connector each reader is
        for r in rows:
            owner = owners.get(str(r["reader"]))
            r["connector"] = f"{owner[1]} ({owner[0]})" if owner else ""
    ui.table(rows, status="purge in")
    shown = {str(r["reader"]) for r in rows}
    ui.connector_links({k: v for k, v in owners.items() if k in shown}, "Reader")
    st.plotly_chart(
        charts.timeseries(
            data.series(BINLOG + "reader_behind_bytes", window, {"source": source}),
            "Reader bytes behind",
            "bytes",
            lambda s: s.label_dict.get("reader", "?"),
        ),
        key="behind",
    )


def body() -> None:
    ui.freshness_banner()
    window = ui.window()
    source = ui.pick_source("mysql", BINLOG + "files", "MySQL or MariaDB source", examples.MYSQL)
    if source is None:
        return

    def now(metric: str) -> float | None:
        found = data.latest(BINLOG + metric, source=source)
        return found[0].value if found else None

    retention = now("retention_seconds")
    top = st.columns(4)
    top[0].metric("Binlog files", fmt.count(now("files")))
    top[1].metric("Binlog size", fmt.size(now("bytes")))
    top[2].metric(
        "Retention",
        "never expires" if retention == 0 else fmt.duration(retention),
        help="binlog_expire_logs_seconds (expire_logs_days on older MariaDB)",
    )
    eta = [v.value for v in data.latest(BINLOG + "purge_eta_seconds", source=source)]
    top[3].metric("First reader purge", fmt.duration(min(eta)) if eta else fmt.NONE)

    where = {"source": source}
    files = data.series(BINLOG + "files", window, where, agg="max")
    size = data.series(BINLOG + "bytes", window, where)
    ui.chart_grid(
        [
            ("files", charts.timeseries(files, "Binlog files", "", lambda s: source, step=True)),
            ("bytes", charts.timeseries(size, "Binlog bytes", "bytes", lambda s: source)),
        ]
    )
    readers(source, window)
    checks(source)


st.title("MySQL / MariaDB")
ui.live(body)
