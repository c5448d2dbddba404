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


class ReaderHealth(IntEnum):
    """`lagwatch_debezium_reader_health`: is a CDC connector really reading, from least to most bad.

    Connect's own state is not enough: a connector whose password rotated, or whose
    publication was recreated, stays RUNNING while nothing is read; so the source's side
    decides (is a reader connected, does its position move while changes wait).
    """

    OK = 0
    SNAPSHOT = 1
    PAUSED = 2
    NOT_CONNECTED = 3
    NOT_ADVANCING = 4
    FAILED = 5


class ConnectState(IntEnum):
    """`lagwatch_connect_{connector,task}_state`: a Kafka Connect connector's or task's state."""

    RUNNING = 0
    PAUSED = 1
    STOPPED = 2
    UNASSIGNED = 3
    RESTARTING = 4
    FAILED = 5


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
    REGISTRY_STATE = "registry.state"
    """Key: the registry's name; body: the sampler's positions per partition and its counters
    per topic, written together each cycle so a restart neither loses nor double-counts."""
    REGISTRY_VIOLATIONS = "registry.violations"
    """Key: ``<registry>/<topic>/<kind>``; body ``{"messages": [...]}``, the last few violating
    messages (partition, offset, timestamp, part, head: first 16 bytes in hex, reason)."""
    REGISTRY_AUDIT = "registry.audit"
    """Key: the registry's name; body: every subject's versions, level, mode and findings."""
    REGISTRY_SCHEMAS = "registry.schemas"
    """Key: ``<registry>/<subject>/<version>``; body ``{"id", "type", "schema"}``."""
    CONNECT_STATE = "connect.state"
    """Key: ``<cluster>/<connector>``; body: the connector's last states, restart counts, masked config."""


STALE_NOTE_PREFIX = "stale:"
"""A latest value whose note starts with this was not read in its collector's last cycle: it is
kept at the time it was read (``collectors/stale.py``), and must not be taken as current."""


def is_stale(note: str | None) -> bool:
    """True when a latest value's note marks it stale."""
    return bool(note) and str(note).startswith(STALE_NOTE_PREFIX)


OriginKind = Literal["source", "cluster", "registry"]


def origin(kind: OriginKind, name: str) -> str:
    """Return the origin ``kind:name`` that ties a collector's alerts to what it reads."""
    return f"{kind}:{name}"


ORIGIN_LABEL = "origin"
"""The label of `lagwatch_collector_up` (and its siblings) holding the collector's origins,
comma-separated, e.g. ``source:orders-db,cluster:main`` for a probe."""
