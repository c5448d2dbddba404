"""The `lagwatch` command line: the daemon's commands, and the parser every module registers into."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lagwatch import __version__
from lagwatch.cli import alerts, fleet, probe, registry, report
from lagwatch.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_PROBLEM,
    add_command,
    load_config,
    setup_logging,
)


def cmd_run(args: argparse.Namespace) -> int:
    from lagwatch.daemon import Daemon

    config = load_config(args.config)
    setup_logging(config, args.verbose)
    Daemon(config).run_forever()
    return EXIT_OK


def cmd_collect(args: argparse.Namespace) -> int:
    from lagwatch.daemon import Daemon

    if not args.once:
        print(
            "error: collect runs one pass only; say --once (or use `lagwatch run`)", file=sys.stderr
        )
        return EXIT_BAD_INPUT
    config = load_config(args.config)
    setup_logging(config, args.verbose)
    daemon = Daemon(config)
    try:
        results = daemon.collect_once()
        written = daemon.runner.flush()
    finally:
        daemon.stop()
    for result in results:
        state = "ok  " if result.ok else "FAIL"
        detail = f"{result.samples} samples" if result.ok else result.error
        print(f"{state} {result.collector} ({result.duration * 1000:.0f} ms): {detail}")
    if not written:
        print("error: the store is unavailable; nothing was written", file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_OK if all(r.ok for r in results) else EXIT_PROBLEM


def cmd_snapshot(args: argparse.Namespace) -> int:
    from lagwatch.store import StoreUnavailable, open_store

    config = load_config(args.config)
    store = open_store(config.store, read_only=True)
    try:
        values = store.latest(args.name)
    except StoreUnavailable as exc:
        print(f"error: cannot read the store: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    finally:
        store.close()
    if args.json:
        json.dump([v.as_json() for v in values], sys.stdout, indent=None)
        sys.stdout.write("\n")
    else:
        for v in values:
            labels = ",".join(f'{k}="{val}"' for k, val in v.labels)
            note = f"  # {v.note}" if v.note else ""
            print(f"{v.name}{{{labels}}} {v.value:g}{note}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from lagwatch.build import build_all
    from lagwatch.collectors.base import CollectorContext
    from lagwatch.logs import Redactor
    from lagwatch.store import StoreUnavailable, open_store

    config = load_config(args.config)
    redact = Redactor(config.secrets())
    problems: list[str] = []
    store = open_store(config.store)
    try:
        store.latest("lagwatch_collector_up")
        print("ok   store")
    except StoreUnavailable as exc:
        problems.append(f"store: {redact(str(exc))}")
    finally:
        store.close()
    collectors = build_all(config, CollectorContext())

    def reach(collector):
        try:
            collector.check()
            return None
        except Exception as exc:
            return f"{collector.name}: {redact(str(exc).strip() or type(exc).__name__)}"
        finally:
            collector.close()

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(collectors)))) as pool:
        for collector, problem in zip(collectors, pool.map(reach, collectors), strict=True):
            if problem is None:
                print(f"ok   {collector.name}")
            else:
                problems.append(problem)
    for problem in problems:
        print(f"FAIL {problem}")
    return EXIT_PROBLEM if problems else EXIT_OK


def cmd_dashboard(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    host = args.host or config.dashboard.host
    port = args.port or config.dashboard.port
    app = Path(__file__).parent.parent / "dashboard" / "app.py"
    command = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", host, "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        # Streamlit runs a full gc.collect() after every script run, holding the GIL while it
        # walks every object the data cache keeps (a few hundred ms with 2,000 series), and the
        # page waits on it; Python's own generational collection still runs as usual.
        "--runner.postScriptGC", "false",
        # Streamlit's source watcher re-resolves the path of every imported module after every
        # run on the server's event loop; a dashboard reloads on restart, not on file save.
        "--server.fileWatcherType", "none",
        # Viewers get the viewer's menu: no "Deploy" button or developer options on a wall screen.
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip
    if config.dashboard.login.secrets_file:  # Streamlit's OIDC login reads [auth] from here
        command += ["--secrets.files", str(Path(config.dashboard.login.secrets_file).resolve())]
    command += ["--", "--config", str(Path(args.config).resolve())]
    # Become Streamlit rather than wait for it: a signal to this process (Ctrl-C, SIGTERM from a
    # supervisor or the demo) then reaches the server itself instead of orphaning it.
    sys.stdout.flush()
    os.execve(
        sys.executable, command, {**os.environ, "LAGWATCH_CONFIG": str(Path(args.config).resolve())}
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from lagwatch.demo.run import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lagwatch", description="End-to-end lag and freshness monitoring for event pipelines."
    )
    parser.add_argument("--version", action="version", version=f"lagwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, func) -> argparse.ArgumentParser:
        return add_command(sub, name, help_text, func)

    command("run", "run the daemon: collectors, alert engine and /metrics", cmd_run)
    p = command("collect", "run every collector once into the store, then exit", cmd_collect)
    p.add_argument("--once", action="store_true", help="one pass (required)")
    p = command("snapshot", "print the latest value of every series", cmd_snapshot)
    p.add_argument("--json", action="store_true", help='JSON: [{"name","labels","value","ts"}]')
    p.add_argument("--name", help="only this metric")
    command(
        "check",
        "validate the config and reach every source (exit 0 ok, 1 unreachable, 2 bad config)",
        cmd_check,
    )
    p = command(
        "dashboard", "start the Streamlit dashboard (127.0.0.1:8501 by default)", cmd_dashboard
    )
    p.add_argument("--host", help="address to bind (default: dashboard.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: dashboard.port, 8501)")
    p = command(
        "demo", "run lagwatch on this machine's devstack with a live demo pipeline", cmd_demo
    )
    from lagwatch.demo.run import add_arguments

    add_arguments(p)
    for module in (probe, report, alerts, registry, fleet):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `lagwatch snapshot | head` closed the pipe: not an error
        sys.stderr.close()
        return EXIT_OK
