"""The routing tree: which receivers get an alert, and which notification group it joins."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lagwatch.alerts.expr import Matcher, parse_matcher
from lagwatch.store.types import Duration


class Route(BaseModel):
    """A node of the routing tree: alerts matching ``match``/``match_re`` go to ``receiver``.

    The first matching route wins unless it says ``continue: true``; a route
    with child ``routes`` tries them first and falls back to its own receiver.
    Unset timing keys are inherited from the parent.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    receiver: str | None = None
    match: dict[str, str] = {}
    match_re: dict[str, str] = {}
    continue_: bool = Field(False, alias="continue")
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    routes: list[Route] = []

    @field_validator("match_re")
    @classmethod
    def _regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            parse_matcher(f"{name}=~{pattern}")
        return value

    def matchers(self) -> list[Matcher]:
        out = [Matcher(k, "=", v) for k, v in self.match.items()]
        return out + [Matcher(k, "=~", v) for k, v in self.match_re.items()]


@dataclass(frozen=True)
class GroupPolicy:
    """How one route groups and paces notifications."""

    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float


@dataclass(frozen=True)
class Destination:
    """One receiver an alert goes to, with the route's grouping policy and the route's path."""

    receiver: str
    policy: GroupPolicy
    route: str


def _inherit(route: Route, parent: GroupPolicy) -> GroupPolicy:
    return GroupPolicy(
        tuple(route.group_by) if route.group_by is not None else parent.group_by,
        route.group_wait if route.group_wait is not None else parent.group_wait,
        route.group_interval if route.group_interval is not None else parent.group_interval,
        route.repeat_interval if route.repeat_interval is not None else parent.repeat_interval,
    )


def _walk(
    routes: Sequence[Route], labels: Mapping[str, str], parent: GroupPolicy, path: str
) -> list[Destination]:
    found: list[Destination] = []
    for i, route in enumerate(routes):
        if not all(m.matches(labels) for m in route.matchers()):
            continue
        policy = _inherit(route, parent)
        here = f"{path}.{i}"
        below = _walk(route.routes, labels, policy, here)
        if below:
            found.extend(below)
        elif route.receiver is not None:
            found.append(Destination(route.receiver, policy, here))
        if not route.continue_:
            break
    return found


def route(
    routes: Sequence[Route],
    labels: Mapping[str, str],
    defaults: GroupPolicy,
    default_receivers: Sequence[str],
) -> list[Destination]:
    """Return where an alert with ``labels`` goes; unmatched alerts go to ``default_receivers``.

    An alert about a receiver (label ``receiver``) never goes to that receiver:
    a broken Slack webhook is reported through the others.
    """
    found = _walk(routes, labels, defaults, "routes")
    if not found:
        found = [Destination(r, defaults, "default") for r in default_receivers]
    about = labels.get("receiver")
    if about is not None:
        kept = [d for d in found if d.receiver != about]
        if not kept:
            others = [r for r in default_receivers if r != about]
            kept = [Destination(r, defaults, "fallback") for r in others]
        found = kept
    seen: set[tuple[str, str]] = set()
    unique = []
    for d in found:
        if (d.receiver, d.route) not in seen:
            seen.add((d.receiver, d.route))
            unique.append(d)
    return unique


def group_labels(labels: Mapping[str, str], group_by: Sequence[str]) -> dict[str, str]:
    """Return the labels that name an alert's group (``...`` groups by every label)."""
    if "..." in group_by:
        return dict(labels)
    return {k: labels[k] for k in group_by if labels.get(k)}


def group_key(destination: Destination, labels: Mapping[str, str]) -> str:
    """Return the stable key of the notification group an alert joins at ``destination``."""
    text = json.dumps(
        [
            destination.receiver,
            destination.route,
            group_labels(labels, destination.policy.group_by),
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def incident_key(destination: Destination, incident: str) -> str:
    """Return the key of the notification group that tells ``incident`` at ``destination``.

    It holds for the incident's life, so PagerDuty's dedup_key and Slack's message stay
    the same while alerts join and leave it.
    """
    text = json.dumps(
        [destination.receiver, destination.route, {"incident": incident}],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]
