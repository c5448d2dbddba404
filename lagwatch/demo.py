"""`lagwatch demo`: lagwatch on this machine's devstack, with the dashboard."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from lagwatch.config import load

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = Path(os.environ.get("LAGWATCH_DEMO_DIR", ROOT / ".lagwatch" / "demo"))

CONFIG = """\
# Written by `lagwatch demo` from the devstack's settings (devstack/env).
store:
  url: sqlite:///{store}
sources:
  - name: demo-pg
    kind: postgres
    dsn: "${{LAGWATCH_PG_MONITOR_DSN}}"
    interval: 5s
  - name: demo-mariadb
    kind: mysql
    dsn: "${{LAGWATCH_MYSQL_MONITOR_DSN}}"
    interval: 5s
kafka:
  - name: demo
    bootstrap: "${{LAGWATCH_KAFKA_BOOTSTRAP}}"
    interval: 5s
daemon:
  metrics_listen: 127.0.0.1:9465
"""


def devstack_env() -> dict[str, str]:
    """Return the devstack's connection settings (runs devstack/env)."""
    out = subprocess.run(
        [str(ROOT / "devstack" / "env")], check=True, capture_output=True, text=True
    ).stdout
    env: dict[str, str] = {}
    for line in out.splitlines():
        line = line.strip().removeprefix("export ")
        for part in line.split(" "):
            if "=" in part:
                key, _, value = part.partition("=")
                env[key] = value.strip("'\"")
    return env


def write_config() -> Path:
    """Write the demo config file and return its path."""
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    path = DEMO_DIR / "lagwatch.yaml"
    path.write_text(CONFIG.format(store=DEMO_DIR / "lagwatch.db"))
    return path


def run_demo(args: argparse.Namespace) -> int:
    """Run the daemon on the devstack and the dashboard next to it."""
    from lagwatch.daemon import Daemon
    from lagwatch.logs import Redactor, setup_logging

    os.environ.update({k: v for k, v in devstack_env().items() if k not in os.environ})
    path = write_config()
    config = load(path)
    setup_logging("INFO", Redactor(config.secrets()))
    daemon = Daemon(config)
    dashboard = None
    if not args.no_dashboard:
        dashboard = subprocess.Popen(
            [sys.executable, "-m", "lagwatch", "dashboard", "-c", str(path)], cwd=ROOT
        )
        print(f"dashboard: http://{config.dashboard.host}:{config.dashboard.port}", flush=True)
    stop = threading.Event()
    if args.duration:
        threading.Timer(args.duration, stop.set).start()
    try:
        daemon.start()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        daemon.stop()
        if dashboard is not None:
            dashboard.terminate()
            dashboard.wait(timeout=10)
    time.sleep(0)
    return 0
