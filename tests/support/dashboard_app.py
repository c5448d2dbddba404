"""Run dashboard pages in Streamlit's AppTest against a seeded store, and read what they show."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from lagwatch.alerts.state import NAMESPACE as STATES
from lagwatch.alerts.state import AlertState
from lagwatch.store import Record, Sample, open_store
from tests.support import seed

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
OVERVIEW, ALERTS = "views/overview.py", "views/alerts.py"
DATASET = seed.load_dataset()


def seeded_config(folder: Path, hours: float) -> Path:
    """Write a config and a store seeded with the recorded incident (alerts raised by the engine)."""
    config = seed.write_config(folder)
    store = open_store(seed.store_config_of(config))
    try:
        seed.seed(store, DATASET, hours=hours)
    finally:
        store.close()
    return config


def config_with(
    folder: Path, config: str, samples: list[Sample], records: list[Record] | None = None
) -> Path:
    """Write ``config`` (its ``{store}`` filled with a SQLite file in ``folder``) and store the
    given samples and records there; return the config's path."""
    path = folder / "lagwatch.yaml"
    path.write_text(config.format(store=folder / "lagwatch.db"))
    store = open_store(seed.store_config_of(path))
    try:
        store.write(samples)
        store.put_records(records or [])
    finally:
        store.close()
    return path


def stored_alerts(config: Path) -> list[AlertState]:
    """Return the alert states the engine left in the store of ``config``."""
    store = open_store(seed.store_config_of(config), read_only=True)
    try:
        return [AlertState.from_json(r.body) for r in store.list_records(STATES)]
    finally:
        store.close()


def open_page(config: Path, page: str, monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    """Run the app on ``config`` with query ``params`` and switch to ``page``; fail on an exception."""
    monkeypatch.setenv("LAGWATCH_CONFIG", str(config))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.run()
    if page != OVERVIEW:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; have {[m.label for m in at.metric]}"
    return found[0]


def _cell(value: Any) -> Any:
    # A status shows as a coloured label: a list of one text in the frame.
    if (
        isinstance(value, list | tuple | np.ndarray)
        and len(value) == 1
        and isinstance(value[0], str)
    ):
        return value[0]
    return value


class _HtmlTables(HTMLParser):
    """The text of every <table> in st.html bodies, as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(at: AppTest) -> list[list[dict[str, Any]]]:
    """Return every HTML table the page shows (ui.small_table), as rows of texts."""
    parser = _HtmlTables()
    for element in at.get("html"):
        parser.feed(element.proto.body)
    return [[dict(zip(t[0], row, strict=True)) for row in t[1:]] for t in parser.tables if t]


def tables_with(at: AppTest, column: str) -> list[list[dict[str, Any]]]:
    """Return every table that has ``column``, as rows (status labels as their text)."""
    frames = [
        [{k: _cell(v) for k, v in row.items()} for row in frame.value.to_dict("records")]
        for frame in at.dataframe
        if column in frame.value.columns
    ]
    return frames + [rows for rows in html_tables(at) if rows and column in rows[0]]


def table_with(at: AppTest, column: str) -> list[dict[str, Any]]:
    found = tables_with(at, column)
    if not found:
        raise AssertionError(f"no table with column {column!r}")
    return found[0]


def texts(at: AppTest) -> str:
    parts = [
        e.value for kind in (at.markdown, at.caption, at.info, at.warning, at.error) for e in kind
    ]
    return "\n".join(str(p) for p in parts)
