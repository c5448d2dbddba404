"""`lagwatch rules test`: replay recorded samples through rules and report what would fire, and when."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from lagwatch.alerts.config import AlertsConfig
from lagwatch.alerts.engine import Engine
from lagwatch.alerts.history import INACTIVE, Change
from lagwatch.alerts.rules import RuleConfig, compile_rule
from lagwatch.alerts.topology import Topology
from lagwatch.alerts.view import ReplayView
from lagwatch.store import Sample, Store
from lagwatch.store.sqlite import SqliteStore


class RulesFile(BaseModel):
    """A rules file: ``rules:`` in the same syntax as ``alerts.rules``."""

    model_config = ConfigDict(extra="forbid")

    rules: list[RuleConfig]


def read_samples(lines: Iterable[str], source: str) -> list[Sample]:
    """Return samples from JSON lines: one sample object per line, or a ``snapshot --json`` array.

    Raise ValueError naming the line that is not a sample.
    """
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
            items = data if isinstance(data, list) else [data]
            for item in items:
                out.append(
                    Sample.of(
                        item["name"],
                        float(item["value"]),
                        float(item["ts"]),
                        item.get("note"),
                        **item.get("labels", {}),
                    )
                )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{source}:{number}: not a sample ({exc}); each line needs "
                '{"name": …, "labels": {…}, "value": …, "ts": unix seconds}'
            ) from None
    return out


def samples_from_store(
    store: Store, metrics: Sequence[str], start: float, end: float
) -> list[Sample]:
    """Return the raw samples of ``metrics`` between ``start`` and ``end``."""
    out: list[Sample] = []
    for name in metrics:
        for series in store.query_range(name, None, start, end, step=0, max_points=100_000):
            out.extend(Sample(name, series.labels, v, ts) for ts, v in series.points)
    return out


def metrics_of(rules: Sequence[RuleConfig]) -> list[str]:
    """Return every metric name the rules read."""
    return sorted({m for rule in rules for m in compile_rule(rule).kind.metrics()})


def replay(
    rules: Sequence[RuleConfig],
    samples: Sequence[Sample],
    step: float = 0.0,
    topology: Topology | None = None,
) -> list[Change]:
    """Evaluate ``rules`` at every sample time (or every ``step`` seconds) and return transitions."""
    view = ReplayView(samples)
    if not view.times:
        return []
    if step > 0:
        first, last = view.times[0], view.times[-1]
        times = [first + i * step for i in range(int((last - first) // step) + 1)]
    else:
        times = view.times
    config = AlertsConfig(builtin_rules=False, rules=list(rules))
    out: list[Change] = []
    with tempfile.TemporaryDirectory(prefix="lagwatch-rules-") as tmp:
        store = SqliteStore(Path(tmp) / "replay.db")
        try:
            engine = Engine(store, config, topology, clock=lambda: times[0])
            engine.default_receivers = []  # a replay judges, it never notifies
            engine.started = times[0]
            for now in times:
                engine.evaluate(now, view.at(now))
                # A pending alert that never fired goes quietly.
                out.extend(c for c in engine.changes if c.state != INACTIVE)
        finally:
            store.close()
    return out


def format_transition(t: Change) -> str:
    """Return one line: time, state, alert, value vs threshold, summary."""
    from datetime import UTC, datetime

    from lagwatch.alerts.template import _number

    when = datetime.fromtimestamp(t.ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = ",".join(
        f'{k}="{v}"' for k, v in sorted(t.labels.items()) if k not in ("alertname", "severity")
    )
    value = _number(t.value) if not math.isinf(t.value) else "∞"
    cond = f" {t.op} {_number(t.threshold)}" if t.threshold is not None else ""
    flag = " (flapping)" if t.flapping else ""
    return f"{when}  {t.state.upper():8} {t.rule}{{{labels}}}  value={value}{cond}{flag}  {t.summary}".rstrip()
