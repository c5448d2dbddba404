"""The Connect page lists the connectors its worker lists now: one deleted (or outside the
entry's `connectors:` filter) is named as no longer listed instead of showing its last
state as current, unless the worker is down — then every connector stays, its values
stale. Run by Streamlit's AppTest on a store written here."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lagwatch.store import Sample
from tests.support.dashboard_app import config_with, open_page, texts

CONFIG = """\
store:
  url: sqlite:///{store}
connect:
  - {{name: cdc, url: "http://127.0.0.1:8083"}}
"""


def write(folder: Path, worker_up: int) -> Path:
    now = time.time()
    samples = [
        Sample.of("lagwatch_connect_connector_state", 0, now - 600, cluster="cdc", connector="old-cdc"),
        Sample.of("lagwatch_connect_task_state", 0, now - 600, cluster="cdc", connector="old-cdc", task="0"),
        Sample.of("lagwatch_connect_connector_state", 0, now - 600 if not worker_up else now,
                  cluster="cdc", connector="orders-cdc"),
        Sample.of("lagwatch_connect_up", worker_up, now, cluster="cdc"),
    ]  # fmt: skip
    return config_with(folder, CONFIG, samples)


def connectors(at: object) -> list[str]:
    [frame] = [d for d in at.dataframe if "connector" in d.value.columns]  # type: ignore[attr-defined]
    return list(frame.value["connector"])


def test_a_connector_the_worker_no_longer_lists_is_named_not_shown_as_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(write(tmp_path, worker_up=1), "views/connect.py", monkeypatch)
    assert connectors(at) == ["orders-cdc"]
    shown = texts(at)
    assert "No longer listed by cdc" in shown and "last seen: old-cdc 10m0" in shown, shown
    assert {m.label: m.value for m in at.metric}["Connectors"] == "1"


def test_while_the_worker_is_down_every_connector_stays_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(write(tmp_path, worker_up=0), "views/connect.py", monkeypatch)
    assert sorted(connectors(at)) == ["old-cdc", "orders-cdc"]
    assert "No longer listed" not in texts(at)
