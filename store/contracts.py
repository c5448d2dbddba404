"""The numbers and names that pass between packages through the store, defined once.

Collectors write them, the alert engine, the dashboard and the reports read
them: the numeric statuses of status series, the record namespaces, and the
typed origin a collector's health series carries. Everything here is plain
data; it imports nothing.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal


class KafkaStatus(IntEnum):
    """`lagwatch_kafka_{group,partition}_status`: verdicts from least to most bad."""

    OK = 0
    WARN = 1
    ERR = 2
    STOP = 3
    STALL = 4
    REWIND = 5


class WalStatus(IntEnum):
    """`lagwatch_pg_slot_wal_status`: PostgreSQL's ``pg_replication_slots.wal_status``."""

    reserved = 0
    extended = 1
    unreserved = 2
    lost = 3


class GroupState(IntEnum):
    """`lagwatch_kafka_group_state`: the group coordinator's state (confluent-kafka's values)."""

    Unknown = 0
    PreparingRebalance = 1
    CompletingRebalance = 2
    Stable = 3
    Dead = 4
    Empty = 5


def names(status: type[IntEnum]) -> dict[int, str]:
    """Return value → name of a status enum, as the dashboard shows it."""
    return {int(s): s.name for s in status}


class Namespace:
    """Record namespaces (``Store.put_records``), one per kind of document."""

    ALERTS_STATE = "alerts.state"
    ALERTS_GROUPS = "alerts.groups"
    ALERTS_OUTBOX = "alerts.outbox"
    ALERTS_SENT = "alerts.sent"
    ALERTS_SILENCES = "alerts.silences"
    ALERTS_HISTORY = "alerts.history"
    ALERTS_INCIDENTS = "alerts.incidents"
    """Key: the incident's id; body: ``alerts.incidents.Incident`` (members, root, headline)."""
    ALERTS_THREADS = "alerts.threads"
    """Key: ``RECEIVER/GROUP``; body: where the receiver's message of a group is (Slack's
    channel and ts), so later notifications update it and reply in its thread."""
    PROBE_TRACES = "probe.traces"
    TAP_POSITION = "tap.position"
    """Key: the tap's name; body: ``TapPositionBody``."""
    KAFKA_STATE = "kafka.state"


OriginKind = Literal["source", "cluster"]


def origin(kind: OriginKind, name: str) -> str:
    """Return the origin ``kind:name`` that ties a collector's alerts to what it reads."""
    return f"{kind}:{name}"


ORIGIN_LABEL = "origin"
"""The label of `lagwatch_collector_up` (and its siblings) holding the collector's origins,
comma-separated, e.g. ``source:orders-db,cluster:main`` for a probe."""
