"""`lagwatch report capacity`: when a slot, a binlog, a lag or a backlog runs out of room."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from lagwatch.cli.common import EXIT_BAD_INPUT, EXIT_OK, EXIT_PROBLEM, add_command, load_config
from lagwatch.reports.capacity import Item, capacity_report
from lagwatch.store.types import format_bytes, format_duration, parse_duration

WORDS = {
    "lost": "ran out: now",
    "runs_out": "runs out in {eta}",
    "growing_no_limit": "growing, no limit",
    "not_enough_history": "not enough history",
    "catching_up": "caught up in {eta}",
    "not_growing": "not growing",
}


def _size(value: float, unit: str) -> str:
    if unit != "bytes":
        return f"{value:,.0f} {unit}" if abs(value) >= 10 else f"{value:.3g} {unit}"
    return format_bytes(value)


def _labels(item: Item) -> str:
    return ",".join(f"{k}={v}" for k, v in item.labels.items())


def _when(item: Item) -> str:
    eta = format_duration(item.eta_seconds) if item.eta_seconds is not None else "?"
    return WORDS[item.state].format(eta=eta)


def render_table(items: list[Item]) -> str:
    """The human table: one row per item, most urgent first."""
    header = ("KIND", "WHAT", "NOW", "RATE/H", "LIMIT", "WHEN", "HISTORY")
    rows = [header]
    for item in items:
        rate = "-" if item.rate_per_hour is None else _size(item.rate_per_hour, item.unit)
        if item.rate_per_hour is not None and item.rate_per_hour > 0:
            rate = "+" + rate
        limit = "-" if item.limit is None else _size(item.limit, item.unit)
        history = f"{item.points} pts / {format_duration(item.window_seconds)}"
        rows.append(
            (
                item.kind,
                _labels(item),
                _size(item.value, item.unit),
                rate,
                limit,
                _when(item),
                history,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    notes = [f"{_labels(i)}: {i.note}" for i in items if i.note]
    return "\n".join(line.rstrip() for line in lines + ([""] + notes if notes else []))


def _duration(args: argparse.Namespace, option: str) -> float | None:
    text = getattr(args, option)
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        print(f"error: --{option}: {exc}", file=sys.stderr)
        return None
    if seconds <= 0:
        print(f"error: --{option}: must be longer than 0, such as 6h", file=sys.stderr)
        return None
    return seconds


def run_capacity(args: argparse.Namespace, config) -> int:
    from lagwatch.store import StoreUnavailable, open_store

    window, horizon = _duration(args, "window"), _duration(args, "horizon")
    if window is None or horizon is None:
        return EXIT_BAD_INPUT
    store = open_store(config.store, read_only=True)
    try:
        items = capacity_report(store, time.time(), window)
    except StoreUnavailable as exc:
        print(
            f"error: cannot read the store: {exc} "
            "(check store.url in the config, or let `lagwatch run` collect first)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    finally:
        store.close()
    if args.json:
        json.dump([item.as_json() for item in items], sys.stdout)
        sys.stdout.write("\n")
    elif items:
        print(render_table(items))
    else:
        print(
            f"nothing to report: no slot, binlog, group or outbox series in the last {args.window}"
        )
    return EXIT_PROBLEM if any(i.runs_out_within(horizon) for i in items) else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    return run_capacity(args, load_config(args.config))


def register(sub: Any) -> None:
    """Add `report` to the `lagwatch` parser."""
    p = add_command(
        sub,
        "report",
        "`report capacity`: when slots, binlogs, lags and backlogs run out "
        "(exit 1 if within --horizon)",
        cmd_report,
    )
    p.add_argument("report", choices=["capacity"], help="capacity: trends and time to run out")
    p.add_argument("--window", default="6h", help="look-back window to fit (default: %(default)s)")
    p.add_argument(
        "--horizon", default="7d", help="exit 1 if it runs out sooner (default: %(default)s)"
    )
    p.add_argument(
        "--json", action="store_true", help="JSON list of items (keys in docs/operations.md)"
    )
