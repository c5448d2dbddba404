"""Seed a store with the recorded incident in sample_data/dashboard/incident.json.

The dataset describes entities (collectors, pipelines, groups, slots, binlog,
outbox) with keyframe curves, and silences; this module expands them into the
series and records lagwatch's collectors and probe write, ending at "now",
then runs the real alert engine over them, so alert state and history are
what the engine itself records. Tests read expected figures from the same
dataset (``final``; ``alerts_expected`` for what the engine should raise).

    python -m tests.support.seed --config lagwatch.yaml [--series 2000] [--hours 24]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lagwatch.alerts.builtin import effective_rules
from lagwatch.alerts.config import AlertsConfig
from lagwatch.alerts.engine import Engine
from lagwatch.alerts.replay import metrics_of
from lagwatch.alerts.silences import Silence, parse_matchers
from lagwatch.alerts.topology import PipelineLink, Topology
from lagwatch.alerts.view import ReplayView
from lagwatch.store import Record, Sample, Store, open_store

DATASET = Path(__file__).resolve().parents[2] / "sample_data" / "dashboard" / "incident.json"
# The alert engine is run over at most this many of the last hours of the dataset.
ALERT_HOURS = 6.0
# Where the seeded alerts' links point (the configs written below say the same).
DASHBOARD_URL = "http://127.0.0.1:8501"
RUNBOOKS = "https://runbooks.example.com/lagwatch"
QUANTILES = {"0.5": 1.0, "0.95": 1.5, "0.99": 2.2}
Curve = list[list[float]]


def load_dataset() -> dict[str, Any]:
    return json.loads(DATASET.read_text())


def final(curve: Curve | float) -> float:
    """Return a curve's value now (its last keyframe), or a constant as is."""
    return float(curve if isinstance(curve, int | float) else curve[-1][1])


def at(curve: Curve | float, offset: float, step: bool = False) -> float:
    """Return a curve's value ``offset`` seconds from now (negative: in the past)."""
    if isinstance(curve, int | float):
        return float(curve)
    if offset <= curve[0][0]:
        return float(curve[0][1])
    for (t0, v0), (t1, v1) in zip(curve, curve[1:], strict=False):
        if t0 <= offset <= t1:
            if step or t1 == t0:
                return float(v1 if offset >= t1 else v0)
            return v0 + (v1 - v0) * (offset - t0) / (t1 - t0)
    return float(curve[-1][1])


class Writer:
    """Expands curves into samples every ``every`` seconds over ``hours`` ending at ``now``."""

    def __init__(self, now: float, hours: float, every: float) -> None:
        self.now, self.every = now, every
        self.offsets = [-(hours * 3600) + i * every for i in range(int(hours * 3600 / every) + 1)]
        self.samples: list[Sample] = []

    def curve(
        self,
        name: str,
        curve: Curve | float,
        jitter: float = 0.0,
        step: bool = False,
        integer: bool = False,
        until: float = 0.0,
        note: str | None = None,
        **labels: object,
    ) -> None:
        rng = random.Random(zlib.crc32(f"{name}{sorted(labels.items())}".encode()))
        for offset in self.offsets:
            if offset > until:
                break
            value = at(curve, offset, step)
            if jitter and offset < 0:
                value *= 1 + rng.uniform(-jitter, jitter)
            if integer:
                value = float(round(value))
            last = offset == self.offsets[-1] or offset + self.every > until
            self.samples.append(
                Sample.of(name, value, self.now + offset, note if last else None, **labels)
            )


def _collectors(w: Writer, items: list[dict[str, Any]]) -> None:
    for c in items:
        labels = {"collector": c["name"], "origin": c["origin"]}
        w.curve("lagwatch_collector_up", c["up"], step=True, note=c.get("error"), **labels)
        w.curve("lagwatch_collector_duration_seconds", c["duration"], 0.2, **labels)


def _pipelines(w: Writer, items: list[dict[str, Any]]) -> None:
    for p in items:
        name = p["name"]
        w.curve("lagwatch_pipeline_freshness_seconds", p["freshness"], 0.05, pipeline=name)
        w.curve("lagwatch_pipeline_slo_threshold_seconds", p["slo"], pipeline=name)
        w.curve("lagwatch_pipeline_slo_objective_ratio", p["objective"] / 100, pipeline=name)
        for hop, seconds in p["hops"].items():
            until = p.get("hop_until", {}).get(hop, 0.0)
            for q, factor in QUANTILES.items():
                w.curve(
                    "lagwatch_probe_latency_seconds",
                    seconds * factor,
                    0.08,
                    until=until,
                    pipeline=name,
                    hop=hop,
                    quantile=q,
                )
        for hop, curve in p["lost"].items():
            w.curve("lagwatch_probe_lost_total", curve, integer=True, pipeline=name, hop=hop)


def _kafka(w: Writer, kafka: dict[str, Any]) -> None:
    cluster = kafka["cluster"]
    for g in kafka["groups"]:
        group, topic, n = g["group"], g["topic"], g["partitions"]
        skew = g.get("skew") or [1 + 0.1 * (i % 3) for i in range(n)]
        share = [s / sum(skew) for s in skew]
        ids = {"cluster": cluster, "group": group}
        w.curve("lagwatch_kafka_group_lag_messages", g["lag"], 0.05, integer=True, **ids)
        w.curve("lagwatch_kafka_group_max_lag_seconds", g["lag_seconds"], 0.05, **ids)
        w.curve("lagwatch_kafka_group_status", g["status"], step=True, note=g.get("note"), **ids)
        w.curve("lagwatch_kafka_group_members", g["members"], step=True, **ids)
        w.curve("lagwatch_kafka_group_state", g["state"], step=True, **ids)
        top = max(share)
        for i in range(n):
            part = {**ids, "topic": topic, "partition": str(i)}
            lag = [[t, v * share[i]] for t, v in g["lag"]]
            seconds = [[t, v * share[i] / top] for t, v in g["lag_seconds"]]
            first = w.offsets[0]
            end = [[first, 1_000_000.0], [0.0, 1_000_000.0 - g["rate"] * first]]
            committed = [[t, at(end, t) - at(lag, t)] for t, _ in [*lag, *end]]
            committed.sort()
            w.curve("lagwatch_kafka_partition_lag_messages", lag, 0.05, integer=True, **part)
            w.curve("lagwatch_kafka_partition_lag_seconds", seconds, 0.05, **part)
            w.curve("lagwatch_kafka_partition_committed_offset", committed, integer=True, **part)
            w.curve("lagwatch_kafka_partition_status", g["status"], step=True, **part)
            w.curve(
                "lagwatch_kafka_partition_log_end_offset",
                end,
                integer=True,
                cluster=cluster,
                topic=topic,
                partition=str(i),
            )


def _postgres(w: Writer, items: list[dict[str, Any]]) -> None:
    for src in items:
        source = src["source"]
        w.curve("lagwatch_pg_in_recovery", 0, step=True, source=source)
        w.curve("lagwatch_pg_wal_bytes_per_second", src["wal_rate"], 0.15, source=source)
        for s in src["slots"]:
            ids = {"source": source, "slot": s["slot"]}
            w.curve("lagwatch_pg_slot_active", s["active"], step=True, **ids)
            w.curve("lagwatch_pg_slot_wal_status", s["wal_status"], step=True, **ids)
            w.curve("lagwatch_pg_slot_retained_wal_bytes", s["retained"], 0.02, **ids)
            w.curve("lagwatch_pg_slot_confirmed_lag_bytes", s["confirmed_lag"], 0.02, **ids)
            w.curve("lagwatch_pg_slot_safe_wal_bytes", s["safe"], **ids)
            w.curve("lagwatch_pg_slot_inactive_seconds", s["inactive"], **ids)
            ttl = [[t, v / at(src["wal_rate"], t)] for t, v in s["safe"]]
            w.curve("lagwatch_pg_slot_time_to_loss_seconds", ttl, **ids)
        for r in src.get("replicas", []):
            for kind in ("write", "flush", "replay"):
                w.curve(
                    f"lagwatch_pg_replica_{kind}_lag_seconds",
                    r[kind],
                    0.2,
                    source=source,
                    replica=r["replica"],
                )


def _mysql(w: Writer, items: list[dict[str, Any]]) -> None:
    for src in items:
        source = src["source"]
        w.curve("lagwatch_mysql_binlog_files", src["files"], step=True, source=source)
        w.curve("lagwatch_mysql_binlog_bytes", src["bytes"], 0.01, source=source)
        w.curve("lagwatch_mysql_binlog_retention_seconds", src["retention"], source=source)
        w.curve("lagwatch_mysql_binlog_format_ok", src["format_ok"], step=True, source=source)
        w.curve(
            "lagwatch_mysql_binlog_row_image_ok",
            src["row_image_ok"],
            step=True,
            note=src.get("row_image_note"),
            source=source,
        )
        for r in src["readers"]:
            ids = {"source": source, "reader": r["reader"]}
            w.curve("lagwatch_mysql_binlog_reader_behind_bytes", r["behind"], 0.02, **ids)
            w.curve("lagwatch_mysql_binlog_purge_eta_seconds", r["purge_eta"], **ids)


def _outbox(w: Writer, items: list[dict[str, Any]]) -> None:
    for o in items:
        ids = {"source": o["source"], "table": o["table"]}
        w.curve("lagwatch_outbox_backlog_rows", o["backlog"], 0.1, **ids)
        w.curve("lagwatch_outbox_oldest_age_seconds", o["oldest"], 0.1, **ids)
        w.curve("lagwatch_outbox_published_per_second", o["rate"], 0.1, **ids)


def silences(dataset: dict[str, Any], now: float) -> list[Record]:
    """Return the dataset's silences as the alert engine stores them."""
    return [
        Silence(
            spec["id"],
            parse_matchers(spec["matchers"]),
            spec["author"],
            spec["comment"],
            now + spec["starts"],
            now + spec["ends"],
            now + spec["starts"],
        ).to_record()
        for spec in dataset["silences"]
    ]


def run_alerts(
    store: Store,
    samples: list[Sample],
    start: float,
    now: float,
    every: float,
    config: AlertsConfig,
    topology: Topology | None = None,
) -> Engine:
    """Run the alert engine over ``samples`` every ``every`` seconds from ``start`` to ``now``.

    What the daemon's engine would have recorded had it watched the incident:
    alert states, their history and the silences it honoured. It notifies no one.
    """
    view = ReplayView(samples)
    engine = Engine(store, config, topology, clock=lambda: start)
    engine.default_receivers = []
    engine.started = start
    for i in range(int((now - start) // every) + 1):
        at = start + i * every
        engine.evaluate(at, view.at(at))
    return engine


def topology(dataset: dict[str, Any]) -> Topology:
    """Return the dataset's pipelines as the engine sees them (their groups are their hops)."""
    cluster = dataset["kafka"]["cluster"]
    return Topology(
        [
            PipelineLink(
                p["name"],
                source=p.get("source"),
                cluster=cluster,
                groups=tuple(h.removeprefix("group:") for h in p["hops"] if h.startswith("group:")),
                freshness=float(p["slo"]),
                objective=float(p["objective"]),
                slot=p.get("slot"),
                reader=p.get("reader"),
                topic=p.get("topic"),
            )
            for p in dataset["pipelines"]
        ]
    )


def traces(dataset: dict[str, Any], now: float) -> list[Record]:
    """Return the probe traces the dataset describes."""
    out: list[Record] = []
    rng = random.Random(7)
    spec = dataset["traces"]
    for p in dataset["pipelines"]:
        for i in range(spec["count"]):
            start = now - 5 - i * spec["every"]
            spans = []
            for hop, seconds in p["hops"].items():
                until = p.get("hop_until", {}).get(hop)
                lost = until is not None and start - now > until
                end = None if lost else start + seconds * rng.uniform(0.8, 1.3)
                spans.append(
                    {"hop": hop, "start": start, "end": end, "status": "lost" if lost else "ok"}
                )
            seed_text = f"{p['name']}{i}"
            trace_id = f"{zlib.crc32(seed_text.encode()):08x}" * 4
            status = "lost" if any(s["end"] is None for s in spans) else "ok"
            body = {
                "pipeline": p["name"],
                "trace_id": trace_id,
                "start": start,
                "status": status,
                "spans": spans,
            }
            out.append(Record("probe.traces", trace_id, start, body))
    return out


def add_bench_groups(dataset: dict[str, Any], total_series: int) -> dict[str, Any]:
    """Return a copy of ``dataset`` with healthy groups added until it has ``total_series``."""
    grown = copy.deepcopy(dataset)
    have = len(series_keys(grown))
    per_group = 5 + 4 * 5  # 5 group series + 4 partitions × (4 per partition + log end)
    for i in range(max(0, -(-(total_series - have) // per_group))):
        lag = 10 + (i * 37) % 400
        grown["kafka"]["groups"].append(
            {
                "group": f"bench-g{i:04d}",
                "topic": f"bench.t{i:04d}",
                "partitions": 4,
                "rate": 5,
                "lag": [[-86400, lag], [0, lag]],
                "lag_seconds": [[-86400, lag / 20], [0, lag / 20]],
                "status": [[-86400, 0], [0, 0]],
                "members": 2,
                "state": 3,
            }
        )
    return grown


def samples(dataset: dict[str, Any], now: float, hours: float | None = None) -> Iterator[Sample]:
    """Yield every sample of the dataset, ending at ``now``."""
    w = Writer(now, hours or dataset["hours"], dataset["every"])
    _collectors(w, dataset["collectors"])
    _pipelines(w, dataset["pipelines"])
    _kafka(w, dataset["kafka"])
    _postgres(w, dataset["postgres"])
    _mysql(w, dataset["mysql"])
    _outbox(w, dataset["outbox"])
    yield from w.samples


def series_keys(dataset: dict[str, Any]) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Return the (name, labels) of every series the dataset makes."""
    return {(s.name, s.labels) for s in samples(dataset, time.time(), hours=0.01)}


def seed(
    store: Store,
    dataset: dict[str, Any],
    now: float | None = None,
    hours: float | None = None,
    alerts: AlertsConfig | None = None,
) -> int:
    """Write the dataset into ``store`` ending at ``now``, then run the alert engine over its last
    hours (at most ALERT_HOURS); return the number of samples."""
    now = time.time() if now is None else now
    hours = hours or dataset["hours"]
    config = alerts or AlertsConfig(dashboard_url=DASHBOARD_URL, runbook_url=RUNBOOKS)
    # What the rules read, and the freshness incidents quote.
    watched = set(metrics_of(effective_rules(config))) | {"lagwatch_pipeline_freshness_seconds"}
    start = now - min(hours, ALERT_HOURS) * 3600
    for_alerts: list[Sample] = []
    batch: list[Sample] = []
    written = 0
    for sample in samples(dataset, now, hours):
        batch.append(sample)
        if sample.name in watched and sample.ts >= start:
            for_alerts.append(sample)
        if len(batch) >= 50_000:
            store.write(batch)
            written += len(batch)
            batch = []
    store.write(batch)
    written += len(batch)
    store.put_records(silences(dataset, now) + traces(dataset, now))
    run_alerts(store, for_alerts, start, now, dataset["every"], config, topology(dataset))
    store.maintain(now)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="config whose store to seed")
    parser.add_argument("--series", type=int, default=0, help="grow to this many series")
    parser.add_argument("--hours", type=float, default=None)
    args = parser.parse_args()
    from lagwatch.config import load

    dataset = load_dataset()
    if args.series:
        dataset = add_bench_groups(dataset, args.series)
    config = load(args.config)
    store = open_store(config.store)
    try:
        print(f"wrote {seed(store, dataset, hours=args.hours, alerts=config.alerts)} samples")
    finally:
        store.close()


CONFIG = """\
store:
  url: sqlite:///{store}
sources:
  - {{name: orders-db, kind: postgres, dsn: "postgresql://lagwatch_monitor:{password}@127.0.0.1:5432/orders"}}
  - {{name: reporting-db, kind: postgres, dsn: "host=10.2.0.7 user=lagwatch password={password} dbname=reports"}}
  - {{name: legacy-db, kind: mysql, dsn: "mysql://monitor:{password}@127.0.0.1:3306/legacy"}}
kafka:
  - {{name: main, bootstrap: "127.0.0.1:9092"}}
alerts:
  dashboard_url: {dashboard}
  runbook_url: {runbooks}
"""
PASSWORD = "s3cret-Pa55word"


def write_config(folder: Path, empty: bool = False) -> Path:
    """Write a config naming the dataset's sources (or none, with ``empty``) and a store in ``folder``."""
    path = folder / "lagwatch.yaml"
    store = folder / "lagwatch.db"
    if empty:
        path.write_text(f"store:\n  url: sqlite:///{store}\n")
    else:
        path.write_text(
            CONFIG.format(
                store=store, password=PASSWORD, dashboard=DASHBOARD_URL, runbooks=RUNBOOKS
            )
        )
    return path


if __name__ == "__main__":
    main()


STALL = Path(__file__).resolve().parents[2] / "sample_data" / "alerts" / "demo_stall.json"


def load_stall() -> dict[str, Any]:
    """Return the demo's stall, as recorded in sample_data/alerts/demo_stall.json."""
    return json.loads(STALL.read_text())


def stall_samples(stall: dict[str, Any], end: float) -> list[Sample]:
    """Return every sample of the stall dataset ending at ``end``, oldest first."""
    every, seconds = float(stall["every"]), float(stall["seconds"])
    offsets = [-seconds + i * every for i in range(int(seconds / every) + 1)]
    out = []
    for spec in stall["series"]:
        notes = spec.get("notes", [])
        for offset in offsets:
            value = at(spec["curve"], offset, spec.get("step", False))
            if spec.get("integer"):
                value = float(round(value))
            note = next((text for lo, hi, text in notes if lo <= offset <= hi), None)
            out.append(Sample.of(spec["name"], value, end + offset, note, **spec["labels"]))
    out.sort(key=lambda sample: sample.ts)
    return out


def store_config_of(config: Path) -> Any:
    """Return the store section of a config file."""
    from lagwatch.config import load

    return load(config).store
