"""Time from request to fully rendered page, measured in headless Chromium.

A store holds 24 h of 2,000 series (the recorded incident plus healthy
consumer groups); `lagwatch dashboard` serves it, and a second dashboard
serves an empty store as the baseline, both in the same run; a one-line
Streamlit app measured the same way shows the framework's own floor. For Overview
and Kafka, each load is timed from `page.goto` until Streamlit reports the
script finished and every chart and table has drawn.

Three kinds of load per page: "first" opens the page in a new browser profile
each time, so the frontend's scripts are fetched and compiled on every load
(someone opening the dashboard for the first time); "repeat" loads open a new
tab in one browser that has been to the dashboard before, so its hashed
scripts come from the browser cache as they do for anyone who has the
dashboard bookmarked, "cold" after waiting out the data cache's TTL (the first
viewer after a quiet spell), "warm" one after another. Target: p95 ≤ 1.5 s.

    python bench/dashboard.py [--loads 10] [--series 2000] [--every 60]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lagwatch.dashboard.data import TTL
from lagwatch.store import open_store
from tests.support import seed
from tests.support.browser import DRAWN, READY, chromium, dashboard_server, free_port

PAGES = {"overview": "", "kafka": "kafka"}


def build_store(folder: Path, series: int, every: float) -> tuple[Path, int]:
    config = seed.write_config(folder)
    dataset = seed.add_bench_groups(seed.load_dataset(), series)
    dataset["every"] = every
    store = open_store(seed.store_config_of(config))
    try:
        seed.seed(store, dataset, hours=24)
    finally:
        store.close()
    return config, len(seed.series_keys(dataset))


VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}


def load_once(open_tab: Callable[[], Page], url: str) -> float:
    page = open_tab()
    try:
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(READY, timeout=120_000)
        page.wait_for_function(DRAWN, timeout=120_000)
        return time.perf_counter() - started
    finally:
        page.close()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


LOADS = {"first": (True, False), "repeat_cold": (False, True), "repeat_warm": (False, False)}


def measure(browser: Browser, url: str, loads: int, kind: str) -> list[float]:
    """Time `loads` page loads of one kind (see LOADS: new profile each time, data cache cold)."""
    fresh, cold = LOADS[kind]
    context = browser.new_context(viewport=VIEWPORT)
    try:
        load_once(context.new_page, url)  # fills the browser cache and the data cache
        times = []
        for _ in range(loads):
            if cold:
                time.sleep(TTL + 1)
            new_profile = partial(browser.new_page, viewport=VIEWPORT)
            times.append(load_once(new_profile if fresh else context.new_page, url))
        return times
    finally:
        context.close()


@contextmanager
def hello_server(folder: Path) -> Iterator[str]:
    """Serve a one-line Streamlit app: the framework's own floor on this machine."""
    app = folder / "hello.py"
    app.write_text('import streamlit as st\n\nst.write("hello")\n')
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


def line(metric: str, value: float, unit: str, baseline: str, base: float | None) -> None:
    ratio = round(value / base, 2) if base else None
    print(
        json.dumps(
            {
                "bench": "dashboard",
                "metric": metric,
                "value": round(value, 3),
                "unit": unit,
                "baseline": baseline,
                "ratio": ratio,
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between samples")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        full_dir, empty_dir = Path(tmp, "full"), Path(tmp, "empty")
        full_dir.mkdir()
        empty_dir.mkdir()
        t0 = time.perf_counter()
        full, count = build_store(full_dir, args.series, args.every)
        line("series_in_store", count, "series", "", None)
        line("seed_seconds", time.perf_counter() - t0, "s", "", None)
        empty = seed.write_config(empty_dir, empty=True)
        schema_only = open_store(seed.store_config_of(empty))
        schema_only.latest()
        schema_only.close()
        with (
            dashboard_server(full) as full_url,
            dashboard_server(empty) as empty_url,
            hello_server(Path(tmp)) as hello_url,
            sync_playwright() as p,
        ):
            browser = chromium(p)
            for kind in ("first", "repeat_warm"):
                hello = measure(browser, hello_url, args.loads, kind)
                line(f"hello_app_render_p95_{kind}", p95(hello), "s", "", None)
            for name, path in PAGES.items():
                for kind in LOADS:
                    base = measure(browser, f"{empty_url}/{path}", args.loads, kind)
                    got = measure(browser, f"{full_url}/{path}", args.loads, kind)
                    label = f"same page on an empty store, {kind}, same run"
                    line(f"{name}_render_p95_{kind}", p95(got), "s", label, p95(base))
                    line(
                        f"{name}_render_p50_{kind}",
                        statistics.median(got),
                        "s",
                        label,
                        statistics.median(base),
                    )
            browser.close()


if __name__ == "__main__":
    main()
