"""The devstack's connection settings, as `eval "$(devstack/env)"` would export them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def devstack_env() -> dict[str, str]:
    """Return devstack/env's LAGWATCH_* settings, overridden by any already in the environment."""
    out = subprocess.run(
        [str(ROOT / "devstack" / "env")], check=True, capture_output=True, text=True
    ).stdout
    env: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.strip().removeprefix("export ").partition("=")
        if value.startswith("'") and value.endswith("'"):
            value = value[1:-1].replace("'\\''", "'")
        if key:
            env[key] = value
    env.update({k: v for k, v in os.environ.items() if k.startswith("LAGWATCH_")})
    return env
