"""What a notifier is given and what it answers: Notification, Digest, Result, the Notifier protocol."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from lagwatch.alerts.template import value_text

PD_SEVERITY = {"page": "critical", "ticket": "error", "warning": "warning", "info": "info"}


@dataclass(frozen=True)
class AlertView:
    """One alert as a notification tells it."""

    fingerprint: str
    name: str
    labels: dict[str, str]
    state: str
    severity: str
    value: float
    threshold: float | None
    op: str
    unit: str
    active_since: float
    fired_at: float | None = None
    resolved_at: float | None = None
    flapping: bool = False
    note: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or f"{self.name} {where(self.labels)}"

    def value_text(self) -> str:
        """Return e.g. ``4m12s (threshold > 5m00s)``."""
        return value_text(self.value, self.op, self.threshold, self.unit)


@dataclass(frozen=True)
class Notification:
    """Everything one receiver is told about one alert group at one moment."""

    receiver: str
    group_key: str
    group_labels: dict[str, str]
    status: str
    alerts: tuple[AlertView, ...]
    created_at: float
    first_seen: float
    reason: str = "new"
    silence_hint: str = ""
    dashboard_url: str = ""
    # The incident this group tells (see alerts/incidents.py ``Incident.snapshot``): its
    # root, headline and every member; None for a group of alerts not tied to a pipeline.
    incident: dict[str, Any] | None = None
    # What changed since the receiver was last told the group (joined, resolved, root).
    changes: tuple[str, ...] = ()
    # Where the receiver's earlier message of this group is (Slack: channel and ts), set by
    # the dispatcher when it sends, never stored in the outbox.
    thread: dict[str, str] | None = None

    @property
    def dedup_key(self) -> str:
        return f"lagwatch/{self.receiver}/{self.group_key}"

    @property
    def place(self) -> str:
        """Return the incident's root hop and pipelines, e.g. ``group:fraud-scorer (orders)``."""
        if self.incident is None:
            return ""
        root = self.incident.get("root") or {}
        pipelines = ", ".join(self.incident.get("pipelines") or [])
        return f"{root.get('hop', '')}" + (f" ({pipelines})" if pipelines else "")

    @property
    def headline(self) -> str:
        """Return what the incident's root and the others say, or the first alert's summary."""
        if self.incident is not None and self.incident.get("headline"):
            return str(self.incident["headline"])
        shown = self.firing or list(self.alerts)
        return shown[0].summary if shown else self.title

    @property
    def firing(self) -> list[AlertView]:
        return [a for a in self.alerts if a.state == "firing"]

    @property
    def resolved(self) -> list[AlertView]:
        return [a for a in self.alerts if a.state == "resolved"]

    @property
    def title(self) -> str:
        names = sorted({a.name for a in self.alerts})
        label = where(self.group_labels, skip=("alertname",))
        if self.incident is not None:
            label = ""
            root = (self.incident.get("root") or {}).get("alert")
            if root in names:  # the root's rule first
                names = [root, *[n for n in names if n != root]]
        flapping = any(a.flapping for a in self.firing)
        if self.status == "resolved" and self.incident and self.incident.get("merged_into"):
            head = "MERGED"
        elif self.status == "resolved":
            head = "RESOLVED"
        else:
            head = "FLAPPING" if flapping else "FIRING"
            if len(self.firing) > 1:
                head += f":{len(self.firing)}"
        if self.incident is not None:
            if not names:
                names = [m["alert"] for m in self.incident.get("members", [])][:3]
            return f"[{head}] {self.place}: {', '.join(dict.fromkeys(names))}"
        return f"[{head}] {', '.join(names)}" + (f" {label}" if label else "")

    @property
    def severity(self) -> str:
        order = list(PD_SEVERITY)  # most severe first
        firing = self.firing or list(self.alerts)
        return min(
            (a.severity for a in firing),
            key=lambda s: order.index(s) if s in order else 9,
            default="info",
        )

    @property
    def held(self) -> list[dict[str, Any]]:
        """Return the incident's members that still fire but are not told in it any more."""
        if self.incident is None:
            return []
        return [m for m in self.incident.get("members", []) if m.get("state") in ("held", "moved")]

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body.pop("thread")
        return body

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Notification:
        alerts = tuple(AlertView(**a) for a in body["alerts"])
        known = {k: v for k, v in body.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "alerts": alerts, "changes": tuple(body.get("changes") or ())})


@dataclass(frozen=True)
class Digest:
    """Several notifications to one rate-limited receiver, sent as one message."""

    parts: tuple[Notification, ...]

    @property
    def receiver(self) -> str:
        return self.parts[0].receiver


@dataclass(frozen=True)
class Result:
    """How a send went: ok; or retry (after ``retry_after`` if the receiver said); or permanent.

    ``thread`` is where the receiver put the message (Slack's channel and ts), for the
    dispatcher to give back with the group's later notifications.
    """

    ok: bool
    status: int | None = None
    detail: str = ""
    retry_after: float | None = None
    permanent: bool = False
    thread: dict[str, str] | None = None


class Notifier(Protocol):
    """Delivers notifications to one receiver.

    ``min_interval`` is the receiver's rate limit; ``merges`` says whether a
    backlog may be sent as one Digest instead of one message per group;
    ``threads`` whether it keeps one message per group that later ones update.
    """

    name: str
    min_interval: float
    merges: bool
    # True: a notification after the first of its group goes with ``thread`` (where the
    # receiver put the group's message, from ``Result.thread``) to update it in place.
    threads: bool

    def send(self, notification: Notification | Digest) -> Result: ...

    def close(self) -> None: ...


def where(labels: dict[str, str], skip: tuple[str, ...] = ("alertname", "severity")) -> str:
    """Return labels as ``k=v k=v`` for titles, leaving out ``skip``."""
    return " ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in skip)
