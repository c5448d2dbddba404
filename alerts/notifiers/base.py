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

    @property
    def dedup_key(self) -> str:
        return f"lagwatch/{self.receiver}/{self.group_key}"

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
        flapping = any(a.flapping for a in self.firing)
        if self.status == "resolved":
            head = "RESOLVED"
        else:
            head = "FLAPPING" if flapping else "FIRING"
            if len(self.firing) > 1:
                head += f":{len(self.firing)}"
        return f"[{head}] {', '.join(names)}" + (f" {label}" if label else "")

    @property
    def severity(self) -> str:
        order = list(PD_SEVERITY)  # most severe first
        firing = self.firing or list(self.alerts)
        return min((a.severity for a in firing), key=lambda s: order.index(s) if s in order else 9)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Notification:
        alerts = tuple(AlertView(**a) for a in body["alerts"])
        return cls(**{**body, "alerts": alerts})


@dataclass(frozen=True)
class Digest:
    """Several notifications to one rate-limited receiver, sent as one message."""

    parts: tuple[Notification, ...]

    @property
    def receiver(self) -> str:
        return self.parts[0].receiver


@dataclass(frozen=True)
class Result:
    """How a send went: ok; or retry (after ``retry_after`` if the receiver said); or permanent."""

    ok: bool
    status: int | None = None
    detail: str = ""
    retry_after: float | None = None
    permanent: bool = False


class Notifier(Protocol):
    """Delivers notifications to one receiver.

    ``min_interval`` is the receiver's rate limit; ``merges`` says whether a
    backlog may be sent as one Digest instead of one message per group.
    """

    name: str
    min_interval: float
    merges: bool

    def send(self, notification: Notification | Digest) -> Result: ...

    def close(self) -> None: ...


def where(labels: dict[str, str], skip: tuple[str, ...] = ("alertname", "severity")) -> str:
    """Return labels as ``k=v k=v`` for titles, leaving out ``skip``."""
    return " ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in skip)
