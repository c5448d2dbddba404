"""The Alerts page shows what the alert engine stores, and its silences are the engine's.

Given the recorded incident, the real engine raises alerts (tests/support/seed.py runs
it over the dataset) and the pages show exactly those; given a store the
engine evaluates live, a firing alert shows with its value, a silence made on
the page mutes it at the next evaluation, and its resolve shows in the
history. Every dashboard link of the built-in rules opens the page it names,
with the selection it names.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from lagwatch.alerts.builtin import builtin_rules
from lagwatch.alerts.engine import Engine
from lagwatch.alerts.silences import list_silences
from lagwatch.alerts.state import AlertState
from lagwatch.alerts.template import Context, format_value, render
from lagwatch.config import load
from lagwatch.dashboard.pages import page_at
from lagwatch.store import Sample, Store, open_store
from tests.support import seed
from tests.support.dashboard_app import (
    ALERTS,
    DATASET,
    metric,
    open_page,
    seeded_config,
    stored_alerts,
    table_with,
    tables_with,
    texts,
)

EXPECTED = DATASET["alerts_expected"]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_config(tmp_path_factory.mktemp("seeded"), hours=6)


@pytest.fixture
def writable(tmp_path: Path) -> Path:
    """A seeded store of its own, for a test that writes silences."""
    return seeded_config(tmp_path, hours=1)


def find(alerts: list[AlertState], rule: str, labels: dict[str, str]) -> AlertState:
    found = [a for a in alerts if a.rule == rule and labels.items() <= a.labels.items()]
    assert len(found) == 1, f"{rule} {labels}: {len(found)} alerts"
    return found[0]


# -- the recorded incident --------------------------------------------------------


def test_the_engine_raises_what_the_dataset_expects(seeded: Path) -> None:
    alerts = stored_alerts(seeded)
    for rule, labels in EXPECTED["firing"]:
        found = find(alerts, rule, labels)
        assert (found.state, found.muted) == ("firing", None)
    for rule, labels, why in EXPECTED["muted"]:
        found = find(alerts, rule, labels)
        assert found.state == "firing" and (found.muted or "").startswith(why)
    for kind in ("pending", "resolved"):
        for rule, labels in EXPECTED[kind]:
            assert find(alerts, rule, labels).state == kind
    expected = sum(len(EXPECTED[k]) for k in ("firing", "muted", "pending", "resolved"))
    assert len(alerts) == expected


def test_alerts_page_shows_the_engines_alerts(
    seeded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(seeded, ALERTS, monkeypatch)
    alerts = stored_alerts(seeded)
    assert metric(at, "Firing") == str(len(EXPECTED["firing"]))
    assert metric(at, "Muted") == str(len(EXPECTED["muted"]))
    assert metric(at, "Pending") == str(len(EXPECTED["pending"]))
    assert metric(at, "Active silences") == "1"
    current, resolved = tables_with(at, "muted")
    assert len(current) == sum(len(EXPECTED[k]) for k in ("firing", "muted", "pending"))
    for row in current:
        state = find(alerts, row["alert"], dict(p.split("=", 1) for p in row["labels"].split(", ")))
        assert row["value"] == state.value_text()
        assert row["summary"] == state.annotations["summary"]
    down = next(r for r in current if r["alert"] == "CollectorDown")
    assert down["muted"] == "silenced by s-migration"
    assert [r["alert"] for r in resolved] == [r for r, _ in EXPECTED["resolved"]]
    changes = table_with(at, "change")
    gone = next(r for r in changes if r["alert"] == EXPECTED["resolved"][0][0])
    assert gone["change"] == "firing → resolved"
    assert 'collector="postgres:reporting-db"' in texts(at)


def test_alerts_page_groups_the_alerts_by_incident(
    seeded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine ties ledger-writer's stall, its probe loss and its (muted) lag into one
    incident at its hop; the page lists that incident with its root and headline, and shows
    its alerts together, root first, beside the alerts no incident holds."""
    at = open_page(seeded, ALERTS, monkeypatch)
    incidents = {r["incident"]: r for r in table_with(at, "headline")}
    ledger = incidents["group:ledger-writer (payments)"]
    assert (ledger["state"], ledger["root"]) == ("open", "KafkaGroupStalled")
    assert ledger["alerts"] == "3 firing of 3"
    # The root's evidence first, then the others', then how stale the pipeline is.
    parts = ledger["headline"].split("; ")
    assert parts[0].startswith("ledger-writer") and parts[1].endswith("behind (muted)")
    assert parts[2].startswith("probe lost at group:ledger-writer")
    assert parts[3].startswith("freshness ") and parts[3].endswith(", over its 5s SLO")
    assert incidents["slot:analytics_old"]["root"] == "PgSlotTimeToLossShort"
    current = tables_with(at, "muted")[0]
    told = [(r["alert"], r["incident"]) for r in current]
    ledgers = [i for i, (_, inc) in enumerate(told) if inc.startswith("group:ledger-writer")]
    assert ledgers == list(range(ledgers[0], ledgers[0] + 3)), "an incident's alerts together"
    assert told[ledgers[0]] == ("KafkaGroupStalled", "group:ledger-writer (payments) · root")
    assert {a for a, i in told[ledgers[0] : ledgers[0] + 3]} == {
        "KafkaGroupStalled", "ProbeLost", "KafkaGroupLagHigh"
    }  # fmt: skip
    down = next(r for r in current if r["alert"] == "CollectorDown")
    assert down["incident"] == "—", "reporting-db feeds no pipeline: no incident"


# -- the engine live, the page, a silence and a resolve --------------------------

SLOT = {"source": "orders-db", "slot": "cdc_orders"}
INACTIVE = "lagwatch_pg_slot_inactive_seconds"


def refresh(at: AppTest) -> AppTest:
    """Run the page again with fresh data (as the next auto-refresh after the cache's TTL would)."""
    st.cache_data.clear()
    return at.run()


def test_engine_alert_silence_and_resolve_on_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = seed.write_config(tmp_path)
    store: Store = open_store(seed.store_config_of(config))
    try:
        engine = Engine(store, load(config).alerts)
        now = time.time()
        # Given a slot nobody has read for 45 minutes, when the engine evaluates:
        store.write([Sample.of(INACTIVE, 2700.0, now, **SLOT)])
        engine.evaluate(now)
        at = open_page(config, ALERTS, monkeypatch)
        row = next(r for r in table_with(at, "muted") if r["alert"] == "PgSlotInactive")
        assert row["value"].startswith(format_value(2700.0, "seconds"))
        assert (row["state"], row["muted"]) == ("firing", "")
        assert metric(at, "Firing") == "1"

        # A silence made on the page is one the engine honours at its next evaluation.
        at.text_area[0].input(f"slot={SLOT['slot']}")
        at.text_input[0].input("1h")
        at.text_input[1].input("sam")
        at.text_input[2].input("rebuilding the reader")
        at.button(key="FormSubmitter:new_silence-Review silence…").click().run()
        assert any("It matches 1 active alert" in m.value for m in at.markdown)
        at.button(key="_confirm_create").click().run()
        (silence,) = list_silences(store, time.time())
        assert (silence.author, [str(m) for m in silence.matchers]) == (
            "sam",
            ['slot="cdc_orders"'],
        )
        # The silence starts when the page made it, which a slow run puts after now + 1.
        later = max(now, silence.starts_at) + 1
        engine.evaluate(later)
        (state,) = engine.states.values()
        assert state.muted == f"silenced by {silence.id}"
        refresh(at)
        assert (metric(at, "Firing"), metric(at, "Muted")) == ("0", "1")
        row = next(r for r in table_with(at, "muted") if r["alert"] == "PgSlotInactive")
        assert (row["state"], row["muted"]) == ("firing (muted)", f"silenced by {silence.id}")

        # When a reader attaches again, the alert resolves and the history says so.
        store.write([Sample.of(INACTIVE, 0.0, later + 1, **SLOT)])
        engine.evaluate(later + 1)
        refresh(at)
        assert metric(at, "Muted") == "0"
        (resolved,) = tables_with(at, "muted")[-1:]
        assert [(r["alert"], r["state"]) for r in resolved] == [("PgSlotInactive", "resolved")]
        changes = [(r["alert"], r["change"]) for r in table_with(at, "change")]
        assert changes == [
            ("PgSlotInactive", "firing → resolved"),
            ("PgSlotInactive", "inactive → firing"),
        ]
    finally:
        store.close()


# -- silences through the page ---------------------------------------------------


def test_a_silence_is_expired_after_confirmation(
    writable: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(writable, ALERTS, monkeypatch)
    at.button(key="_expire_s-migration").click().run()
    assert any("Alerts it hides will notify again" in m.value for m in at.markdown)
    at.button(key="_confirm_expire").click().run()
    store = open_store(seed.store_config_of(writable), read_only=True)
    try:
        assert list_silences(store, time.time()) == []  # expired: no longer active or scheduled
        (ended,) = [s for s in list_silences(store, 0, True) if s.id == "s-migration"]
    finally:
        store.close()
    assert ended.ends_at <= time.time()
    assert metric(at, "Active silences") == "0"


def test_a_bad_silence_says_what_to_fix(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(seeded, ALERTS, monkeypatch)
    at.text_area[0].input("just words")
    at.button(key="FormSubmitter:new_silence-Review silence…").click().run()
    assert any("cannot read matcher 'just'" in e.value for e in at.error)
    store = open_store(seed.store_config_of(seeded), read_only=True)
    try:
        assert len(list_silences(store, 0, True)) == len(DATASET["silences"])
    finally:
        store.close()


# -- the built-in rules' dashboard links -----------------------------------------

BASE = seed.DASHBOARD_URL
# Labels each page's links are rendered with: things the seeded incident has.
LINK_LABELS = {
    "overview": {"collector": "postgres:reporting-db"},
    "kafka": {"cluster": "main", "group": "ledger-writer"},
    "postgres": {"source": "orders-db", "slot": "analytics_old"},
    "mysql": {"source": "legacy-db", "reader": "dbz-inventory"},
    "outbox": {"source": "legacy-db", "table": "legacy.event_outbox"},
    "pipeline": {"pipeline": "payments", "hop": "tap", "slo_window": "1h"},
    "connect": {"cluster": "cdc", "connector": "orders-cdc", "source": "orders-db"},
    "catalog": {"registry": "main", "topic": "orders.created", "subject": "orders.created-value"},
}


def link_of(template: str, labels: dict[str, str]) -> str:
    return render(template, Context(labels, math.nan, None, None, BASE, "", 0.0))


def builtin_links() -> dict[str, str]:
    """Return each distinct rendered dashboard link of the built-in rules, with a rule using it."""
    links = {}
    for rule in builtin_rules():
        template = rule.annotations.get("dashboard_url")
        if template:
            page = page_at(urlsplit(link_of(template, {})).path)
            links[link_of(template, LINK_LABELS[page.url_path])] = rule.name
    return links


def selection(at: AppTest, key: str) -> object:
    return at.selectbox(key=f"_w_{key}").value


@pytest.mark.parametrize(("link", "rule"), builtin_links().items())
def test_builtin_dashboard_links_open_their_page_and_selection(
    link: str, rule: str, seeded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = urlsplit(link)
    page = page_at(url.path)
    params = dict(parse_qsl(url.query))
    at = open_page(seeded, page.file, monkeypatch, **params)
    assert at.title[0].value == page.title, rule
    if page.url_path == "kafka":
        assert selection(at, "group") == params["group"]
        assert f"**{params['group']}**" in texts(at)
    elif page.url_path == "postgres":
        assert (selection(at, "source"), selection(at, "slot")) == (
            params["source"],
            params["slot"],
        )
    elif page.url_path == "mysql":
        assert at.header[0].value == params["source"]
    elif page.url_path == "outbox":
        assert selection(at, "source") == params["source"]
        assert {r["source"] for r in table_with(at, "table")} == {params["source"]}
    elif page.url_path == "pipeline":
        assert selection(at, "pipeline") == params["pipeline"]
    elif page.url_path == "connect":
        # The seeded incident has no Connect cluster: the page says which key to add. Its
        # selection is tested on the real worker (test_connect_page).
        assert set(params) <= {"cluster", "connector"}, rule
        assert "connect:" in texts(at)
    elif page.url_path == "catalog":
        # The seeded incident has no registry: the page says which key to add. Selecting the
        # linked topic or subject is tested on a real registry (test_registry_catalog_page).
        assert set(params) <= {"topic", "subject"}, rule
        assert "registries:" in texts(at)
    else:
        assert not params


def test_every_page_the_links_name_exists() -> None:
    pages = {page_at(urlsplit(link).path).url_path for link in builtin_links()}
    assert pages == set(LINK_LABELS)
