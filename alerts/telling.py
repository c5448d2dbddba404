"""How an alert is told: its rendered annotations, its value's unit, the silence hint."""

from __future__ import annotations

from collections.abc import Mapping

from lagwatch.alerts.config import AlertsConfig
from lagwatch.alerts.notifiers.base import AlertView
from lagwatch.alerts.rules import Rule, Threshold
from lagwatch.alerts.state import FIRING, AlertState
from lagwatch.alerts.template import Context, render


def unit_of(rule: Rule) -> str:
    """Return how a rule's values read: seconds, bytes, a burn ratio, or plain numbers."""
    c = rule.config
    if c.burn_rate is not None:
        return "ratio"
    if c.absent is not None or c.predict is not None:
        return "seconds"
    kind = rule.kind
    if isinstance(kind, Threshold) and kind.expr.function in ("increase", "rate", "delta"):
        return ""
    if isinstance(kind, Threshold) and kind.expr.aggregation == "count":
        return ""
    metric = kind.metrics()[0]
    return (
        "seconds" if metric.endswith("_seconds") else "bytes" if metric.endswith("_bytes") else ""
    )


class Teller:
    """Turns alert states into what notifications say, with the config's links."""

    def __init__(self, config: AlertsConfig, rules: Mapping[str, Rule]) -> None:
        self.config = config
        self.rules = rules
        self.units = {name: unit_of(rule) for name, rule in rules.items()}

    def annotations(self, state: AlertState) -> dict[str, str]:
        rule = self.rules.get(state.rule)
        if rule is None:
            return state.annotations
        ctx = Context(
            state.labels,
            state.value,
            state.threshold,
            state.note,
            self.config.dashboard_url.rstrip("/"),
            self.config.runbook_url,
            rule.config.for_,
        )
        out = {}
        for key, text in rule.config.annotations.items():
            value = render(text, ctx).strip()
            if key.endswith("_url") and not value.startswith(("http://", "https://")):
                continue  # no dashboard or runbook base configured: leave the link out
            out[key] = value
        return out

    def view_of(self, state: AlertState) -> AlertView:
        """Return how notifications tell ``state``."""
        return AlertView(
            fingerprint=state.fingerprint,
            name=state.rule,
            labels=state.labels,
            state=state.state,
            severity=state.labels.get("severity", "warning"),
            value=state.value,
            threshold=state.threshold,
            op=state.op,
            unit=self.units.get(state.rule, ""),
            active_since=state.active_since,
            fired_at=state.fired_at,
            resolved_at=state.resolved_at,
            flapping=state.flapping,
            note=state.note,
            annotations=self.annotations(state) if state.state == FIRING else state.annotations,
        )

    def silence_hint(self, labels: dict[str, str]) -> str:
        matchers = " ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "severity")
        return f'lagwatch silence add {matchers} --for 2h --comment "…"'
