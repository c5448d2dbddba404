"""Every dashboard page, run by Streamlit's AppTest against a seeded store and an empty one.

Given the recorded incident in sample_data/dashboard/incident.json (payments'
group ledger-writer stalled, an inactive slot, a failing collector), each page
shows the figures the dataset ends on; given an empty store, each page says so
and names the config key to add.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from lagwatch.dashboard import fmt
from lagwatch.store import open_store
from tests.support import seed
from tests.support.dashboard_app import (
    DATASET,
    metric,
    open_page,
    seeded_config,
    stored_alerts,
    table_with,
    texts,
)

PAGES = [
    "views/overview.py",
    "views/pipeline.py",
    "views/postgres.py",
    "views/mysql.py",
    "views/kafka.py",
    "views/outbox.py",
    "views/alerts.py",
    "views/capacity.py",
    "views/catalog.py",
    "views/connect.py",
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_config(tmp_path_factory.mktemp("seeded"), hours=6)


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("empty")
    config = seed.write_config(folder, empty=True)
    store = open_store(seed.store_config_of(config))
    store.latest()  # creates the schema, no data
    store.close()
    return config


def final_of(group: str, field: str) -> float:
    found = next(g for g in DATASET["kafka"]["groups"] if g["group"] == group)
    return seed.final(found[field])


# -- seeded ---------------------------------------------------------------------


def test_overview_shows_the_incident(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(seeded, PAGES[0], monkeypatch)
    told = [a for a in stored_alerts(seeded) if a.state == "firing" and not a.muted]
    assert len(told) == len(DATASET["alerts_expected"]["firing"])
    down = [c for c in DATASET["collectors"] if seed.final(c["up"]) == 0]
    not_ok = [g for g in DATASET["kafka"]["groups"] if seed.final(g["status"]) != 0]
    assert metric(at, "Alerts firing") == str(len(told))
    assert {r["alert"] for r in table_with(at, "summary")} == {a.rule for a in told}
    muted = len(DATASET["alerts_expected"]["muted"])
    assert f"{muted} more firing but silenced or inhibited" in texts(at)
    assert metric(at, "Collectors failing") == str(len(down))
    assert metric(at, "Groups not OK") == str(len(not_ok))
    payments = next(p for p in DATASET["pipelines"] if p["name"] == "payments")
    assert fmt.duration(seed.final(payments["freshness"])) in [m.value for m in at.metric]
    assert "group:ledger-writer" in texts(at)  # the hop that is behind is named
    # each tile draws its freshness trend as inline SVG (no chart library to load)
    assert sum("<svg" in m.value for m in at.markdown) == len(DATASET["pipelines"])
    worst = max(DATASET["kafka"]["groups"], key=lambda g: seed.final(g["lag_seconds"]))
    assert table_with(at, "messages")[0]["group"] == worst["group"]
    failing = table_with(at, "collector")
    assert [r["collector"] for r in failing] == [c["name"] for c in down]
    assert "Connection refused" in str(failing[0]["error"])


def test_pipeline_deep_link_opens_that_pipeline(
    seeded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(seeded, PAGES[1], monkeypatch, pipeline="payments")
    payments = next(p for p in DATASET["pipelines"] if p["name"] == "payments")
    assert at.selectbox(key="_w_pipeline").value == "payments"
    assert metric(at, "Freshness now") == fmt.duration(seed.final(payments["freshness"]))
    assert metric(at, "SLO") == fmt.duration(payments["slo"])
    lost = seed.final(payments["lost"]["group:ledger-writer"])
    assert any(f"{lost:,.0f} probes lost" in e.value for e in at.error)
    traces = table_with(at, "commit")
    assert len(traces) == DATASET["traces"]["count"]
    assert all(r["group:ledger-writer"] == "lost" for r in traces)
    assert float(metric(at, "Within SLO").rstrip("%")) < 100


def test_postgres_slots_and_masked_dsn(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(seeded, PAGES[2], monkeypatch, source="orders-db")
    slots = {r["slot"]: r for r in table_with(at, "slot")}
    spec = {s["slot"]: s for s in DATASET["postgres"][0]["slots"]}
    assert set(slots) == set(spec)
    old = slots["analytics_old"]
    assert old["retained"] == fmt.size(seed.final(spec["analytics_old"]["retained"]))
    assert old["wal_status"] == "extended" and old["active"] == "no"
    rate = seed.final(DATASET["postgres"][0]["wal_rate"])
    shortest = min(seed.final(s["safe"]) / rate for s in spec.values())
    assert metric(at, "Shortest time to loss") == fmt.duration(shortest)
    shown = texts(at)
    assert "lagwatch_monitor:***@" in shown and seed.PASSWORD not in shown
    assert "orders-standby-1" in [r["replica"] for r in table_with(at, "replica")]


def test_postgres_keyvalue_dsn_is_masked_too(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(seeded, PAGES[2], monkeypatch, source="reporting-db")
    shown = texts(at)
    assert "password=***" in shown and seed.PASSWORD not in shown
    assert any("Connection refused" in e.value for e in at.error)


def test_mysql_binlog_readers_and_checks(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(seeded, PAGES[3], monkeypatch)
    spec = DATASET["mysql"][0]
    assert metric(at, "Binlog files") == fmt.count(seed.final(spec["files"]))
    assert metric(at, "Binlog size") == fmt.size(seed.final(spec["bytes"]))
    assert metric(at, "Retention") == fmt.duration(spec["retention"])
    readers = {r["reader"]: r for r in table_with(at, "reader")}
    behind = seed.final(spec["readers"][0]["behind"])
    assert readers["dbz-inventory"]["behind"] == fmt.size(behind)
    checks = {r["check"]: r["result"] for r in table_with(at, "check")}
    assert checks == {"binlog format": "pass", "binlog row image": "FAIL"}


def test_kafka_groups_and_partition_drill_down(
    seeded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(seeded, PAGES[4], monkeypatch, group="ledger-writer")
    groups = DATASET["kafka"]["groups"]
    assert metric(at, "Groups") == str(len(groups))
    assert metric(at, "Not OK") == str(sum(1 for g in groups if seed.final(g["status"]) != 0))
    table = {r["group"]: r for r in table_with(at, "why")}
    assert table["ledger-writer"]["verdict"] == "STALL"
    assert table["ledger-writer"]["lag (messages)"] == final_of("ledger-writer", "lag")
    assert table["analytics-batch"]["state"] == "Empty"
    partitions = table_with(at, "partition")
    assert len(partitions) == next(g for g in groups if g["group"] == "ledger-writer")["partitions"]
    lag = sum(float(str(r["lag (messages)"])) for r in partitions)
    assert abs(lag - final_of("ledger-writer", "lag")) <= len(partitions)  # rounded per partition
    assert all(r["log end"] - r["committed"] == r["lag (messages)"] for r in partitions)  # type: ignore[operator]
    trend = table["ledger-writer"]["lag over the range"]
    assert len(trend) > 10 and trend[-1] > trend[0]  # it stalled within the range: lag grew
    # The zoomable charts are one click away and drawn only then.
    assert not at.get("plotly_chart")
    at.session_state["_kafka_charts"] = True
    at.run()
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(titles) == 4 and "ledger-writer: lag per partition" in "".join(titles)


def test_outbox_backlog(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(seeded, PAGES[5], monkeypatch)
    total = sum(seed.final(o["backlog"]) for o in DATASET["outbox"])
    assert metric(at, "Backlog (rows)") == fmt.count(total)
    rows = {r["table"]: r for r in table_with(at, "table")}
    assert set(rows) == {o["table"] for o in DATASET["outbox"]}


def seconds_of(text: str) -> float:
    """Return the seconds of a duration as fmt.duration writes it (2d04h, 45m09s)."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([dhms])", text)
    assert parts, f"not a duration: {text!r}"
    return float(sum(int(n) * units[u] for n, u in parts))


def test_capacity_shows_what_runs_out_first(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The slot whose retained WAL grows fastest toward its limit runs out first: its safe WAL
    # left, over the rate its retained WAL grew across the seeded 6 h.
    source = DATASET["postgres"][0]
    slot = max(
        source["slots"], key=lambda s: seed.final(s["retained"]) - seed.at(s["retained"], -6 * 3600)
    )
    rate = (seed.final(slot["retained"]) - seed.at(slot["retained"], -6 * 3600)) / (6 * 3600)
    expected = seed.final(slot["safe"]) / rate
    reader = DATASET["mysql"][0]["readers"][0]
    assert 86400 < seed.final(reader["purge_eta"]) < 7 * 86400  # runs out in 1d..7d

    at = open_page(seeded, "views/capacity.py", monkeypatch, horizon="7d")
    shown = metric(at, "Soonest to run out")
    assert abs(seconds_of(shown) - expected) < 0.05 * expected, (shown, expected)
    assert metric(at, "Run out within 7d") == "2"  # the slot and the reader
    lost = sum(1 for s in source["slots"] if seed.final(s["wal_status"]) == 3)
    assert metric(at, "Lost") == str(lost)
    rows = table_with(at, "when")
    first = rows[0]
    assert first["what"] == f"slot={slot['slot']}, source={source['source']}"
    assert first["state"] == "runs out" and first["when"] == f"in {shown}"
    assert first["open"] == f"/postgres?source={source['source']}&slot={slot['slot']}"
    assert first["limit"] == fmt.size(seed.final(slot["retained"]) + seed.final(slot["safe"]))
    by_what = {r["what"]: r for r in rows}
    ledger = by_what["cluster=main, group=ledger-writer"]
    assert ledger["state"] == "growing, no limit"
    assert ledger["open"] == "/kafka?cluster=main&group=ledger-writer"
    assert by_what[f"reader={reader['reader']}, source=legacy-db"]["state"] == "runs out"
    assert "First to run out" in texts(at) and slot["slot"] in texts(at)
    assert not at.get("plotly_chart")  # no chart library on load

    # A one-day horizon leaves only the slot inside it; the reader runs out later.
    at = open_page(seeded, "views/capacity.py", monkeypatch, horizon="1d")
    assert metric(at, "Run out within 1d") == "1"
    later = {r["what"]: r for r in table_with(at, "when")}
    assert later[f"reader={reader['reader']}, source=legacy-db"]["state"] == "runs out later"

    # The chart of one item draws only when its section is opened.
    at.session_state["_capacity_chart"] = True
    at.run()
    assert not at.exception
    assert slot["slot"] in at.get("plotly_chart")[0].proto.spec


# -- empty ----------------------------------------------------------------------

EMPTY_SAYS = {
    "views/overview.py": "pipelines:",
    "views/pipeline.py": "pipelines:",
    "views/postgres.py": "kind: postgres",
    "views/mysql.py": "kind: mysql",
    "views/kafka.py": "kafka:",
    "views/outbox.py": "sources[].outbox",
    "views/alerts.py": "Nothing is firing or pending.",
    "views/capacity.py": "Nothing to report yet",
    "views/catalog.py": "registries:",
    "views/connect.py": "connect:",
}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_an_empty_state(
    page: str, empty: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(empty, page, monkeypatch)
    assert EMPTY_SAYS[page] in texts(at)
    assert not at.error


@pytest.fixture
def no_store(tmp_path: Path) -> Iterator[Path]:
    config = tmp_path / "lagwatch.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'missing.db'}\n")
    yield config


@pytest.mark.parametrize("page", PAGES)
def test_every_page_says_when_there_is_no_store(
    page: str, no_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(no_store, page, monkeypatch)
    assert any("Cannot read the store" in w.value and "lagwatch run" in w.value for w in at.warning)
