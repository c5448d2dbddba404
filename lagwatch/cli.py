"""The `lagwatch` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lagwatch import __version__

EXIT_OK, EXIT_PROBLEM, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_CONFIG = "lagwatch.yaml"


def _load(path: str):
    from lagwatch.config import ConfigError, load

    try:
        return load(path)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None


def _setup_logging(config, verbose: bool = False) -> None:
    from lagwatch.logs import Redactor, setup_logging

    setup_logging("DEBUG" if verbose else config.daemon.log_level, Redactor(config.secrets()))


def cmd_run(args: argparse.Namespace) -> int:
    from lagwatch.daemon import Daemon

    config = _load(args.config)
    _setup_logging(config, args.verbose)
    Daemon(config).run_forever()
    return EXIT_OK


def cmd_collect(args: argparse.Namespace) -> int:
    from lagwatch.daemon import Daemon

    if not args.once:
        print(
            "error: collect runs one pass only; say --once (or use `lagwatch run`)", file=sys.stderr
        )
        return EXIT_BAD_INPUT
    config = _load(args.config)
    _setup_logging(config, args.verbose)
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

    config = _load(args.config)
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

    config = _load(args.config)
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
    config = _load(args.config)
    host = args.host or config.dashboard.host
    port = args.port or config.dashboard.port
    app = Path(__file__).parent / "dashboard" / "app.py"
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


def cmd_probe(args: argparse.Namespace) -> int:
    from lagwatch.probe_cli import cmd_probe as run_probe

    config = _load(args.config)
    _setup_logging(config, args.verbose)
    return run_probe(args, config)


def cmd_tap(args: argparse.Namespace) -> int:
    from lagwatch.probe_cli import cmd_tap as run_tap

    config = _load(args.config)
    _setup_logging(config, args.verbose)
    return run_tap(args, config)


def cmd_report(args: argparse.Namespace) -> int:
    from lagwatch.report_cli import run_capacity

    return run_capacity(args, _load(args.config))


def cmd_demo(args: argparse.Namespace) -> int:
    from lagwatch.demo import run_demo

    return run_demo(args)


def add_command(sub, name: str, help_text: str, func) -> argparse.ArgumentParser:
    """Add a command taking -c/--config and -v/--verbose to the subparsers ``sub``."""
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument(
        "-c", "--config", default=DEFAULT_CONFIG, help="config file (default: %(default)s)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=func)
    return p


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
        "probe",
        "`probe init` creates the probe table; `probe --once --pipeline NAME` times one probe "
        "(exit 1 past the SLO)",
        cmd_probe,
    )
    p.add_argument("action", nargs="?", choices=["init"], help="init: create the probe table")
    p.add_argument("--once", action="store_true", help="send one probe and print its hops")
    p.add_argument("--pipeline", help="the pipeline to probe (init: default all)")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the readers")
    p = command("tap", "run a probe's CDC tap (and its Kafka relay) until stopped", cmd_tap)
    p.add_argument("--pipeline", required=True, help="the pipeline whose probe's tap to run")
    p = command(
        "report",
        "`report capacity`: when slots, binlogs, lags and backlogs run out "
        "(exit 1 if within --horizon)",
        cmd_report,
    )
    p.add_argument("report", choices=["capacity"], help="capacity: trends and time to run out")
    p.add_argument("--window", default="6h", help="look-back window to fit (default: %(default)s)")
    p.add_argument(
        "--horizon", default="7d", help="exit 1 if it runs out sooner (default: %(default)s)"
    )
    p.add_argument("--json", action="store_true", help="JSON list of items (keys in README)")
    p = command(
        "demo", "run lagwatch on this machine's devstack with a live demo pipeline", cmd_demo
    )
    from lagwatch.demo import add_arguments

    add_arguments(p)
    from lagwatch.cli_alerts import add_alert_commands

    add_alert_commands(sub)
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
