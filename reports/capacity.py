"""The capacity report: per thing that can fill up, how full it is, how fast, when it runs out.

Reads the store only. Each item fits a least-squares line through one series over the
look-back window and extrapolates it to the item's limit (slots, binlog, binlog readers) or to
zero (Kafka lag, outbox backlog, which catch up rather than run out).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lagwatch.reports.fit import Trend, fit_line
from lagwatch.store import Labels, LatestValue, Store

# Fewer points than this and the report says "not enough history" rather than a number.
MIN_POINTS = 4
MAX_POINTS = 1000

# state -> how urgent (lower first in the table)
STATES = {
    "lost": 0,
    "runs_out": 0,
    "growing_no_limit": 1,
    "not_enough_history": 2,
    "catching_up": 3,
    "not_growing": 4,
}


@dataclass
class Item:
    """One thing that can fill up or fall behind, judged over the window."""

    kind: str
    labels: dict[str, str]
    metric: str
    value: float
    unit: str
    state: str
    rate_per_hour: float | None = None
    limit: float | None = None
    limit_name: str | None = None
    eta_seconds: float | None = None
    points: int = 0
    window_seconds: float = 0.0
    note: str = ""
    related: dict[str, float] = field(default_factory=dict)

    def runs_out_within(self, horizon: float) -> bool:
        return self.state in ("lost", "runs_out") and (self.eta_seconds or 0.0) <= horizon

    def as_json(self) -> dict[str, Any]:
        """The stable scripting form of ``lagwatch report capacity --json``."""
        return {
            "kind": self.kind,
            "labels": self.labels,
            "metric": self.metric,
            "value": self.value,
            "unit": self.unit,
            "rate_per_hour": self.rate_per_hour,
            "limit": self.limit,
            "limit_name": self.limit_name,
            "state": self.state,
            "eta_seconds": self.eta_seconds,
            "points": self.points,
            "window_seconds": self.window_seconds,
            "note": self.note,
            "related": self.related,
        }


def sort_key(item: Item) -> tuple[int, float, float]:
    eta = item.eta_seconds if item.eta_seconds is not None else math.inf
    return (STATES[item.state], eta, -(item.rate_per_hour or 0.0))


class _Window:
    """The store's series over [start, now], read once per metric name."""

    def __init__(self, store: Store, start: float, now: float) -> None:
        self.store, self.start, self.now = store, start, now
        self._ranges: dict[str, dict[Labels, list[tuple[float, float]]]] = {}
        self._latest: dict[str, dict[Labels, LatestValue]] = {}

    def points(self, name: str, labels: Labels) -> list[tuple[float, float]]:
        if name not in self._ranges:
            series = self.store.query_range(name, None, self.start, self.now, max_points=MAX_POINTS)
            self._ranges[name] = {s.labels: s.points for s in series}
        return self._ranges[name].get(labels, [])

    def latest(self, name: str) -> dict[Labels, LatestValue]:
        """Newest values of ``name`` written within the window (older ones are gone things)."""
        if name not in self._latest:
            self._latest[name] = {
                v.labels: v for v in self.store.latest(name) if v.ts >= self.start
            }
        return self._latest[name]

    def value(self, name: str, labels: Labels) -> float | None:
        found = self.latest(name).get(labels)
        return None if found is None else found.value


def judge(
    trend: Trend | None,
    value: float,
    limit: float | None = None,
    catches_up: bool = False,
) -> tuple[str, float | None]:
    """Return (state, seconds) for a value with its trend and, when known, its limit.

    Growth must stand out of the noise (slope beyond two standard errors) to count.
    ``catches_up`` items (lag, backlog) report the time until they reach zero instead.
    """
    if trend is None or trend.points < MIN_POINTS:
        return "not_enough_history", None
    if not trend.significant:
        return "not_growing", None
    if trend.slope > 0:
        if limit is None:
            return "growing_no_limit", None
        if value >= limit:
            return "lost", 0.0
        return "runs_out", trend.time_to(value, limit)
    if catches_up and value > 0:
        return "catching_up", trend.time_to(value, 0.0)
    return "not_growing", None


def _item(
    window: _Window,
    kind: str,
    metric: str,
    labels: Labels,
    unit: str,
    limit: float | None = None,
    limit_name: str | None = None,
    catches_up: bool = False,
) -> Item | None:
    value = window.value(metric, labels)
    if value is None:
        return None
    points = window.points(metric, labels)
    trend = fit_line(points)
    state, eta = judge(trend, value, limit, catches_up)
    return Item(
        kind=kind,
        labels=dict(labels),
        metric=metric,
        value=value,
        unit=unit,
        state=state,
        rate_per_hour=trend.slope * 3600 if trend and trend.points >= MIN_POINTS else None,
        limit=limit,
        limit_name=limit_name if limit is not None else None,
        eta_seconds=eta,
        points=len(points),
        window_seconds=trend.span if trend else 0.0,
    )


def _related(window: _Window, labels: Labels, names: Mapping[str, str]) -> dict[str, float]:
    out = {}
    for key, name in names.items():
        value = window.value(name, labels)
        if value is not None:
            out[key] = value
    return out


def _source(labels: Labels) -> Labels:
    return tuple((k, v) for k, v in labels if k == "source")


def pg_slots(window: _Window) -> list[Item]:
    items = []
    for labels in window.latest("lagwatch_pg_slot_retained_wal_bytes"):
        retained = window.value("lagwatch_pg_slot_retained_wal_bytes", labels) or 0.0
        safe = window.value("lagwatch_pg_slot_safe_wal_bytes", labels)
        limited = window.value("lagwatch_pg_slot_wal_limited", _source(labels))
        limit = retained + safe if safe is not None else None
        item = _item(
            window, "pg_slot", "lagwatch_pg_slot_retained_wal_bytes", labels, "bytes",
            limit, "max_slot_wal_keep_size",
        )  # fmt: skip
        if item is None:
            continue
        item.related = _related(
            window,
            labels,
            {
                "active": "lagwatch_pg_slot_active",
                "time_to_loss_seconds": "lagwatch_pg_slot_time_to_loss_seconds",
            },
        )
        rate = window.value("lagwatch_pg_wal_bytes_per_second", _source(labels))
        if rate is not None:
            item.related["wal_bytes_per_second"] = rate
        if window.value("lagwatch_pg_slot_wal_status", labels) == 3 or (
            safe is not None and safe <= 0
        ):
            item.state, item.eta_seconds = "lost", 0.0
            item.note = "slot lost or unreserved: its reader cannot resume"
        elif limit is None and limited != 1:
            item.note = "no limit: max_slot_wal_keep_size is unset, the disk fills instead"
        items.append(item)
    return items


def _binlog_item(window: _Window, kind: str, metric: str, labels: Labels) -> Item | None:
    """An item measured against MariaDB's max_binlog_total_size (0 or absent: no cap)."""
    cap = window.value("lagwatch_mysql_binlog_retention_bytes", _source(labels))
    return _item(window, kind, metric, labels, "bytes", cap or None, "max_binlog_total_size")


def mysql_binlog(window: _Window) -> list[Item]:
    items = []
    for labels in window.latest("lagwatch_mysql_binlog_bytes"):
        item = _binlog_item(window, "mysql_binlog", "lagwatch_mysql_binlog_bytes", labels)
        if item is None:
            continue
        item.related = _related(
            window, labels, {"bytes_per_second": "lagwatch_mysql_binlog_bytes_per_second"}
        )
        if item.limit is None:
            item.note = (
                "no size limit: the server keeps binlog until expiry, the disk fills instead"
            )
        else:
            item.note = "at the limit the oldest files are purged, readers behind them are lost"
        items.append(item)
    return items


def mysql_readers(window: _Window) -> list[Item]:
    items = []
    for labels in window.latest("lagwatch_mysql_binlog_reader_behind_bytes"):
        item = _binlog_item(
            window, "mysql_reader", "lagwatch_mysql_binlog_reader_behind_bytes", labels
        )
        if item is None:
            continue
        eta = _purge_eta(window, labels)
        if eta is not None:
            item.related["purge_eta_seconds"] = eta
            if item.eta_seconds is None or eta < item.eta_seconds:
                item.state, item.eta_seconds = "runs_out", eta
                item.limit_name = "binlog expiry"
                item.note = "the reader stays on one file while expiry approaches"
        if window.value("lagwatch_mysql_binlog_reader_lost", labels) == 1:
            item.state, item.eta_seconds = "lost", 0.0
            item.note = "the server no longer has what the reader needs"
        items.append(item)
    return items


def _purge_eta(window: _Window, labels: Labels) -> float | None:
    """Time until expiry purges the reader's file, when the reader is not leaving it.

    The collector's ETA counts down one second per second while the reader stays on the
    same file; a reader moving on makes it jump up, and then expiry is no threat.
    """
    name = "lagwatch_mysql_binlog_purge_eta_seconds"
    latest = window.latest(name).get(labels)
    trend = fit_line(window.points(name, labels))
    if latest is None or trend is None or trend.points < MIN_POINTS or trend.slope > -0.5:
        return None
    return max(latest.value - (window.now - latest.ts), 0.0)


# Lag and backlog have no limit in the store: they grow (fall behind) or catch up.
CATCH_UP = [
    (
        "kafka_group",
        "lagwatch_kafka_group_lag_messages",
        "messages",
        {"max_lag_seconds": "lagwatch_kafka_group_max_lag_seconds"},
        "lag grows: the group falls further behind",
    ),
    (
        "outbox",
        "lagwatch_outbox_backlog_rows",
        "rows",
        {
            "oldest_age_seconds": "lagwatch_outbox_oldest_age_seconds",
            "created_per_second": "lagwatch_outbox_created_per_second",
            "published_per_second": "lagwatch_outbox_published_per_second",
        },
        "backlog grows: rows are created faster than published",
    ),
]


def catch_up_items(window: _Window) -> list[Item]:
    items = []
    for kind, metric, unit, related, growing in CATCH_UP:
        for labels in window.latest(metric):
            item = _item(window, kind, metric, labels, unit, catches_up=True)
            if item is None:
                continue
            item.related = _related(window, labels, related)
            if item.state == "growing_no_limit":
                item.note = growing
            items.append(item)
    return items


def capacity_report(store: Store, now: float, window: float) -> list[Item]:
    """Return every item, most urgent first (soonest run-out at the top)."""
    seen = _Window(store, now - window, now)
    items = [
        *pg_slots(seen),
        *mysql_binlog(seen),
        *mysql_readers(seen),
        *catch_up_items(seen),
    ]
    return sorted(items, key=sort_key)
