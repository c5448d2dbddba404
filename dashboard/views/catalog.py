"""Catalog: every event type a schema registry watches — its schema, owner, readers and health.

One row per watched topic (subjects and latest version, compatibility, owner,
the consumer groups reading it, produce rate, payload sizes, violations by
kind); picking a topic (``?topic=``, or ``?subject=``) shows its schema
history with what each version changed, the last violating messages (never
their payload: the first 16 bytes in hex) and the governance findings. The
same entries as `lagwatch catalog --json`.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from lagwatch.dashboard import data, fmt, ui
from lagwatch.reports.catalog import KINDS

EXAMPLE = """
registries:
  - name: main
    url: ${REGISTRY_URL}          # …/apis/ccompat/v7 or a Confluent registry
    kafka: main                   # a `kafka:` cluster name
    topics: {include: ["orders\\\\..*"]}
    owners: {"orders\\\\..*": team-orders}
"""

COLUMNS = {
    "topic": st.column_config.TextColumn(width="medium"),
    "subjects": st.column_config.TextColumn(width="medium", help="subject: latest version"),
    "groups": st.column_config.TextColumn(width="medium", help="consumer groups reading it"),
}


def violations_of(entry: dict[str, Any]) -> float:
    return float(sum(entry["violations"].values()))


def health(entry: dict[str, Any]) -> str:
    if violations_of(entry) or entry["governance"]:
        return "crit" if entry["violations"].get("unknown_schema_id") else "warn"
    return "ok"


def rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        subjects = e["subjects"]
        sizes = e["payload_bytes"]
        out.append(
            {
                "status": "violations" if health(e) != "ok" else "ok",
                "topic": e["topic"],
                "registry": e["registry"],
                "owner": e["owner"] or fmt.NONE,
                "subjects": ", ".join(f"{s['subject']}: v{s['latest_version']}" for s in subjects)
                or fmt.NONE,
                "compatibility": ", ".join(sorted({str(s["compatibility"]) for s in subjects}))
                or fmt.NONE,
                "groups": ", ".join(e["consumer_groups"]) or fmt.NONE,
                "produced": fmt.rate(e["produced_per_second"]),
                "p50": fmt.size(sizes["p50"]) if "p50" in sizes else fmt.NONE,
                "p99": fmt.size(sizes["p99"]) if "p99" in sizes else fmt.NONE,
                "checked": fmt.count(e["messages_checked"]),
                **{kind: fmt.count(e["violations"].get(kind)) for kind in KINDS},
                ui.HEALTH: health(e),
            }
        )
    return out


def changes(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return what each version changed against the one before: fields added and removed."""
    out = []
    before: list[str] = []
    for v in versions:
        fields = list(v.get("fields") or [])
        added = [f for f in fields if f not in before]
        removed = [f for f in before if f not in fields]
        out.append(
            {
                "version": v.get("version"),
                "id": v.get("id"),
                "type": v.get("type") or fmt.NONE,
                "record": v.get("name") or fmt.NONE,
                "added": ", ".join(added) or fmt.NONE,
                "removed": ", ".join(removed) or fmt.NONE,
                "problems": "; ".join(v.get("problems") or []) or fmt.NONE,
            }
        )
        before = fields
    return out


def drill_down(entry: dict[str, Any]) -> None:
    st.subheader(entry["topic"])
    st.caption(
        f"Registry {entry['registry']} · owner {entry['owner'] or 'not set (owners:)'} · "
        f"read by {', '.join(entry['consumer_groups']) or 'no consumer group'} · "
        f"{fmt.count(entry['messages_checked'])} messages checked, "
        f"{fmt.count(entry['tombstones'])} tombstones"
    )
    if not entry["subjects"]:
        ui.empty(
            "No subject of this topic is in the registry under the subject_strategy; its "
            "messages are checked against the ids they carry."
        )
    for subject in entry["subjects"]:
        state = "deleted" if subject["deleted"] else f"mode {subject['mode'] or fmt.NONE}"
        st.markdown(
            f"**{subject['subject']}** · {subject['name'] or ''} · compatibility "
            f"{subject['compatibility']} · {state}"
        )
        if subject["purpose"]:
            st.caption(subject["purpose"])
        ui.small_table(changes(subject["versions"]))
    findings = [
        {"subject": s, "rule": rule, "finding": "; ".join(notes)}
        for s, rules in entry["governance"].items()
        for rule, notes in rules.items()
    ]
    st.markdown("**Governance findings**")
    if findings:
        ui.small_table(findings)
    else:
        st.caption("None: the policy holds for every version of these subjects.")
    recent = [
        {
            "kind": kind,
            "partition": m.get("partition"),
            "offset": m.get("offset"),
            "when": fmt.clock(m["ts"]) if m.get("ts") else fmt.NONE,
            "first bytes": m.get("head"),
            "reason": m.get("reason"),
        }
        for kind, messages in entry["recent_violations"].items()
        for m in messages
    ]
    st.markdown("**Last violating messages** (the first 16 bytes, never the payload)")
    if recent:
        ui.small_table(recent)
    else:
        st.caption("None kept: no message broke a rule.")


def body() -> None:
    ui.freshness_banner()
    config = data.config()
    entries, registries = data.catalog()
    if not config.registries:
        ui.not_configured("schema registry", "registries:", EXAMPLE)
        return
    for r in registries:
        up = {1.0: "up", 0.0: "down"}.get(r["up"], "not read yet")
        note = f" — {r['note']}" if r["up"] == 0.0 and r["note"] else ""
        st.markdown(
            f"Registry **{r['registry']}** {up} · {r['flavour'] or 'flavour unknown'} · "
            f"global compatibility {((r['global'] or {}).get('compatibility')) or fmt.NONE} · "
            f"{r['subjects']} subjects{note}"
        )
    if not entries:
        ui.empty(
            "No watched topic has been sampled yet: the registry collector reads the topics "
            "that `registries[].topics` includes, from `sample.backfill` messages before the end."
        )
        return
    ui.table(rows(entries), status="status", column_config=COLUMNS)
    wanted = ui.param("subject")
    if wanted:
        owner = next((e for e in entries for s in e["subjects"] if s["subject"] == wanted), None)
        if owner is not None:
            ui.set_param("topic", owner["topic"])
    topics = [e["topic"] for e in entries]
    picked = ui.choice("Topic", topics, "topic")
    entry = next(e for e in entries if e["topic"] == picked)
    drill_down(entry)


st.title("Catalog")
ui.live(body)
