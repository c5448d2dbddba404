"""`lagwatch demo`: lagwatch on this machine's devstack, with the dashboard."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from lagwatch.config import load

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = Path(os.environ.get("LAGWATCH_DEMO_DIR", ROOT / ".lagwatch" / "demo"))

CONFIG = """\
# Written by `lagwatch demo` from the devstack's settings (devstack/env);
# the DSNs are in secrets/ beside this file.
store:
  url: sqlite:///{store}
sources:
  - name: demo-pg
    kind: postgres
    dsn_file: secrets/pg_dsn
    interval: 5s
  - name: demo-mariadb
    kind: mysql
    dsn_file: secrets/mysql_dsn
    interval: 5s
kafka:
  - name: demo
    bootstrap: "{kafka}"
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


def write_config(env: dict[str, str]) -> Path:
    """Write the demo config, with its DSNs in secret files beside it, and return its path."""
    secrets = DEMO_DIR / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    secrets.chmod(0o700)
    for name, key in (
        ("pg_dsn", "LAGWATCH_PG_MONITOR_DSN"),
        ("mysql_dsn", "LAGWATCH_MYSQL_MONITOR_DSN"),
    ):
        (secrets / name).write_text(env[key] + "\n")
        (secrets / name).chmod(0o600)
    path = DEMO_DIR / "lagwatch.yaml"
    path.write_text(
        CONFIG.format(store=DEMO_DIR / "lagwatch.db", kafka=env["LAGWATCH_KAFKA_BOOTSTRAP"])
    )
    return path


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def run_demo(args: argparse.Namespace) -> int:
    """Run the daemon on the devstack and the dashboard next to it."""
    from lagwatch.daemon import Daemon
    from lagwatch.logs import Redactor, setup_logging

    env = {**devstack_env(), **{k: v for k, v in os.environ.items() if k.startswith("LAGWATCH_")}}
    path = write_config(env)
    config = load(path)
    setup_logging("INFO", Redactor(config.secrets()))
    daemon = Daemon(config)
    dashboard = None
    if not args.no_dashboard and _port_in_use(config.dashboard.host, config.dashboard.port):
        print(
            f"error: {config.dashboard.host}:{config.dashboard.port} is already in use "
            "(another dashboard?); stop it or run `lagwatch demo --no-dashboard`",
            file=sys.stderr,
        )
        return 2
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
    return 0
