"""The dashboard in a real browser: `lagwatch dashboard` on a seeded store, headless Chromium.

Every page opens without an exception, shows its key elements, and is saved as
a screenshot under artifacts/screenshots/; a deep link opens the right
pipeline and its params survive switching pages; the links the alert engine
put in the seeded alerts open the page and selection they name; the Kafka
page's charts draw when opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from lagwatch.dashboard import fmt
from tests.support import seed
from tests.support.browser import DRAWN, READY, chromium, dashboard_server
from tests.support.dashboard_app import seeded_config, stored_alerts

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
DATASET = seed.load_dataset()


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_config(tmp_path_factory.mktemp("browser"), hours=6)


@pytest.fixture(scope="module")
def server(config: Path) -> Iterator[str]:
    with dashboard_server(config) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = chromium(p)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    yield page
    page.close()


def open_page(page: Page, url: str, shot: str) -> None:
    page.goto(url)
    page.wait_for_selector(READY, timeout=120_000)
    page.wait_for_function(DRAWN, timeout=60_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{shot}.png"))
    assert page.locator("[data-testid='stException']").count() == 0
    body = page.locator("[data-testid='stMain']").inner_text()
    assert "Cannot read the store" not in body
    assert "config file cannot be used" not in body


def payments_freshness() -> str:
    payments = next(p for p in DATASET["pipelines"] if p["name"] == "payments")
    return fmt.duration(seed.final(payments["freshness"]))


CASES = [
    # (path, screenshot, texts that must be on the page outside st.dataframe tables, which
    # draw their cells on a canvas: their contents are checked by the AppTest suite)
    (
        "",
        "overview",
        ["Overview", "Pipelines", "payments", "Firing alerts", "KafkaGroupStalled", "STALL"],
    ),
    ("pipeline?pipeline=payments", "pipeline", ["payments", "Latest probes", "probes lost"]),
    ("postgres", "postgres", ["Replication slots", "analytics_old", "***"]),
    ("mysql", "mysql", ["CDC readers", "Binlog files", "Configuration checks"]),
    ("kafka?group=ledger-writer", "kafka", ["Group detail", "ledger-writer", "STALL"]),
    ("outbox", "outbox", ["public.outbox", "legacy.event_outbox"]),
    (
        "alerts",
        "alerts",
        ["Firing and pending", 'collector="postgres:reporting-db"', "New silence"],
    ),
    (
        "capacity",
        "capacity",
        ["Capacity", "Soonest to run out", "First to run out", "analytics_old"],
    ),
]


@pytest.mark.parametrize(("path", "shot", "wanted"), CASES, ids=[c[1] for c in CASES])
def test_page_renders_its_key_elements(
    server: str, page: Page, path: str, shot: str, wanted: list[str]
) -> None:
    open_page(page, f"{server}/{path}", shot)
    body = page.locator("[data-testid='stMain']").inner_text()
    for text in wanted:
        assert text in body, f"{text!r} missing on {shot}"
    assert page.locator("[data-testid='stDataFrame'], [data-testid='stHtml'] table").count() > 0
    assert seed.PASSWORD not in page.content()


def test_overview_names_the_stalled_hop_and_has_no_error_box(server: str, page: Page) -> None:
    open_page(page, f"{server}/", "overview")
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    body = page.locator("[data-testid='stMain']").inner_text()
    assert payments_freshness() in body
    assert "Behind: group:ledger-writer" in body
    assert page.locator("[data-testid='stPlotlyChart'], [data-testid='stMetric']").count() > 0


def test_deep_link_opens_the_pipeline_and_survives_page_switches(server: str, page: Page) -> None:
    open_page(page, f"{server}/pipeline?pipeline=inventory&range=6h", "deep-link")
    main = page.locator("[data-testid='stMain']")
    assert main.locator("h2", has_text="inventory").count() == 1
    page.locator("[data-testid='stSidebarNav'] a", has_text="Kafka").click()
    page.wait_for_url("**/kafka**")
    page.wait_for_selector(READY)
    assert "pipeline=inventory" in page.url and "range=6h" in page.url
    page.locator("[data-testid='stSidebarNav'] a", has_text="Pipeline").click()
    page.wait_for_url("**/pipeline**")
    page.wait_for_selector(READY)
    page.wait_for_timeout(300)
    assert main.locator("h2", has_text="inventory").count() == 1
    assert "pipeline=inventory" in page.url


def test_overview_tile_links_to_its_pipeline(server: str, page: Page) -> None:
    open_page(page, f"{server}/", "overview")
    page.locator("[data-testid='stPageLink'] a[href*='pipeline=orders']").click()
    page.wait_for_url("**/pipeline?**pipeline=orders**")
    page.wait_for_selector(READY)
    page.wait_for_timeout(300)
    assert page.locator("[data-testid='stMain'] h2", has_text="orders").count() == 1


def test_the_engines_alert_links_open_their_selection(
    server: str, config: Path, page: Page
) -> None:
    alerts = {a.rule: a for a in stored_alerts(config)}
    # rule → the picker its link sets, and to what
    expected = {
        "KafkaGroupStalled": ("Group", "ledger-writer"),
        "PgSlotInactive": ("Slot", "analytics_old"),
        "ProbeLost": ("Pipeline", "payments"),
    }
    for rule, (picker, value) in expected.items():
        link = alerts[rule].annotations["dashboard_url"]
        assert link.startswith(seed.DASHBOARD_URL)
        open_page(page, server + link.removeprefix(seed.DASHBOARD_URL), f"link-{rule}")
        chosen = page.get_by_role("combobox", name=picker).input_value()
        assert chosen == value, f"{rule}: {link} shows {picker} {chosen!r}"


def test_kafka_charts_draw_when_opened(server: str, page: Page) -> None:
    open_page(page, f"{server}/kafka?group=ledger-writer", "kafka")
    assert page.locator("[data-testid='stPlotlyChart']").count() == 0
    page.get_by_text("Charts: lag over time").click()
    page.wait_for_selector("[data-testid='stPlotlyChart'] .main-svg", timeout=60_000)
    page.wait_for_function(DRAWN, timeout=60_000)
    assert page.locator("[data-testid='stPlotlyChart']").count() == 4
    page.screenshot(path=str(SHOTS / "kafka-charts.png"))
    assert page.locator("[data-testid='stException']").count() == 0
