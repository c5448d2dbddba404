"""How the capacity report's items read on screen: state label, amounts, when, the page to open.

The items themselves come from ``reports.capacity`` (through ``data.capacity``),
the same as ``lagwatch report capacity`` prints; this module only words them.
"""

from __future__ import annotations

from urllib.parse import urlencode

from lagwatch.dashboard import fmt, model
from lagwatch.dashboard.pages import page_at
from lagwatch.reports.capacity import Item

HORIZONS = {"1d": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0}
DEFAULT_HORIZON = "7d"
# Look-back windows to fit over; 6h is `lagwatch report capacity`'s default.
WINDOWS = {"1h": 3600.0, "6h": 6 * 3600.0, "24h": 86400.0, "7d": 7 * 86400.0}
DEFAULT_WINDOW = "6h"

STATE = {
    "lost": "lost",
    "runs_out": "runs out",
    "growing_no_limit": "growing, no limit",
    "not_enough_history": "not enough history",
    "catching_up": "catching up",
    "not_growing": "not growing",
}
# A run-out beyond the horizon is named apart so its label can carry its own colour.
LATER = "runs out later"
HEALTH = {
    "lost": model.CRIT,
    "runs_out": model.CRIT,
    "growing_no_limit": model.WARN,
    "not_enough_history": model.UNKNOWN,
    "catching_up": model.OK,
    "not_growing": model.OK,
}
KIND = {
    "pg_slot": "PostgreSQL slot",
    "mysql_binlog": "MySQL binlog",
    "mysql_reader": "MySQL reader",
    "kafka_group": "Kafka group",
    "outbox": "outbox table",
}
# kind -> (page url_path, the labels that page selects by as query params)
PAGE_OF = {
    "pg_slot": ("postgres", ("source", "slot")),
    "mysql_binlog": ("mysql", ("source",)),
    "mysql_reader": ("mysql", ("source",)),
    "kafka_group": ("kafka", ("cluster", "group")),
    "outbox": ("outbox", ("source",)),
}


def later(item: Item, horizon: float) -> bool:
    """True when the item runs out, but beyond the horizon."""
    return item.state == "runs_out" and not item.runs_out_within(horizon)


def state(item: Item, horizon: float) -> str:
    return LATER if later(item, horizon) else STATE.get(item.state, item.state)


def health(item: Item, horizon: float) -> str:
    return model.OK if later(item, horizon) else HEALTH.get(item.state, model.UNKNOWN)


def amount(value: float | None, unit: str, signed: bool = False) -> str:
    """Return a value in its unit: bytes in binary units, counts with their unit name."""
    if value is None:
        return fmt.NONE
    text = fmt.size(value) if unit == "bytes" else f"{fmt.count(value)} {unit}"
    return f"+{text}" if signed and value > 0 else text


def what(item: Item) -> str:
    return ", ".join(f"{k}={v}" for k, v in item.labels.items())


def when(item: Item) -> str:
    """Return when it runs out (or catches up), humanised: 'in 4h05m', 'now'."""
    if item.state == "lost":
        return "now"
    if item.eta_seconds is None:
        return fmt.NONE
    eta = fmt.duration(item.eta_seconds)
    return f"caught up in {eta}" if item.state == "catching_up" else f"in {eta}"


def limit(item: Item) -> str:
    if item.limit is not None:
        return amount(item.limit, item.unit)
    return item.limit_name or fmt.NONE


def history(item: Item) -> str:
    return f"{item.points} pts / {fmt.duration(item.window_seconds)}"


def link(item: Item) -> str | None:
    """Return the dashboard path of the item's page with its selection, or None."""
    found = PAGE_OF.get(item.kind)
    if found is None:
        return None
    path, keys = found
    query = {k: item.labels[k] for k in keys if k in item.labels}
    return f"/{page_at(path).url_path}?{urlencode(query)}"


def soonest(items: list[Item]) -> Item | None:
    """Return the item that runs out first (not yet lost), or None."""
    running = [i for i in items if i.state == "runs_out" and i.eta_seconds is not None]
    return min(running, key=lambda i: i.eta_seconds or 0.0, default=None)
