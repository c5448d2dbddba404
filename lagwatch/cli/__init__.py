"""The `lagwatch` command line: one module per command group, each with a ``register(sub)``.

``main.py`` (run, collect, snapshot, check, dashboard, demo, and the parser),
``probe.py`` (probe, tap), ``report.py`` (report capacity), ``alerts.py`` (rules,
silence); ``common.py`` holds the exit codes and ``add_command``.
"""

from lagwatch.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
