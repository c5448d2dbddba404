"""The probe book's verdicts, one scenario per row: latencies, losses, freshness and SLO events."""

from __future__ import annotations

import pytest

from lagwatch.collectors.probe.book import Probe, ProbeBook, nearest_rank

HOPS = ["tap", "topic", "group:indexer"]


def book(timeout: float = 5.0, threshold: float = 1.0) -> ProbeBook:
    return ProbeBook("orders", HOPS, ["group:indexer"], timeout, 60.0, threshold, 99.0)


def values(b: ProbeBook, now: float) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, s.labels): s.value for s in b.samples(now)}


def value(b: ProbeBook, now: float, name: str, **labels: str) -> float:
    labels = {"pipeline": "orders", **labels}
    return values(b, now)[(name, tuple(sorted(labels.items())))]


def send(b: ProbeBook, n: int, at: float) -> Probe:
    probe = Probe(f"lwprobe-{n:032x}", n, at)
    b.add(probe)
    return probe


def test_a_probe_through_every_hop_gives_latencies_and_good_freshness() -> None:
    b = book()
    p = send(b, 1, 100.0)
    for hop, at in (("tap", 100.01), ("topic", 100.05), ("group:indexer", 100.2)):
        assert b.saw(p.probe_id, hop, at)
    assert [x.probe_id for x in b.sweep(100.3)] == [p.probe_id]
    assert (
        abs(value(b, 100.3, "lagwatch_probe_latency_seconds", hop="topic", quantile="0.99") - 0.05)
        < 1e-9
    )
    assert abs(value(b, 100.3, "lagwatch_pipeline_freshness_seconds", method="probe") - 0.2) < 1e-9
    assert value(b, 100.3, "lagwatch_pipeline_slo_events_total", outcome="good") == 1
    assert value(b, 100.3, "lagwatch_probe_lost_total", hop="group:indexer") == 0


def test_a_stopped_group_loses_its_hop_only_and_freshness_climbs_from_the_first_stuck_probe() -> (
    None
):
    b = book(timeout=5.0)
    ok = send(b, 1, 100.0)
    for hop in HOPS:
        b.saw(ok.probe_id, hop, 100.1)
    for n in range(2, 12):  # the group stops after probe 1
        p = send(b, n, 100.0 + n - 1)
        b.saw(p.probe_id, "tap", 100.0 + n - 1 + 0.01)
        b.saw(p.probe_id, "topic", 100.0 + n - 1 + 0.02)
    b.sweep(111.0)
    # Probes 2..6 are older than the 5 s timeout: lost at the group hop, not elsewhere.
    assert value(b, 111.0, "lagwatch_probe_lost_total", hop="group:indexer") == 5
    assert value(b, 111.0, "lagwatch_probe_lost_total", hop="topic") == 0
    # Freshness counts from probe 2 (sent at 101), lost or not, and keeps climbing.
    assert value(b, 111.0, "lagwatch_pipeline_freshness_seconds", method="probe") == 10.0
    assert value(b, 150.0, "lagwatch_pipeline_freshness_seconds", method="probe") == 49.0
    assert value(b, 111.0, "lagwatch_probe_hop_freshness_seconds", hop="topic") < 0.05
    # Late probes count bad as soon as they pass the 1 s threshold, each once.
    assert value(b, 111.0, "lagwatch_pipeline_slo_events_total", outcome="bad") == 9
    b.sweep(200.0)
    assert value(b, 200.0, "lagwatch_pipeline_slo_events_total", outcome="bad") == 10


def test_sightings_of_unknown_or_repeated_probes_change_nothing() -> None:
    b = book()
    p = send(b, 1, 100.0)
    assert not b.saw("lwprobe-unknown", "tap", 100.1)
    assert b.saw(p.probe_id, "tap", 100.1)
    assert not b.saw(p.probe_id, "tap", 100.9)  # the first sighting counts
    assert p.latency("tap") is not None and abs(p.latency("tap") - 0.1) < 1e-9


def test_a_probe_whose_write_failed_is_forgotten() -> None:
    b = book()
    p = send(b, 1, 100.0)
    b.discard(p.probe_id)
    assert value(b, 100.5, "lagwatch_probe_sent_total") == 0
    assert (
        "lagwatch_pipeline_freshness_seconds",
        (("method", "probe"), ("pipeline", "orders")),
    ) not in values(b, 100.5)


def test_nearest_rank_quantiles() -> None:
    ordered = [float(i) for i in range(1, 101)]
    assert nearest_rank(ordered, 0.5) == 50.0
    assert nearest_rank(ordered, 0.99) == 99.0
    assert nearest_rank(ordered, 1.0) == 100.0
    assert nearest_rank([3.0], 0.5) == 3.0


@pytest.mark.parametrize(
    ("value", "expected", "why"),
    [
        (b'{"before":null,"after":{"probe_id":"x"},"source":{"ts_ms":1000},"op":"u","ts_ms":1250}',
         (1.0, 1.25), "JSON converter without schemas: the envelope itself"),
        (b'{"schema":{},"payload":{"after":{},"source":{"ts_ms":2000},"op":"c","ts_ms":2004}}',
         (2.0, 2.004), "with schemas.enable the envelope sits under payload"),
        (b'{"probe_id":"lwprobe-00"}', None, "a relay's plain row has no envelope"),
        (b"\x00\x00\x00\x00\x01\x02lwprobe-", None, "Avro: not JSON, the hop is not guessed"),
        (b'{"source":{"ts_ms":"soon"},"ts_ms":1}', None, "a timestamp that is not a number"),
    ],
)  # fmt: skip
def test_debezium_times_read_commit_and_connector_time(value, expected, why) -> None:
    from lagwatch.collectors.probe.watch import debezium_times

    assert debezium_times(value) == expected, why
