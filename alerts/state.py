"""An alert's life: inactive → pending → firing → resolved, with flap detection, as a pure step."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from lagwatch.alerts.rules import Observation
from lagwatch.alerts.template import value_text
from lagwatch.store.contracts import Namespace

NAMESPACE = Namespace.ALERTS_STATE
PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"


@dataclass(frozen=True)
class FlapPolicy:
    """An alert that fires or resolves ``changes`` times within ``window`` seconds is flapping."""

    window: float = 900.0
    changes: int = 4


@dataclass(frozen=True)
class Timing:
    """A rule's ``for`` and ``keep_firing_for``."""

    for_: float = 0.0
    keep_firing_for: float = 0.0


def fingerprint(labels: dict[str, str]) -> str:
    """Return a stable short id for a label set."""
    text = json.dumps(labels, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AlertState:
    """What the engine remembers of one alert; persisted as a store record.

    ``condition`` is the state the rule's data alone would give; ``state`` is
    what receivers are told, which stays firing while the alert flaps.
    """

    fingerprint: str
    rule: str
    labels: dict[str, str]
    state: str
    condition: str
    active_since: float
    value: float = float("nan")
    threshold: float | None = None
    op: str = ""
    note: str | None = None
    fired_at: float | None = None
    resolved_at: float | None = None
    cleared_since: float | None = None
    changes: tuple[float, ...] = ()
    flapping: bool = False
    muted: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    # How the value reads (seconds, bytes, ratio or plain), so readers of the record need no rule.
    unit: str = ""

    def evolve(self, **changes: Any) -> AlertState:
        """Return a copy with ``changes`` (what ``dataclasses.replace`` gives, without its
        per-call checks: the engine makes thousands a cycle; a misspelt name still fails)."""
        unknown = changes.keys() - self.__dataclass_fields__.keys()
        if unknown:
            raise TypeError(f"AlertState has no field {', '.join(sorted(unknown))}")
        new = object.__new__(AlertState)
        fields = new.__dict__
        fields.update(self.__dict__)
        fields.update(changes)
        return new

    def to_json(self) -> dict[str, Any]:
        body = {name: getattr(self, name) for name in self.__dataclass_fields__}
        body["changes"] = list(self.changes)
        return body

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> AlertState:
        known = {k: v for k, v in body.items() if k in cls.__dataclass_fields__}
        known["changes"] = tuple(known.get("changes", ()))
        if known.get("value") is None:
            known["value"] = float("nan")
        return cls(**known)

    @property
    def since(self) -> float:
        """Return when the shown state began: fired, resolved, or first seen while pending."""
        if self.state == FIRING and self.fired_at is not None:
            return self.fired_at
        if self.state == RESOLVED and self.resolved_at is not None:
            return self.resolved_at
        return self.active_since

    def value_text(self) -> str:
        """Return the value against the threshold, e.g. ``25m12s (threshold > 5m)``."""
        return value_text(self.value, self.op, self.threshold, self.unit)

    def key_fields(self) -> tuple[object, ...]:
        """Return what must be persisted at once when it changes (values may wait)."""
        return (self.state, self.condition, self.flapping, self.muted, self.fired_at,
                self.resolved_at, self.cleared_since, self.changes)  # fmt: skip


def _condition(
    before: AlertState, active: bool, obs_ts: float, timing: Timing, now: float
) -> tuple[str, float, float | None]:
    """Return the next condition state, its active_since and cleared_since (no flapping here)."""
    since, cleared = before.active_since, before.cleared_since
    if before.condition == PENDING:
        if not active:
            return "", since, None
        return (FIRING if now - since >= timing.for_ else PENDING), since, None
    if before.condition == FIRING:
        if active:
            return FIRING, since, None
        cleared = cleared if cleared is not None else now
        return (RESOLVED if now - cleared >= timing.keep_firing_for else FIRING), since, cleared
    # resolved: the condition may come back and walk through pending again
    if not active:
        return RESOLVED, since, None
    since = min(obs_ts, now)
    return (FIRING if now - since >= timing.for_ else PENDING), since, None


def step(
    before: AlertState | None,
    obs: Observation | None,
    rule: str,
    labels: dict[str, str],
    timing: Timing,
    flap: FlapPolicy,
    now: float,
    known: str | None = None,
) -> AlertState | None:
    """Return the alert's state after one evaluation, or None when there is nothing to remember.

    ``known`` is the fingerprint of ``labels`` when the caller has it already."""
    active = obs is not None
    if before is None:
        if obs is None:
            return None
        since = min(obs.ts, now)
        fp = known if known is not None else fingerprint(labels)
        before = AlertState(fp, rule, labels, "", PENDING, since)
        condition = FIRING if now - since >= timing.for_ else PENDING
        cleared = None
    else:
        condition, since, cleared = _condition(before, active, obs.ts if obs else now, timing, now)

    changes = tuple(t for t in before.changes if now - t <= flap.window)
    entered_firing = condition == FIRING and before.condition != FIRING
    entered_resolved = condition == RESOLVED and before.condition == FIRING
    if entered_firing or entered_resolved:
        changes = (*changes, now)
    flapping = before.flapping
    if not flapping and len(changes) >= flap.changes:
        flapping = True
    elif flapping and (not changes or now - changes[-1] >= flap.window):
        flapping = False

    shown: str | None
    if flapping or (before.state == FIRING and condition == PENDING):
        shown = FIRING  # receivers were told it fires; hold that until it settles
    elif condition in ("", RESOLVED):
        told = before.state == FIRING or (before.state == RESOLVED and bool(changes))
        shown = RESOLVED if told else None
    else:
        shown = condition
    if shown is None or (shown == RESOLVED and before.state == RESOLVED and not changes):
        return None  # never fired, or resolved longer ago than flap history needs
    fired_at, resolved_at = before.fired_at, before.resolved_at
    if shown == FIRING and before.state != FIRING:
        fired_at, resolved_at = now, None
    elif shown == RESOLVED and before.state != RESOLVED:
        resolved_at = now
    observed: dict[str, Any] = (
        {"value": obs.value, "threshold": obs.threshold, "op": obs.op, "note": obs.note}
        if obs is not None
        else {}
    )
    return before.evolve(
        **observed,
        state=shown,
        condition=condition or RESOLVED,
        active_since=since,
        cleared_since=cleared,
        fired_at=fired_at,
        resolved_at=resolved_at,
        changes=changes,
        flapping=flapping,
    )
