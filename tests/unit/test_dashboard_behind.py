"""Which hop Overview and the Pipeline page call "behind", and which alerts a pipeline's tile
lists: the root of the pipeline's open incident wins, lost probes count only while recent
(a stall half an hour ago in the selected hour does not outvote what is wrong now), and a
pipeline's alerts include its connector's and its incident's — run by Streamlit's AppTest on
a store written here."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lagwatch.alerts.incidents import Incident, Member
from lagwatch.alerts.state import FIRING, AlertState, fingerprint
from lagwatch.store import Record, Sample
from lagwatch.store.contracts import Namespace
from tests.support.dashboard_app import config_with, open_page, texts

CONFIG = """\
store:
  url: sqlite:///{store}
sources:
  - {{name: orders-db, kind: postgres, dsn: "postgresql://m@127.0.0.1/db"}}
kafka:
  - {{name: main, bootstrap: "127.0.0.1:9092"}}
connect:
  - {{name: cdc, url: "http://127.0.0.1:8083"}}
pipelines:
  - {{name: orders, source: orders-db, slot: dbz_orders,
     reader: {{connect: cdc, connector: orders-cdc}}, topic: dbz.orders, groups: [scorer],
     slo: {{freshness: 5s}}}}
"""
STUCK = {"alertname": "DebeziumReaderStuck", "severity": "page", "cluster": "cdc",
         "connector": "orders-cdc"}  # fmt: skip
SLOT = {"alertname": "PgSlotInactive", "severity": "page", "source": "orders-db",
        "slot": "dbz_orders"}  # fmt: skip


def write(folder: Path, incident: bool) -> Path:
    now = time.time()
    lost = {"pipeline": "orders", "hop": "group:scorer"}
    samples = [
        # Probes were lost at the group half an hour ago, during a stall long over.
        *(Sample.of("lagwatch_probe_lost_total", n, now - 1800 + 10 * n, **lost) for n in range(30)),
        Sample.of("lagwatch_probe_lost_total", 29, now - 5, **lost),
        Sample.of("lagwatch_pipeline_freshness_seconds", 80, now, pipeline="orders", method="estimate"),
        Sample.of("lagwatch_kafka_group_max_lag_seconds", 0, now, cluster="main", group="scorer"),
    ]  # fmt: skip
    records = []
    alerts = []
    for labels, rule in ((STUCK, "DebeziumReaderStuck"), (SLOT, "PgSlotInactive")):
        fp = fingerprint(labels)
        state = AlertState(fp, rule, labels, FIRING, FIRING, now - 60, fired_at=now - 60,
                           annotations={"summary": f"{rule} says so"})  # fmt: skip
        alerts.append(state)
        records.append(Record(Namespace.ALERTS_STATE, fp, now, state.to_json()))
    if incident:
        members = {
            a.fingerprint: Member(
                a.fingerprint, a.rule, a.labels, hop, label, depth, FIRING, False, now - 60,
                now - 60, evidence=evidence,
            )
            for a, hop, label, depth, evidence in (
                (alerts[0], "connector:cdc/orders-cdc", "connector:orders-cdc", 1,
                 "connector orders-cdc is not reading orders-db"),
                (alerts[1], "slot:orders-db/dbz_orders", "slot:dbz_orders", 2, "slot inactive"),
            )
        }  # fmt: skip
        inc = Incident("i-1", now - 60, root=alerts[0].fingerprint, root_rule="DebeziumReaderStuck",
                       root_hop="connector:orders-cdc", root_hop_id="connector:cdc/orders-cdc",
                       pipelines=["orders"], members=members)  # fmt: skip
        records.append(inc.to_record(now))
    return config_with(folder, CONFIG, samples, records)


@pytest.mark.parametrize("page", ["views/overview.py", "views/pipeline.py"])
def test_the_open_incidents_root_is_the_hop_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    at = open_page(write(tmp_path, incident=True), page, monkeypatch, pipeline="orders")
    shown = texts(at)
    assert "Behind: **connector:orders-cdc** — connector orders-cdc is not reading orders-db" in (
        shown
    ), shown
    assert "group:scorer" not in shown.split("Behind:", 1)[1].split("\n", 1)[0]


def test_lost_probes_half_an_hour_old_do_not_name_the_hop_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(write(tmp_path, incident=False), "views/overview.py", monkeypatch)
    shown = texts(at)
    assert "Behind: **group:scorer**" not in shown, shown


def test_a_pipelines_tile_lists_its_connectors_and_its_incidents_alerts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(write(tmp_path, incident=True), "views/overview.py", monkeypatch)
    shown = texts(at)
    assert "DebeziumReaderStuck" in shown and "PgSlotInactive" in shown
    tile = shown.split("orders", 1)[1].split("Open pipeline", 1)[0]
    assert "DebeziumReaderStuck" in tile and "PgSlotInactive" in tile, tile
