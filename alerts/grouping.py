"""Notification groups: what a receiver was last told about a group, and when to tell it again."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from lagwatch.alerts.notifiers.base import AlertView, Notification, where
from lagwatch.alerts.routing import GroupPolicy


@dataclass(frozen=True)
class GroupState:
    """One (receiver, route, group labels) group; ``sent`` maps fingerprints to what was told."""

    key: str
    receiver: str
    route: str
    labels: dict[str, str]
    created_at: float
    sent: dict[str, str] = field(default_factory=dict)
    told: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_sent_at: float | None = None
    next_at: float | None = None
    # A group that tells an incident: its id, and the root the receiver was last told.
    incident: str | None = None
    root: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> GroupState:
        return cls(**{k: v for k, v in body.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Outcome:
    """The group after a decision (None: forget it), and the notification to send, if any."""

    group: GroupState | None
    notification: Notification | None
    changed: bool


def decide(
    group: GroupState,
    open_now: dict[str, str],
    views: Callable[[str], AlertView | None],
    policy: GroupPolicy,
    send_resolved: bool,
    now: float,
    silence_hint: str = "",
    dashboard_url: str = "",
    incident: dict[str, Any] | None = None,
    held: Mapping[str, str] | None = None,
) -> Outcome:
    """Decide whether ``group`` is told something now, given the alerts open in it now.

    A new group is told after ``group_wait`` (at once by default); a change to a
    group already told waits until ``group_interval`` after the last message;
    an unchanged firing group is told again after ``repeat_interval``. A group
    telling an ``incident`` also changes when the incident's root does; ``held``
    maps its members that still fire but are no longer told in it (a symptom held after
    the resolve, an alert moved to the incident it merged into) to what to say instead of
    "resolved".
    """
    root = (incident or {}).get("root", {}).get("fingerprint") if incident else None
    moved = bool(incident) and bool(open_now) and bool(group.sent) and root != group.root
    send = _Sender(incident, dict(held or {}), silence_hint, dashboard_url, root)
    if open_now == group.sent and not moved:
        last = group.last_sent_at
        if open_now and last is not None and now >= last + policy.repeat_interval:
            return send(group, open_now, views, now, "repeat")
        if group.next_at is not None:
            return Outcome(replace(group, next_at=None), None, True)
        return Outcome(group if open_now else None, None, not open_now)
    if not group.sent:
        due = group.created_at + policy.group_wait
        reason = "new"
    else:
        due = (group.last_sent_at or group.created_at) + policy.group_interval
        reason = "changed" if open_now else "resolved"
    if not open_now and not send_resolved:
        return Outcome(None, None, True)
    if now < due:
        if group.next_at == due:
            return Outcome(group, None, False)
        return Outcome(replace(group, next_at=due), None, True)
    if any(
        status == "flapping" and group.sent.get(fp) != "flapping" for fp, status in open_now.items()
    ):
        reason = "flapping"
    return send(group, open_now, views, now, reason)


@dataclass(frozen=True)
class _Sender:
    incident: dict[str, Any] | None
    held: dict[str, str]
    silence_hint: str
    dashboard_url: str
    root: str | None

    def __call__(
        self,
        group: GroupState,
        open_now: dict[str, str],
        views: Callable[[str], AlertView | None],
        now: float,
        reason: str,
    ) -> Outcome:
        return _send(group, open_now, views, now, reason, self)


def _what(view: AlertView | None, told: dict[str, Any] | None) -> str:
    """Return ``Name k=v …`` for the changes list."""
    if view is not None:
        return f"{view.name} {where(view.labels)}".strip()
    if told:
        return f"{told.get('name', '')} {where(told.get('labels') or {})}".strip()
    return ""


def _send(
    group: GroupState,
    open_now: dict[str, str],
    views: Callable[[str], AlertView | None],
    now: float,
    reason: str,
    how: _Sender,
) -> Outcome:
    incident, held = how.incident, how.held
    changes: list[str] = []
    alerts: list[AlertView] = []
    first_seen = now
    remembered: dict[str, dict[str, Any]] = {}
    for fp in sorted(open_now):
        view = views(fp)
        assert view is not None, "an open alert has a state"
        alerts.append(view)
        remembered[fp] = asdict(view)
        if fp not in group.sent:
            first_seen = min(first_seen, view.active_since)
            if group.sent:
                changes.append(f"joined: {_what(view, None)}")
    for fp in sorted(set(group.sent) - set(open_now)):
        if fp in held:
            changes.append(f"{held[fp]}: {_what(views(fp), group.told.get(fp))}")
            continue
        current = views(fp)
        if current is None or current.state != "resolved":
            if fp not in group.told:
                continue
            # The engine forgot it (its rule was removed): tell the receiver it is over.
            current = replace(AlertView(**group.told[fp]), state="resolved", resolved_at=now)
        alerts.append(current)
        changes.append(f"resolved: {_what(current, None)}")
        first_seen = min(first_seen, current.resolved_at or now)
    if incident is not None and group.sent and how.root != group.root and open_now:
        root = incident.get("root") or {}
        changes.append(f"root is now {root.get('hop', '')}: {root.get('alert', '')}")
    if reason == "repeat":
        first_seen = now
        changes = []
    notification = Notification(
        receiver=group.receiver,
        group_key=group.key,
        group_labels=group.labels,
        status="firing" if open_now else "resolved",
        alerts=tuple(alerts),
        created_at=now,
        first_seen=first_seen,
        reason=reason,
        silence_hint=how.silence_hint if open_now else "",
        dashboard_url=how.dashboard_url,
        incident=incident,
        changes=tuple(changes),
    )
    if not open_now:
        return Outcome(None, notification, True)
    after = replace(
        group,
        sent=dict(open_now),
        told=remembered,
        last_sent_at=now,
        next_at=None,
        root=how.root,
    )
    return Outcome(after, notification, True)
