"""What every command shares: exit codes, loading the config, logging, and adding a command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_PROBLEM, EXIT_BAD_INPUT = 0, 1, 2
"""0 fine; 1 the command found a problem (unreachable source, probe over SLO, a run-out
within the horizon, a schema that fails the policy); 2 bad input (config, arguments)."""
DEFAULT_CONFIG = "lagwatch.yaml"

Command = Callable[[argparse.Namespace], int]


def load_config(path: str) -> Any:
    """Return the loaded config, or print each problem and exit 2."""
    from lagwatch.config import ConfigError, load

    try:
        return load(path)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None


def setup_logging(config: Any, verbose: bool = False) -> None:
    from lagwatch.logs import Redactor
    from lagwatch.logs import setup_logging as setup

    setup("DEBUG" if verbose else config.daemon.log_level, Redactor(config.secrets()))


def add_command(sub: Any, name: str, help_text: str, func: Command) -> argparse.ArgumentParser:
    """Add a command taking -c/--config and -v/--verbose to the subparsers ``sub``.

    The one way a command is registered: each module of this package has a
    ``register(sub)`` that calls this for its commands.
    """
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument(
        "-c", "--config", default=DEFAULT_CONFIG, help="config file (default: %(default)s)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=func)
    return p
