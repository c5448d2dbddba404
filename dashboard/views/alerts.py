"""Alerts: what is firing and pending, what changed recently, and silences to create or expire."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from lagwatch.alerts.incidents import Incident
from lagwatch.alerts.silences import Silence, parse_matchers, silenced_by, split_matchers
from lagwatch.alerts.state import FIRING, PENDING, RESOLVED, AlertState
from lagwatch.alerts.template import value_text
from lagwatch.dashboard import data, examples, fmt, model, summary, ui
from lagwatch.store.types import parse_duration

LINKS = {
    "runbook": st.column_config.LinkColumn(display_text="runbook"),
    "view": st.column_config.LinkColumn(display_text="open", help="The alert's dashboard link"),
}


def labels_text(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items() if k not in ("alertname", "severity"))


def muted_by(alert: AlertState, silences: Sequence[Silence], at: float) -> str:
    """Return why the alert is muted: the engine's word, or a silence it applies next evaluation."""
    if alert.muted:
        return alert.muted
    found = silenced_by(silences, alert.labels, at) if alert.state != RESOLVED else None
    return f"silenced by {found} (from the next evaluation)" if found else ""


STATE_HEALTH = {FIRING: model.CRIT, PENDING: model.WARN, RESOLVED: model.OK}


def place(incident: Incident) -> str:
    """Return an incident as the page names it: its root hop and pipelines."""
    pipelines = ", ".join(incident.pipelines)
    return incident.root_hop + (f" ({pipelines})" if pipelines else "")


def incident_of(incidents: Sequence[Incident]) -> dict[str, Incident]:
    """Return which incident tells each alert (a merged one's alerts are in the one it joined)."""
    out: dict[str, Incident] = {}
    for inc in incidents:
        for fp, m in inc.members.items():
            if m.state not in ("moved", "released"):
                out.setdefault(fp, inc)
    return out


def grouped(alerts: list[AlertState], incidents: Sequence[Incident]) -> list[AlertState]:
    """Return the alerts with each incident's together (its root first), then the others."""
    of = incident_of(incidents)
    order = {inc.id: i for i, inc in enumerate(incidents)}

    def key(a: AlertState) -> tuple[int, int]:
        inc = of.get(a.fingerprint)
        if inc is None:
            return (len(order), 0)
        return (order[inc.id], 0 if a.fingerprint == inc.root else 1)

    return sorted(alerts, key=key)  # stable: the engine's order within each


def alert_rows(
    alerts: list[AlertState], silences: Sequence[Silence], incidents: Sequence[Incident] = ()
) -> list[dict[str, Any]]:
    at = data.now()
    of = incident_of(incidents)
    rows = []
    for a in grouped(alerts, incidents):
        inc = of.get(a.fingerprint)
        told = ""
        if inc is not None:
            told = place(inc) + (" · root" if a.fingerprint == inc.root else "")
        link = a.annotations.get("dashboard_url")
        muted = muted_by(a, silences, at)
        muted_now = bool(a.muted) and a.state != RESOLVED
        shown = "muted" if muted_now else "flapping" if a.flapping else ""
        rows.append(
            {
                "state": f"{a.state} ({shown})" if shown else a.state,
                "incident": told or fmt.NONE,
                "severity": a.labels.get("severity") or fmt.NONE,
                "alert": a.rule,
                "value": a.value_text(),
                "summary": a.annotations.get("summary", ""),
                "for": fmt.duration(at - a.since),
                "muted": muted,
                "labels": labels_text(a.labels),
                "since": fmt.clock(a.since),
                "runbook": a.annotations.get("runbook_url"),
                "view": data.local_link(link) if link else None,
                ui.HEALTH: model.UNKNOWN if muted_now else STATE_HEALTH.get(a.state, model.WARN),
            }
        )
    return rows


def incidents_section(incidents: Sequence[Incident], window: data.Window) -> None:
    """Show each incident: where its root is, what it says, how many of its alerts fire."""
    shown = [i for i in incidents if i.state == "open" or (i.resolved_at or 0) >= window.start]
    if not shown:
        return
    st.subheader("Incidents")
    st.caption(
        "Alerts tied to one pipeline hop or source are one incident, told as one notification; "
        "its root is the most upstream hop. The alerts below are grouped by incident."
    )
    rows = []
    for inc in shown:
        firing = sum(1 for m in inc.members.values() if m.state == FIRING)
        held = sum(1 for m in inc.members.values() if m.state == "held")
        state = inc.state if not inc.merged_into else "merged"
        rows.append(
            {
                "state": state,
                "incident": place(inc),
                "root": inc.root_rule,
                "alerts": f"{firing} firing of {len(inc.members)}"
                + (f", {held} held" if held else ""),
                "headline": inc.headline,
                "since": fmt.clock(inc.created_at),
                "resolved": fmt.clock(inc.resolved_at) if inc.resolved_at else fmt.NONE,
                ui.HEALTH: model.CRIT if inc.state == "open" else model.OK,
            }
        )
    ui.table(rows, status="state")


def history(window: data.Window) -> None:
    st.subheader("History")
    changes = data.alert_history(window)
    if not changes:
        ui.empty("No alert changed state in the selected range.")
        return
    ui.table(
        [
            {
                "at": fmt.clock(c.ts),
                "alert": c.rule,
                "change": f"{c.before} → {c.state}" + (" (flapping)" if c.flapping else ""),
                "value": value_text(c.value, c.op, c.threshold, c.unit),
                "summary": c.summary,
                "labels": labels_text(c.labels),
                ui.HEALTH: STATE_HEALTH.get(c.state, model.UNKNOWN),
            }
            for c in changes
        ],
        status="change",
    )


# A confirmation waits in session state, so the dialog stays open across reruns
# until it is confirmed, cancelled or dismissed.
PENDING_CREATE, PENDING_EXPIRE = "_pending_silence", "_pending_expire"


def _forget() -> None:
    st.session_state.pop(PENDING_CREATE, None)
    st.session_state.pop(PENDING_EXPIRE, None)


@st.dialog("Create this silence?", on_dismiss=_forget)
def confirm_create(matchers: list[str], comment: str, author: str, seconds: float) -> None:
    parsed = parse_matchers(matchers)
    matching = [
        a for a in data.alerts() if a.state != RESOLVED and all(m.matches(a.labels) for m in parsed)
    ]
    st.markdown(
        f"Silence {', '.join(map(str, parsed))} for **{fmt.duration(seconds)}** "
        f"(until {fmt.clock(data.now() + seconds)})."
    )
    st.markdown(
        f"It matches {len(matching)} active alert(s) now: "
        + (", ".join(sorted({a.rule for a in matching})) or "none")
    )
    left, right = st.columns(2)
    if left.button("Create silence", type="primary", key="_confirm_create"):
        data.create_silence(matchers, comment, author, seconds)
        _forget()
        st.rerun()
    if right.button("Cancel", key="_cancel_create"):
        _forget()
        st.rerun()


@st.dialog("Expire this silence?", on_dismiss=_forget)
def confirm_expire(silence: Silence) -> None:
    st.markdown(
        f"Expire {', '.join(map(str, silence.matchers))} now? Alerts it hides will notify again."
    )
    left, right = st.columns(2)
    if left.button("Expire now", type="primary", key="_confirm_expire"):
        data.expire_silence(silence.id)
        _forget()
        st.rerun()
    if right.button("Cancel", key="_cancel_expire"):
        _forget()
        st.rerun()


def silence_form() -> None:
    with st.form("new_silence", clear_on_submit=False):
        st.markdown("**New silence**")
        text = st.text_area(
            "Matchers (one per line)", placeholder='group=ledger-writer\npipeline=~"pay.*"'
        )
        left, right = st.columns(2)
        duration = left.text_input("Duration", value="2h", help="e.g. 30m, 2h, 1d")
        author = right.text_input("Author")
        comment = st.text_input("Comment", placeholder="why, and until when")
        submitted = st.form_submit_button("Review silence…")
    if not submitted:
        return
    try:
        matchers = split_matchers(text)
        parse_matchers(matchers)
        seconds = parse_duration(duration)
        if seconds <= 0:
            raise ValueError("the duration must be longer than 0s")
        if not author.strip() or not comment.strip():
            raise ValueError("say who you are and why: author and comment are required")
    except ValueError as exc:
        st.error(f"Cannot create the silence: {exc}")
        return
    st.session_state[PENDING_CREATE] = (matchers, comment.strip(), author.strip(), seconds)


def silences_section(window: data.Window) -> None:
    st.subheader("Silences")
    at = data.now()
    # Expired silences stay in the store; those that ended before the range are history.
    found = [s for s in data.silences() if s.ends_at >= window.start]
    if not found:
        ui.empty("No silences active, scheduled or ended in the selected range.")
    for s in found:
        active = s.active(at)
        with st.container(border=True):
            left, right = st.columns([5, 1])
            state = (
                f"active, ends in {fmt.duration(s.ends_at - at)}"
                if active
                else f"starts in {fmt.duration(s.starts_at - at)}"
                if s.starts_at > at
                else f"expired {fmt.ago(s.ends_at, at)}"
            )
            left.markdown(f"**{', '.join(map(str, s.matchers))}** — {state}")
            left.caption(f"{s.comment} — {s.author}, created {fmt.clock(s.created_at)} · `{s.id}`")
            if s.ends_at > at and right.button("Expire…", key=f"_expire_{s.id}"):
                st.session_state[PENDING_EXPIRE] = s.id
    silence_form()
    if PENDING_CREATE in st.session_state:
        confirm_create(*st.session_state[PENDING_CREATE])
    elif PENDING_EXPIRE in st.session_state:
        chosen = [s for s in found if s.id == st.session_state[PENDING_EXPIRE]]
        if chosen:
            confirm_expire(chosen[0])


def body() -> None:
    ui.freshness_banner()
    window = ui.window()
    alerts = data.alerts()
    silences = data.silences()
    at = data.now()
    top = st.columns(4)
    top[0].metric("Firing", len(summary.firing(alerts)), help="Firing and told to receivers.")
    top[1].metric("Muted", len(summary.muted(alerts)), help="Firing but silenced or inhibited.")
    top[2].metric("Pending", sum(1 for a in alerts if a.state == PENDING))
    top[3].metric("Active silences", sum(1 for s in silences if s.active(at)))
    if "receivers" not in data.config().alerts.model_fields_set:
        st.caption(
            "No receivers configured: alerts show here and go to the daemon's log only. "
            "Add `alerts.receivers` and `alerts.routes`."
        )
        with st.expander("Example"):
            st.code(examples.RECEIVERS.strip(), language="yaml")
    incidents = data.incidents()
    incidents_section(incidents, window)
    st.subheader("Firing and pending")
    current = [a for a in alerts if a.state != RESOLVED]
    if current:
        ui.table(alert_rows(current, silences, incidents), status="state", column_config=LINKS)
    else:
        ui.empty("Nothing is firing or pending.")
    resolved = [a for a in alerts if a.state == RESOLVED]
    if resolved:
        st.subheader("Recently resolved")
        ui.table(alert_rows(resolved, silences, incidents), status="state", column_config=LINKS)
    history(window)


st.title("Alerts")
ui.live(body)
# Outside the auto-refreshing fragment: a refresh would close an open confirmation.
try:
    silences_section(ui.window())
except ui.StoreUnavailable as exc:
    ui.store_unavailable(exc)
