"""Every notifier kind, one line each: its config model and how to build it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lagwatch.alerts.notifiers import log, pagerduty, slack
from lagwatch.alerts.notifiers.base import Digest, Notification, Notifier, Result


@dataclass(frozen=True)
class NotifierKind:
    """A kind of receiver: the key under `receivers: - name: …`, its config and its builder."""

    config: type[Any]
    build: Callable[[str, Any, float], Notifier]


NOTIFIER_KINDS: dict[str, NotifierKind] = {
    "slack": NotifierKind(slack.SlackConfig, slack.build),
    "pagerduty": NotifierKind(pagerduty.PagerDutyConfig, pagerduty.build),
    "log": NotifierKind(log.LogConfig, log.build),
}

__all__ = ["NOTIFIER_KINDS", "Digest", "Notification", "Notifier", "NotifierKind", "Result"]
