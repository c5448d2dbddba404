"""The PostgreSQL and MySQL pages link a slot or binlog reader a Debezium connector owns to
its Connect page, and the Pipeline page shows the connector hop of a pipeline whose
`reader:` names one — run by Streamlit's AppTest on a store written here."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lagwatch.store import Sample
from tests.support.dashboard_app import config_with, open_page, texts

CONFIG = """\
store:
  url: sqlite:///{store}
sources:
  - {{name: orders-db, kind: postgres, dsn: "postgresql://m@127.0.0.1/db"}}
  - name: legacy
    kind: mysql
    dsn: "mysql://m@127.0.0.1:3306/db"
    readers: [{{name: dbz, connect: cdc, connector: legacy-cdc}}, {{name: tap, kind: tap}}]
kafka:
  - {{name: main, bootstrap: "127.0.0.1:9092"}}
connect:
  - {{name: cdc, url: "http://127.0.0.1:8083"}}
pipelines:
  - {{name: orders, source: orders-db, reader: {{connect: cdc, connector: orders-cdc}},
     topic: dbz.orders, groups: [indexer], slo: {{freshness: 30s}}}}
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("connector-links")
    now = time.time()
    pg = {"source": "orders-db"}
    cdc = {"cluster": "cdc", "connector": "orders-cdc"}
    samples = [
        Sample.of("lagwatch_pg_slot_retained_wal_bytes", 1e6, now, **pg, slot="dbz_orders"),
        Sample.of("lagwatch_pg_slot_active", 1, now, **pg, slot="dbz_orders"),
        Sample.of("lagwatch_pg_slot_retained_wal_bytes", 2e6, now, **pg, slot="analytics"),
        Sample.of("lagwatch_pg_slot_active", 0, now, **pg, slot="analytics"),
        Sample.of("lagwatch_debezium_source_linked", 1, now, **cdc, **pg, slot="dbz_orders"),
        Sample.of("lagwatch_connect_connector_state", 0, now, **cdc),
        Sample.of("lagwatch_debezium_source_lag_bytes", 52_000, now, **cdc),
        Sample.of("lagwatch_debezium_source_lag_seconds", 40, now, **cdc),
        Sample.of(
            "lagwatch_debezium_reader_health", 4, now, note="position lsn 77 has not moved for 3m",
            **cdc, **pg, slot="dbz_orders",
        ),
        Sample.of("lagwatch_pipeline_freshness_seconds", 42, now, pipeline="orders", method="estimate"),
        Sample.of("lagwatch_mysql_binlog_files", 3, now, source="legacy"),
        Sample.of("lagwatch_mysql_binlog_reader_behind_bytes", 10, now, source="legacy", reader="dbz"),
        Sample.of("lagwatch_mysql_binlog_reader_behind_bytes", 20, now, source="legacy", reader="tap"),
    ]  # fmt: skip
    return config_with(folder, CONFIG, samples)


def links(at: object) -> list[tuple[str, str]]:
    found = at.get("page_link")  # type: ignore[attr-defined]
    return [(e.proto.label, e.proto.page) for e in found]


def test_the_postgres_page_links_a_connectors_slot_to_the_connect_page(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(config, "views/postgres.py", monkeypatch, source="orders-db")
    found = links(at)
    mine = [f for f in found if "connector" in f[0]]
    assert [label for label, _ in mine] == [
        "Slot dbz_orders is read by connector orders-cdc on cdc: Connect page →"
    ], found
    assert all("connect" in page for _, page in mine)
    assert not any("analytics" in label for label, _ in found), "no connector reads that slot"


def test_the_mysql_page_links_a_connectors_reader_to_the_connect_page(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(config, "views/mysql.py", monkeypatch, source="legacy")
    mine = [label for label, _ in links(at) if "connector" in label]
    assert mine == ["Reader dbz is read by connector legacy-cdc on cdc: Connect page →"]


def test_the_pipeline_page_shows_its_connector_hop(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(config, "views/pipeline.py", monkeypatch, pipeline="orders")
    shown = texts(at)
    assert "orders-db → connector orders-cdc (cdc) → dbz.orders → indexer" in shown
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Connect state"] == "RUNNING"
    assert metrics["Reader"] == "NOT_ADVANCING"
    assert metrics["Source lag"] == "40s" or metrics["Source lag"].startswith("40")
    assert any("position lsn 77 has not moved for 3m" in e.value for e in at.error)
    assert tuple(label for label, _ in links(at) if "Connect page" in label) == (
        "orders-cdc on the Connect page →",
    )
