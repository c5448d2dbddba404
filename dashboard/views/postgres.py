"""PostgreSQL: replication slots (retained WAL, lag, time to loss), WAL rate and replicas."""

from __future__ import annotations

import streamlit as st

from lagwatch.dashboard import charts, data, examples, fmt, model, ui

SLOT = "lagwatch_pg_slot_"
REPLICA = "lagwatch_pg_replica_"
ALL = "(all slots)"


def role(source: str) -> None:
    recovery = data.latest("lagwatch_pg_in_recovery", source=source)
    if recovery:
        st.caption("standby" if recovery[0].value else "primary")


def slot_rows(source: str) -> list[dict[str, object]]:
    keys = ("slot",)
    get = {
        metric: data.latest_by(SLOT + metric, *keys, source=source)
        for metric in (
            "active",
            "wal_status",
            "retained_wal_bytes",
            "confirmed_lag_bytes",
            "safe_wal_bytes",
            "inactive_seconds",
            "time_to_loss_seconds",
        )
    }

    def value(metric: str, key: tuple[str, ...]) -> float | None:
        hit = get[metric].get(key)
        return hit.value if hit else None

    slots = sorted(set().union(*(set(v) for v in get.values())))
    rows = []
    for key in slots:
        active, status = value("active", key), value("wal_status", key)
        inactive = value("inactive_seconds", key)
        rows.append(
            {
                "wal_status": model.status_name(model.WAL_STATUS, status),
                "slot": key[0],
                "active": fmt.NONE if active is None else ("yes" if active else "no"),
                "retained": fmt.size(value("retained_wal_bytes", key)),
                "confirmed lag": fmt.size(value("confirmed_lag_bytes", key)),
                "safe WAL left": fmt.size(value("safe_wal_bytes", key)),
                "inactive for": fmt.duration(inactive) if inactive else fmt.NONE,
                "time to loss": fmt.duration(value("time_to_loss_seconds", key)),
                ui.HEALTH: model.wal_health(status, active),
                "_retained": value("retained_wal_bytes", key) or 0.0,
                "_ttl": value("time_to_loss_seconds", key),
            }
        )
    return sorted(rows, key=lambda r: (-model.RANK[str(r[ui.HEALTH])], str(r["slot"])))


def replicas(source: str) -> None:
    found = {
        kind: data.latest_by(f"{REPLICA}{kind}_lag_seconds", "replica", source=source)
        for kind in ("write", "flush", "replay")
    }
    names = sorted(set().union(*(set(v) for v in found.values())))
    st.subheader("Physical replicas")
    if not names:
        ui.empty(f"No physical replica streams from {source} (pg_stat_replication is empty).")
        return
    ui.table(
        [
            {
                "replica": key[0],
                **{
                    f"{kind} lag": fmt.duration(found[kind][key].value)
                    if key in found[kind]
                    else fmt.NONE
                    for kind in found
                },
            }
            for key in names
        ]
    )


def body() -> None:
    ui.freshness_banner()
    window = ui.window()
    source = ui.pick_source(
        "postgres", SLOT + "retained_wal_bytes", "PostgreSQL source", examples.POSTGRES
    )
    if source is None:
        return
    role(source)
    rows = slot_rows(source)
    rate = data.latest("lagwatch_pg_wal_bytes_per_second", source=source)
    ttl = [float(r["_ttl"]) for r in rows if r["_ttl"] is not None]  # type: ignore[arg-type]
    top = st.columns(4)
    top[0].metric("Slots", len(rows))
    top[1].metric("Inactive", sum(1 for r in rows if r["active"] == "no"))
    top[2].metric(
        "Shortest time to loss",
        fmt.duration(min(ttl)) if ttl else fmt.NONE,
        help="safe_wal_size ÷ WAL rate: when the first slot loses WAL it still needs.",
    )
    top[3].metric("WAL rate", f"{fmt.size(rate[0].value)}/s" if rate else fmt.NONE)

    st.subheader("Replication slots")
    if not rows:
        ui.empty(f"No replication slots on {source}.")
    else:
        owners = data.connectors_of(source)
        if owners:  # which Debezium connector reads each slot
            for r in rows:
                owner = owners.get(str(r["slot"]))
                r["connector"] = f"{owner[1]} ({owner[0]})" if owner else ""
        ui.table(
            [{k: v for k, v in r.items() if not k.startswith("_") or k == ui.HEALTH} for r in rows],
            status="wal_status",
        )
        shown = {str(r["slot"]) for r in rows}
        ui.connector_links({k: v for k, v in owners.items() if k in shown}, "Slot")
        slot = ui.choice("Slot", [ALL, *[str(r["slot"]) for r in rows]], "slot", default=ALL)
        where = {"source": source} if slot in (None, ALL) else {"source": source, "slot": slot}
        name = lambda s: s.label_dict.get("slot", "?")  # noqa: E731
        ui.chart_grid(
            [
                (
                    metric,
                    charts.timeseries(data.series(SLOT + metric, window, where), title, unit, name),
                )
                for metric, title, unit in (
                    ("retained_wal_bytes", "Retained WAL", "bytes"),
                    ("confirmed_lag_bytes", "Confirmed-flush lag", "bytes"),
                    ("safe_wal_bytes", "Safe WAL left before loss", "bytes"),
                    ("time_to_loss_seconds", "Time to loss", "seconds"),
                )
            ]
        )
    wal = data.series("lagwatch_pg_wal_bytes_per_second", window, {"source": source})
    if wal:
        st.plotly_chart(
            charts.timeseries(wal, "WAL generated", "bytes/s", lambda s: source), key="wal"
        )
    replicas(source)


st.title("PostgreSQL")
ui.live(body)
