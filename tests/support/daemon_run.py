"""The real daemon as a subprocess of this checkout: `python -m lagwatch run -c config`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start the daemon on ``config``, its output appended to ``log``."""
    return subprocess.Popen(
        [sys.executable, "-m", "lagwatch", "run", "-c", str(config)],
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def stop_daemon(daemon: subprocess.Popen[bytes]) -> int:
    """SIGTERM the daemon and return its exit code (killing it if it does not stop in 30 s)."""
    daemon.terminate()
    try:
        return daemon.wait(timeout=30)
    except subprocess.TimeoutExpired:
        daemon.kill()
        return daemon.wait()
