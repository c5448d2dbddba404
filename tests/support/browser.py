"""Run `lagwatch dashboard` and headless Chromium for browser tests and the dashboard benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Playwright

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Streamlit marks the app element with its script state; notRunning means rendered.
READY = "[data-testid='stApp'][data-test-script-state='notRunning']"
# Then the page is drawn: no placeholders left, every chart, sparkline and table painted.
DRAWN = """() => !document.querySelector("[data-testid='stSkeleton']")
    && [...document.querySelectorAll("[data-testid='stPlotlyChart']")].every(c => c.querySelector('.main-svg'))
    && [...document.querySelectorAll("[data-testid='stMetricChart']")].every(c => c.querySelector('svg, canvas'))
    && [...document.querySelectorAll("[data-testid='stDataFrame']")].every(t => t.querySelector('canvas'))"""


def chromium(playwright: Playwright) -> Browser:
    """Launch Debian's Chromium headless (devstack/install installs it)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run devstack/install (Debian package chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextmanager
def dashboard_server(config: Path, timeout: float = 60.0) -> Iterator[str]:
    """Run `python -m lagwatch dashboard -c config` on a free port; yield its URL."""
    port = free_port()
    log = open(config.parent / "dashboard.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "lagwatch", "dashboard", "-c", str(config), "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: streamlit runs as a child
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"dashboard did not start: {(config.parent / 'dashboard.log').read_text()}"
                )
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
