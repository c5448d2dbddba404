"""Build the alert service from the `alerts:` config: notifiers, engine, dispatcher."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lagwatch.alerts.config import AlertsConfig
from lagwatch.alerts.engine import Engine
from lagwatch.alerts.notifiers import NOTIFIER_KINDS, Notifier
from lagwatch.alerts.outbox import Dispatcher, RetryPolicy
from lagwatch.alerts.service import AlertService
from lagwatch.alerts.topology import Topology
from lagwatch.store import Sample, Store


def build_notifiers(config: AlertsConfig) -> dict[str, Notifier]:
    """Return one notifier per configured receiver."""
    out: dict[str, Notifier] = {}
    for receiver in config.receivers:
        kind, settings = receiver.kind()
        out[receiver.name] = NOTIFIER_KINDS[kind].build(
            receiver.name, settings, config.delivery.timeout
        )
    return out


def build_service(
    config: AlertsConfig,
    store: Store,
    submit: Callable[[Sequence[Sample]], None],
    redact: Callable[[str], str] = lambda text: text,
    topology: Topology | None = None,
) -> AlertService:
    """Return the alert service (not started) for ``config`` over ``store``."""
    d = config.delivery
    dispatcher = Dispatcher(
        store,
        build_notifiers(config),
        RetryPolicy(d.retry_initial, d.retry_max, d.give_up_after, d.broken_after),
        redact=redact,
        keep_history=d.keep_history,
    )
    engine = Engine(store, config, topology)
    return AlertService(engine, dispatcher, submit, config.evaluate_every)
