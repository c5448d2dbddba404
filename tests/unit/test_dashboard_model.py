"""The dashboard's judgements, config and store sharing, as plain functions."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lagwatch.alerts.silences import parse_matchers, split_matchers
from lagwatch.dashboard import model
from lagwatch.dashboard.charts import sparkline
from lagwatch.dashboard.config import DashboardConfig
from lagwatch.dashboard.data import mask_dsn
from lagwatch.store import LatestValue, Sample
from lagwatch.store.sqlite import SqliteStore


@pytest.mark.parametrize(
    ("latency", "lost", "group_lag", "expected"),
    [
        # A hop losing probes wins even when another adds more latency: it stalled.
        ({"tap": 0.1, "group:a": 9.0}, {"group:b": 12}, {}, ("group:b", "12 probes lost")),
        # Without losses, the hop adding most over the previous one.
        ({"tap": 0.1, "topic": 0.2, "group:a": 4.2}, {}, {}, ("group:a", "adds 4s after topic")),
        # No probes at all: the most lagging group.
        ({}, {}, {"x": 3.0, "y": 40.0}, ("y", "40s behind")),
        # Nothing behind.
        ({}, {"tap": 0}, {"x": 0.0}, None),
    ],
)
def test_hop_behind(latency, lost, group_lag, expected) -> None:
    found = model.hop_behind(latency, lost, group_lag)
    assert (found.hop, found.reason) == expected if expected else found is None


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(0, 1), (60, 1)], None),  # up now
        ([(0, 1), (60, 0), (120, 0)], 60),  # went down at 60 and stayed
        ([(0, 0), (60, 1), (120, 0)], 120),  # flapped: the last fall counts
        ([], None),
    ],
)
def test_down_since(points, expected) -> None:
    assert model.down_since(points) == expected


def test_slo_report_weights_points_by_time() -> None:
    # 90 s good, then 10 s bad (the last point counts for 1 s).
    points = [(0.0, 1.0), (90.0, 9.0), (100.0, 9.0)]
    report = model.slo_report(points, slo=5.0, objective=99.0)
    assert report is not None
    assert report.good_fraction == pytest.approx(90 / 101)
    assert report.burn_rate == pytest.approx((11 / 101) / 0.01)


@pytest.mark.parametrize(
    ("label", "name"),
    [("0.5", "p50"), ("0.95", "p95"), ("p99", "p99"), ("max", "max"), ("99", "p99")],
)
def test_quantile_names(label: str, name: str) -> None:
    assert model.quantile_name(label) == name


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        (
            "postgresql://mon:pa55@db:5432/x?sslmode=require",
            "postgresql://mon:***@db:5432/x?sslmode=require",
        ),
        ("mysql://mon:p%40ss@db/legacy", "mysql://mon:***@db/legacy"),
        ("host=db user=mon password='a b' dbname=x", "host=db user=mon password=*** dbname=x"),
        ("postgresql://mon@db/x", "postgresql://mon@db/x"),
    ],
)
def test_dsns_are_shown_masked(dsn: str, shown: str) -> None:
    assert mask_dsn(dsn) == shown


def test_login_is_off_on_loopback_and_required_elsewhere() -> None:
    assert DashboardConfig().login.effective("127.0.0.1") == "none"
    with pytest.raises(ValueError, match="dashboard.login.password"):
        DashboardConfig(host="0.0.0.0")
    shared = DashboardConfig.model_validate({"host": "0.0.0.0", "login": {"password": "x"}})
    assert shared.login.effective(shared.host) == "password"
    with pytest.raises(ValueError, match="secrets_file"):
        DashboardConfig.model_validate({"login": {"method": "oidc"}})


def test_matchers_typed_in_one_box_split_like_cli_arguments() -> None:
    typed = 'group=ledger-writer\npipeline=~"pay.*, refunds", source!=legacy-db'
    texts = split_matchers(typed)
    assert texts == ["group=ledger-writer", "pipeline=~pay.*, refunds", "source!=legacy-db"]
    matchers = parse_matchers(texts)
    assert [m.op for m in matchers] == ["=", "=~", "!="]
    labels = {"group": "ledger-writer", "pipeline": "pay.*, refunds", "source": "orders-db"}
    assert all(m.matches(labels) for m in matchers)
    with pytest.raises(ValueError, match="No closing quotation"):
        split_matchers('group="open')


def test_one_read_only_store_serves_many_threads(tmp_path: Path) -> None:
    """The dashboard shares one read-only store between sessions (st.cache_resource)."""
    writer = SqliteStore(tmp_path / "s.db")
    writer.write([Sample.of("lagwatch_x", i, 1000.0 + i, n=str(i % 50)) for i in range(500)])
    shared = SqliteStore(tmp_path / "s.db", read_only=True)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(50):
                assert len(shared.latest("lagwatch_x")) == 50
                assert len(shared.query_range("lagwatch_x", {"n": "7"}, 0, 2000)) == 1
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shared.close()
    writer.close()
    assert not errors


def test_probe_traces_in_the_probes_own_form_become_spans() -> None:
    from lagwatch.dashboard.records import Trace
    from lagwatch.store import Record

    body = {
        "pipeline": "orders",
        "trace_id": "ab" * 16,
        "sent_at": 100.0,
        "status": "lost",
        "hops": [
            {"hop": "tap", "latency_seconds": 0.002, "status": "ok"},
            {"hop": "group:indexer", "latency_seconds": None, "status": "lost"},
        ],
        "spans": [{"name": "probe orders", "start": 100.0, "end": 100.5}],
    }
    trace = Trace.from_record(Record("probe.traces", "ab" * 16, 100.0, body))
    assert trace.start == 100.0 and trace.status == "lost"
    assert [(s.hop, s.end, s.status) for s in trace.spans] == [
        ("tap", pytest.approx(100.002), "ok"),
        ("group:indexer", None, "lost"),
    ]


def test_sparkline_spans_the_width_and_keeps_zero_at_the_bottom() -> None:
    svg = sparkline([2.0, 4.0, 3.0], height=40)
    line = svg.split('<polyline points="')[1].split('"')[0]
    points = [tuple(map(float, p.split(","))) for p in line.split()]
    assert [x for x, _ in points] == [0.0, 50.0, 100.0]
    assert points[1][1] == 1.0  # the highest value touches the top
    assert points[0][1] == 39 - 2 / 4 * 38  # scaled from zero, not from the lowest value
    assert sparkline([1.0]) == ""


def test_with_problem_partitions_only_the_stale_ok_ones_are_left_out() -> None:
    # Given a group's partition statuses as written with partition_series: problems
    status = {
        ("orders", "0"): LatestValue("s", (), 4.0, 100.0),  # STALL, written this cycle
        ("orders", "1"): LatestValue("s", (), 0.0, 100.0),  # turned OK this cycle
        ("orders", "2"): LatestValue("s", (), 0.0, 40.0),  # OK since an earlier cycle
        ("orders", "3"): LatestValue("s", (), 1.0, 40.0),  # WARN, written earlier
    }
    found = [*status, ("orders", "4")]  # 4: a lag series but no status
    kept = model.kafka_current_partitions(found, status, cycle=100.0)
    assert kept == [("orders", "0"), ("orders", "1"), ("orders", "3"), ("orders", "4")]
