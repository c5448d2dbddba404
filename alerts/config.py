"""The `alerts:` section of the config: rules, receivers, routes, inhibition, pacing and delivery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from lagwatch.alerts.builtin import builtin_rules
from lagwatch.alerts.incidents import ROOT_ORDER, SYMPTOMS, IncidentPolicy
from lagwatch.alerts.inhibit import InhibitRule
from lagwatch.alerts.notifiers import NOTIFIER_KINDS
from lagwatch.alerts.routing import Route
from lagwatch.alerts.rules import RuleConfig
from lagwatch.store.types import Duration


class ReceiverBase(BaseModel):
    """`receivers: - name: team` with exactly one kind key (slack, pagerduty, log)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    send_resolved: bool = True

    @model_validator(mode="after")
    def _one_kind(self) -> ReceiverBase:
        given = [k for k in NOTIFIER_KINDS if getattr(self, k, None) is not None]
        if len(given) != 1:
            raise ValueError(
                f"receiver {self.name}: give exactly one of {', '.join(NOTIFIER_KINDS)} "
                f"(found {', '.join(given) or 'none'})"
            )
        return self

    def kind(self) -> tuple[str, Any]:
        """Return the receiver's kind and that kind's config."""
        name = next(k for k in NOTIFIER_KINDS if getattr(self, k, None) is not None)
        return name, getattr(self, name)


if TYPE_CHECKING:
    ReceiverConfig = ReceiverBase
else:
    # One optional key per notifier kind in the registry.
    ReceiverConfig = create_model(
        "ReceiverConfig",
        __base__=ReceiverBase,
        **{name: (kind.config | None, None) for name, kind in NOTIFIER_KINDS.items()},
    )


class FlapConfig(BaseModel):
    """An alert that fires or resolves ``changes`` times within ``window`` is held as flapping."""

    model_config = ConfigDict(extra="forbid")

    window: Duration = 900.0
    changes: int = Field(4, ge=2)


class IncidentsConfig(BaseModel):
    """Alerts tied to one pipeline hop or source are told as one incident (alerts.md#incidents)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    root_order: list[str] = Field(
        list(ROOT_ORDER), description="at the same hop, the first of these rules is the root"
    )
    symptoms: list[str] = Field(
        list(SYMPTOMS), description="lagging indicators: they never hold an incident open"
    )
    hold_symptoms_for: Duration = Field(
        1800.0, description="symptoms still firing after the resolve stay with it this long"
    )

    def policy(self) -> IncidentPolicy:
        return IncidentPolicy(
            tuple(self.root_order), tuple(self.symptoms), float(self.hold_symptoms_for)
        )


class DeliveryConfig(BaseModel):
    """How notifications are retried and when a receiver counts as broken."""

    model_config = ConfigDict(extra="forbid")

    timeout: Duration = 10.0
    retry_initial: Duration = 1.0
    retry_max: Duration = 60.0
    give_up_after: Duration = 86400.0
    broken_after: int = Field(3, ge=1, description="failed attempts in a row that mean broken")
    keep_history: Duration = 7 * 86400.0


class AlertsConfig(BaseModel):
    """Rules, receivers, the routing tree and how notifications are grouped and paced."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    builtin_rules: bool = True
    disable: list[str] = Field([], description="built-in rules to leave out, by name")
    rules: list[RuleConfig] = []
    receivers: list[ReceiverConfig] = []
    routes: list[Route] = []
    receiver: str | None = Field(
        None, description="where alerts no route matches go (default: every receiver)"
    )
    group_by: list[str] = ["alertname", "source", "cluster", "pipeline"]
    group_wait: Duration = 0.0
    group_interval: Duration = 60.0
    repeat_interval: Duration = 4 * 3600.0
    inhibit: list[InhibitRule] = []
    default_inhibit: bool = True
    flap: FlapConfig = FlapConfig()
    incidents: IncidentsConfig = IncidentsConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    evaluate_every: Duration = Field(
        15.0, description="evaluate at least this often even when no collection ends"
    )
    dashboard_url: str = ""
    runbook_url: str = ""

    @model_validator(mode="after")
    def _references(self) -> AlertsConfig:
        if not self.receivers:
            # Nothing is dropped: with no receiver configured, alerts go to the daemon's log.
            self.receivers = [ReceiverConfig.model_validate({"name": "log", "log": {}})]
        known = {r.name for r in builtin_rules()}
        typos = [n for n in self.disable if n not in known]
        if typos:
            raise ValueError(
                f"disable: no built-in rule is called {', '.join(typos)}; "
                f"the built-in rules are {', '.join(sorted(known))}"
            )
        names = [r.name for r in self.receivers]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"receivers: names must be unique, repeated: {', '.join(repeated)}")
        rules = [r.name for r in self.rules]
        repeated = sorted({n for n in rules if rules.count(n) > 1})
        if repeated:
            raise ValueError(f"rules: names must be unique, repeated: {', '.join(repeated)}")
        wanted = [self.receiver] if self.receiver else []
        stack = list(self.routes)
        while stack:
            route = stack.pop()
            if route.receiver:
                wanted.append(route.receiver)
            stack.extend(route.routes)
        unknown = sorted({w for w in wanted if w not in names})
        if unknown:
            raise ValueError(
                f"routes name receivers that are not defined: {', '.join(unknown)}; "
                f"add them under alerts.receivers (defined: {', '.join(names) or 'none'})"
            )
        return self
