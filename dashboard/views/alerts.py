"""Alerts: what is firing and pending, what changed recently, and silences to create or expire."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import data, examples, fmt, model, ui
from dashboard.records import Alert, Matcher, Silence, parse_matchers
from store.types import parse_duration

SEVERITY = {"page": model.CRIT, "critical": model.CRIT, "warning": model.WARN}


def alert_rows(alerts: list[Alert], silences: list[Silence]) -> list[dict[str, Any]]:
    at = data.now()
    active = [s for s in silences if s.active(at)]
    rows = []
    for a in alerts:
        silenced = bool(a.silenced_by) or any(s.matches(a.labels) for s in active)
        rows.append(
            {
                "state": a.state + (" (flapping)" if a.flapping else ""),
                "severity": a.severity or fmt.NONE,
                "alert": a.rule,
                "silenced": "yes" if silenced else "",
                "for": fmt.duration(at - a.since),
                "summary": a.summary,
                "since": fmt.clock(a.since),
                "labels": ", ".join(f"{k}={v}" for k, v in a.labels.items() if k != "alertname"),
                "runbook": a.runbook_url or None,
                ui.HEALTH: model.OK
                if a.state == "resolved"
                else SEVERITY.get(a.severity, model.WARN),
            }
        )
    return rows


def history(window: data.Window) -> None:
    st.subheader("History")
    events = data.alert_history(window)
    if not events:
        ui.empty("No alert changed state in the selected range.")
        return
    ui.table(
        [
            {
                "at": fmt.clock(e.ts),
                "alert": e.rule,
                "change": f"{e.before or '—'} → {e.after}",
                "labels": ", ".join(f"{k}={v}" for k, v in e.labels.items() if k != "alertname"),
                ui.HEALTH: model.CRIT
                if e.after == "firing"
                else model.OK
                if e.after == "resolved"
                else model.WARN,
            }
            for e in events
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
def confirm_create(matchers: list[Matcher], comment: str, author: str, seconds: float) -> None:
    matching = [
        a
        for a in data.alerts()
        if a.state != "resolved" and all(m.matches(a.labels) for m in matchers)
    ]
    st.markdown(
        f"Silence {', '.join(map(str, matchers))} for **{fmt.duration(seconds)}** "
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
        data.expire_silence(silence)
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
        matchers = parse_matchers(text)
        seconds = parse_duration(duration)
        if seconds <= 0:
            raise ValueError("the duration must be longer than 0s")
        if not author.strip() or not comment.strip():
            raise ValueError("say who you are and why: author and comment are required")
    except ValueError as exc:
        st.error(f"Cannot create the silence: {exc}")
        return
    st.session_state[PENDING_CREATE] = (matchers, comment.strip(), author.strip(), seconds)


def silences_section() -> None:
    st.subheader("Silences")
    at = data.now()
    found = data.silences()
    if not found:
        ui.empty("No silences.")
    for s in found:
        active = s.active(at)
        with st.container(border=True):
            left, right = st.columns([5, 1])
            state = (
                f"active, ends in {fmt.duration(s.ends_at - at)}"
                if active
                else (f"expired {fmt.ago(s.ends_at, at)}")
            )
            left.markdown(f"**{', '.join(map(str, s.matchers))}** — {state}")
            left.caption(f"{s.comment} — {s.author}, created {fmt.clock(s.created_at)}")
            if active and right.button("Expire…", key=f"_expire_{s.id}"):
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
    firing = [a for a in alerts if a.state == "firing"]
    pending = [a for a in alerts if a.state == "pending"]
    top = st.columns(3)
    top[0].metric("Firing", len(firing))
    top[1].metric("Pending", len(pending))
    top[2].metric("Active silences", sum(1 for s in silences if s.active(data.now())))
    if not data.config().alerts.receivers:
        st.caption(
            "No receivers configured: alerts show here but notify no one. "
            "Add `alerts.receivers` and `alerts.routes`."
        )
        with st.expander("Example"):
            st.code(examples.RECEIVERS.strip(), language="yaml")
    st.subheader("Firing and pending")
    current = [a for a in alerts if a.state != "resolved"]
    if current:
        ui.table(
            alert_rows(current, silences),
            status="state",
            column_config={"runbook": st.column_config.LinkColumn(display_text="runbook")},
        )
    else:
        ui.empty("Nothing is firing or pending.")
    resolved = [a for a in alerts if a.state == "resolved"]
    if resolved:
        st.subheader("Recently resolved")
        ui.table(alert_rows(resolved, silences), status="state")
    history(window)


st.title("Alerts")
ui.live(body)
# Outside the auto-refreshing fragment: a refresh would close an open confirmation.
try:
    silences_section()
except ui.StoreUnavailable as exc:
    ui.store_unavailable(exc)
