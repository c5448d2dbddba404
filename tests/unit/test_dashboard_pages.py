"""Every dashboard page, run by Streamlit's AppTest against a seeded store and an empty one.

Given the recorded incident in sample_data/dashboard/incident.json (payments'
group ledger-writer stalled, an inactive slot, a failing collector), each page
shows the figures the dataset ends on; given an empty store, each page says so
and names the config key to add.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import fmt
from store import open_store
from tests import seed

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
PAGES = [
    "views/overview.py",
    "views/pipeline.py",
    "views/postgres.py",
    "views/mysql.py",
    "views/kafka.py",
    "views/outbox.py",
    "views/alerts.py",
]
DATASET = seed.load_dataset()


def seeded_config(folder: Path, hours: float) -> Path:
    config = seed.write_config(folder)
    store = open_store(seed.store_config_of(config))
    try:
        seed.seed(store, DATASET, hours=hours)
    finally:
        store.close()
    return config


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_config(tmp_path_factory.mktemp("seeded"), hours=6)


@pytest.fixture
def writable(tmp_path: Path) -> Path:
    """A seeded store of its own, for a test that writes silences."""
    return seeded_config(tmp_path, hours=1)


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("empty")
    config = seed.write_config(folder, empty=True)
    store = open_store(seed.store_config_of(config))
    store.latest()  # creates the schema, no data
    store.close()
    return config


def open_page(config: Path, page: str, monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    monkeypatch.setenv("LAGWATCH_CONFIG", str(config))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.run()
    if page != PAGES[0]:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; have {[m.label for m in at.metric]}"
    return found[0]


def table_with(at: AppTest, column: str) -> list[dict[str, object]]:
    for frame in at.dataframe:
        if column in frame.value.columns:
            return list(frame.value.to_dict("records"))
    raise AssertionError(f"no table with column {column!r}")


def texts(at: AppTest) -> str:
    parts = [
        e.value for kind in (at.markdown, at.caption, at.info, at.warning, at.error) for e in kind
    ]
    return "\n".join(str(p) for p in parts)


def final_of(group: str, field: str) -> float:
    found = next(g for g in DATASET["kafka"]["groups"] if g["group"] == group)
    return seed.final(found[field])


# -- seeded ---------------------------------------------------------------------


def test_overview_shows_the_incident(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(seeded, PAGES[0], monkeypatch)
    firing = [a for a in DATASET["alerts"] if a["state"] == "firing"]
    down = [c for c in DATASET["collectors"] if seed.final(c["up"]) == 0]
    not_ok = [g for g in DATASET["kafka"]["groups"] if seed.final(g["status"]) != 0]
    assert metric(at, "Alerts firing") == str(len(firing))
    assert metric(at, "Collectors failing") == str(len(down))
    assert metric(at, "Groups not OK") == str(len(not_ok))
    payments = next(p for p in DATASET["pipelines"] if p["name"] == "payments")
    assert fmt.duration(seed.final(payments["freshness"])) in [m.value for m in at.metric]
    assert "group:ledger-writer" in texts(at)  # the hop that is behind is named
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


def test_outbox_backlog(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(seeded, PAGES[5], monkeypatch)
    total = sum(seed.final(o["backlog"]) for o in DATASET["outbox"])
    assert metric(at, "Backlog (rows)") == fmt.count(total)
    rows = {r["table"]: r for r in table_with(at, "table")}
    assert set(rows) == {o["table"] for o in DATASET["outbox"]}


def test_alerts_firing_history_and_silences(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(seeded, PAGES[6], monkeypatch)
    states = [a["state"] for a in DATASET["alerts"]]
    assert metric(at, "Firing") == str(states.count("firing"))
    assert metric(at, "Pending") == str(states.count("pending"))
    assert metric(at, "Active silences") == "1"
    current = {r["alert"]: r for r in table_with(at, "silenced")}
    assert current["CollectorDown"]["silenced"] == "yes"
    assert current["KafkaGroupStalled"]["silenced"] == ""
    in_range = [h for h in DATASET["history"] if h["at"] >= -3600]  # the default range is 1h
    assert len(table_with(at, "change")) == len(in_range)
    assert 'collector="postgres:reporting-db"' in texts(at)


def test_a_silence_is_created_after_confirmation(
    writable: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(writable, PAGES[6], monkeypatch)
    at.text_area[0].input("group=ledger-writer")
    at.text_input[0].input("30m")
    at.text_input[1].input("sam")
    at.text_input[2].input("fix deploying")
    at.button(key="FormSubmitter:new_silence-Review silence…").click().run()
    assert not at.exception
    assert any("It matches 1 active alert" in m.value for m in at.markdown)
    at.button(key="_confirm_create").click().run()
    store = open_store(seed.store_config_of(writable), read_only=True)
    try:
        bodies = [r.body for r in store.list_records("alerts.silences")]
    finally:
        store.close()
    made = [b for b in bodies if b["author"] == "sam"]
    assert len(made) == 1
    assert made[0]["matchers"] == [{"name": "group", "value": "ledger-writer", "regex": False}]
    assert made[0]["ends_at"] - made[0]["starts_at"] == pytest.approx(1800)
    assert metric(at, "Active silences") == "2"


def test_a_silence_is_expired_after_confirmation(
    writable: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(writable, PAGES[6], monkeypatch)
    at.button(key="_expire_s-migration").click().run()
    assert any("Alerts it hides will notify again" in m.value for m in at.markdown)
    at.button(key="_confirm_expire").click().run()
    store = open_store(seed.store_config_of(writable), read_only=True)
    try:
        record = store.get_record("alerts.silences", "s-migration")
    finally:
        store.close()
    assert record is not None and record.body["ends_at"] <= time.time()
    assert metric(at, "Active silences") == "0"


def test_a_bad_silence_says_what_to_fix(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(seeded, PAGES[6], monkeypatch)
    at.text_area[0].input("just words")
    at.button(key="FormSubmitter:new_silence-Review silence…").click().run()
    assert any("not name=value" in e.value for e in at.error)


# -- empty ----------------------------------------------------------------------

EMPTY_SAYS = {
    "views/overview.py": "pipelines:",
    "views/pipeline.py": "pipelines:",
    "views/postgres.py": "kind: postgres",
    "views/mysql.py": "kind: mysql",
    "views/kafka.py": "kafka:",
    "views/outbox.py": "sources[].outbox",
    "views/alerts.py": "Nothing is firing or pending.",
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
