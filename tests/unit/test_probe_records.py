"""Records travel the runner path: a collector yields them, the runner stores them.

Covers the `probe.traces` record a finished probe becomes, and the freshness
estimate read back from stored lags.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from lagwatch.collectors.base import SourceUnreachable
from lagwatch.collectors.probe.book import Probe
from lagwatch.collectors.probe.config import PipelineConfig
from lagwatch.collectors.probe.pipeline import FreshnessEstimate
from lagwatch.collectors.probe.trace import ProbeTracer
from lagwatch.collectors.runner import Runner
from lagwatch.store import Record, Sample
from lagwatch.store.sqlite import SqliteStore


class RecordingCollector:
    name = "recorder"
    interval = 1.0
    timeout = 5.0

    def collect(self) -> Iterable[Sample | Record]:
        yield Sample.of("lagwatch_collector_samples", 1, time.time(), collector="x")
        yield Record(
            "tap.position",
            "orders-tap",
            123.0,
            {"file": "bin.000001", "pos": 4, "gtid": "0-1-9", "ts": 123.0},
        )

    def check(self) -> None: ...

    def close(self) -> None: ...


def test_runner_writes_records_a_collector_yields(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    result = Runner(store).run(RecordingCollector())
    assert (result.ok, result.samples, result.records) == (True, 1, 1)
    record = store.get_record("tap.position", "orders-tap")
    assert record is not None and record.body["gtid"] == "0-1-9"
    store.close()


def test_a_finished_probe_becomes_one_trace_record_with_a_span_per_hop() -> None:
    tracer = ProbeTracer("orders")
    probe_id, traceparent = tracer.start(1000.0)
    trace_id = probe_id.removeprefix("lwprobe-")
    assert traceparent.startswith(f"00-{trace_id}-") and traceparent.endswith("-01")
    probe = Probe(
        probe_id, 1, 1000.0, seen={"tap": 1000.01, "topic": 1000.05}, lost=["group:indexer"]
    )
    probe.partition, probe.offset, probe.slo_good = 0, 41, False
    tracer.finish(probe, ["tap", "topic", "group:indexer"], ["group:indexer"])
    (record,) = tracer.records.take()
    assert (record.namespace, record.key, record.ts) == ("probe.traces", trace_id, 1000.0)
    body = record.body
    assert (body["status"], body["slo"], body["freshness_seconds"]) == ("lost", "bad", None)
    assert [(h["hop"], h["status"]) for h in body["hops"]] == [
        ("tap", "ok"),
        ("topic", "ok"),
        ("group:indexer", "lost"),
    ]
    assert body["hops"][1]["latency_seconds"] == pytest.approx(0.05)
    root, *hops = body["spans"]
    assert (
        root["parent_span_id"] is None
        and root["name"] == "probe orders"
        and root["status"] == "error"
    )
    assert {h["parent_span_id"] for h in hops} == {root["span_id"]}
    assert hops[1]["attributes"]["messaging.kafka.offset"] == 41
    assert tracer.records.take() == []
    tracer.close()


def pipeline(**extra: object) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {"name": "orders", "source": "pg", "slot": "dbz", "topic": "t", "groups": ["a", "b"],
         "slo": {"freshness": "5s"}, **extra}
    )  # fmt: skip


def test_estimate_adds_source_lag_to_the_worst_group(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    now = time.time()
    store.write(
        [
            Sample.of(
                "lagwatch_pg_slot_confirmed_lag_bytes", 3_000_000, now, source="pg", slot="dbz"
            ),
            Sample.of("lagwatch_pg_wal_bytes_per_second", 1_000_000, now, source="pg"),
            Sample.of("lagwatch_kafka_group_max_lag_seconds", 2.0, now, cluster="main", group="a"),
            Sample.of("lagwatch_kafka_group_max_lag_seconds", 7.0, now, cluster="main", group="b"),
            Sample.of(
                "lagwatch_kafka_group_max_lag_seconds", 99.0, now, cluster="main", group="other"
            ),
        ]
    )
    estimate = FreshnessEstimate(pipeline(), "postgres", "main", store)
    out = {(s.name, s.labels): s for s in estimate.collect()}
    fresh = out[
        ("lagwatch_pipeline_freshness_seconds", (("method", "estimate"), ("pipeline", "orders")))
    ]
    assert fresh.value == pytest.approx(10.0) and fresh.note is None  # 3 MB ÷ 1 MB/s + 7 s
    assert (
        out[
            ("lagwatch_pipeline_slo_events_total", (("outcome", "bad"), ("pipeline", "orders")))
        ].value
        == 1
    )
    store.close()


def test_estimate_names_what_it_does_not_know(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    estimate = FreshnessEstimate(pipeline(), "postgres", "main", store)
    with pytest.raises(SourceUnreachable, match="no lag stored yet for any hop"):
        list(estimate.collect())
    store.write(
        [
            Sample.of(
                "lagwatch_kafka_group_max_lag_seconds", 1.5, time.time(), cluster="main", group="a"
            )
        ]
    )
    (fresh, *_rest) = list(estimate.collect())
    assert fresh.value == 1.5 and fresh.note == "unknown: source lag of dbz"
    store.close()
