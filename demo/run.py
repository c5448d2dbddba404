"""`lagwatch demo`: a live demo pipeline on this machine's devstack, lagwatch watching it.

PostgreSQL `demo.orders` → Debezium on the devstack's Kafka Connect (or, with
``--cdc relay``, lagwatch's relay: `lagwatch tap`, its own process) → Kafka
topic `demo.orders…` → consumer groups `search-indexer` and `fraud-scorer`,
with orders written a few times a second and a probe every second. After
``--stall-after`` the fraud-scorer group stalls on its own for
``--stall-for``, then recovers and catches up. With Debezium, ``--break-after``
that recovery the connector's task fails (its publication is dropped under it)
for ``--break-for``, then the demo repairs it. Everything lagwatch writes goes
into the demo directory (``.lagwatch/demo``, or $LAGWATCH_DEMO_DIR).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from lagwatch.demo.config import ROOT, DemoNames, DemoPorts, notifications_path
from lagwatch.devstack import devstack_env
from lagwatch.store.types import format_duration, parse_duration

READY_TIMEOUT = 60.0
STATUS_EVERY = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `lagwatch demo` options to its parser."""

    def duration(text: str) -> float:
        try:
            return parse_duration(float(text) if text.replace(".", "", 1).isdigit() else text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parser.add_argument("--no-dashboard", action="store_true", help="collect only, no UI")
    parser.add_argument("--port", type=int, default=8501, help="dashboard port (default 8501)")
    parser.add_argument(
        "--metrics-port", type=int, default=9465, help="/metrics port (default 9465; 0: off)"
    )
    parser.add_argument(
        "--duration", type=duration, default=0.0,
        help="stop after this long, e.g. 10m or 600 (default: run until Ctrl-C)",
    )  # fmt: skip
    parser.add_argument(
        "--stall-after", type=duration, default=180.0,
        help="when fraud-scorer stalls, counted from the start of traffic (default 3m)",
    )  # fmt: skip
    parser.add_argument(
        "--stall-for", type=duration, default=240.0,
        help="how long it stays stalled before it recovers (default 4m; 0: never stalls)",
    )  # fmt: skip
    parser.add_argument(
        "--cdc", choices=("debezium", "relay"), default="debezium",
        help="the pipeline's CDC: a Debezium connector on the devstack's Kafka Connect "
        "(default), or lagwatch's own relay (`lagwatch tap --relay`)",
    )  # fmt: skip
    parser.add_argument(
        "--break-after", type=duration, default=60.0,
        help="when the Debezium task fails, counted from fraud-scorer's recovery (default 1m)",
    )  # fmt: skip
    parser.add_argument(
        "--break-for", type=duration, default=180.0,
        help="how long the connector stays failed before the demo repairs it "
        "(default 3m; 0: it never fails; --cdc relay: no such incident)",
    )  # fmt: skip
    parser.add_argument(
        "--orders-per-second", type=float, default=3.0, help="order rows written (default 3)"
    )
    parser.add_argument(
        "--suffix", default="",
        help="append to every name the demo creates (table, topic, groups), to run beside another",
    )  # fmt: skip


def demo_dir() -> Path:
    return Path(os.environ.get("LAGWATCH_DEMO_DIR", ROOT / ".lagwatch" / "demo"))


def run_demo(args: argparse.Namespace) -> int:
    """Set up the demo pipeline, run it and lagwatch until Ctrl-C, SIGTERM or --duration."""
    from lagwatch.config import ConfigError, load
    from lagwatch.demo.config import SUFFIX, write_configs
    from lagwatch.logs import Redactor, setup_logging

    if args.suffix and not SUFFIX.match(args.suffix):
        return _fail("--suffix takes 1 to 16 lowercase letters or digits", 2)
    if args.orders_per_second <= 0:
        return _fail("--orders-per-second must be more than 0", 2)
    directory = demo_dir()
    directory.mkdir(parents=True, exist_ok=True)
    lock = _lock(directory)
    if lock is None:
        return _fail(
            f"a demo is already running from {_shown(directory)}; stop it first "
            "(or give another one its own LAGWATCH_DEMO_DIR and --suffix)",
            1,
        )
    ports = DemoPorts(args.port, args.metrics_port)
    for what, port in (
        ("dashboard", 0 if args.no_dashboard else args.port),
        ("/metrics", ports.metrics),
    ):
        if port and _port_in_use(port):
            flag = "--port" if what == "dashboard" else "--metrics-port"
            return _fail(f"127.0.0.1:{port} ({what}) is already in use; stop what uses it "
                         f"or pick another with {flag}", 2)  # fmt: skip
    env = devstack_env()
    run = secrets.token_hex(3) if args.cdc == "debezium" else ""
    names = DemoNames(args.suffix, run)
    config_path, relay_path = write_configs(directory, env, names, ports, args.cdc)
    try:
        config = load(config_path)
    except ConfigError as exc:
        return _fail("; ".join(exc.problems), 2)
    redact = Redactor(
        [*config.secrets(), env["LAGWATCH_PG_ADMIN_DSN"], env.get("LAGWATCH_PG_DEBEZIUM_DSN", "")]
    )
    setup_logging(config.daemon.log_level, redact)
    demo = Demo(args, directory, names, env, config, (config_path, relay_path), redact)
    try:
        return demo.run()
    finally:
        lock.close()


class Demo:
    """The running demo: traffic, its CDC (a Debezium connector or the relay process), the
    daemon and the dashboard."""

    def __init__(
        self, args: argparse.Namespace, directory: Path, names: DemoNames, env: dict[str, str],
        config: Any, paths: tuple[Path, Path | None], redact: Any,
    ) -> None:  # fmt: skip
        from lagwatch.demo.traffic import DemoGroup

        self.args = args
        self.directory = directory
        self.names = names
        self.env = env
        self.config = config
        self.config_path, self.relay_path = paths
        self.redact = redact
        self.stop = threading.Event()
        self.traffic_stop = threading.Event()
        self.started = self.started_traffic = time.monotonic()
        bootstrap = env["LAGWATCH_KAFKA_BOOTSTRAP"]
        self.indexer = DemoGroup(bootstrap, names.topic, names.indexer, members=2, work=0.002)
        self.scorer = DemoGroup(bootstrap, names.topic, names.scorer, members=1, work=0.02)
        self.writer: Any = None
        self.daemon: Any = None
        self.relay: subprocess.Popen[str] | None = None
        self.connector: Any = None
        self.left_behind = False
        self.dashboard: subprocess.Popen[str] | None = None
        self._threads: list[threading.Thread] = []

    def say(self, text: str) -> None:
        elapsed = int(time.monotonic() - self.started)
        print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {text}", flush=True)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
        code = 0
        try:
            self._start()
            self._timeline()
        except Exception as exc:
            problem = self.redact(str(exc).strip() or type(exc).__name__)
            code = _fail(f"{problem} (the demo needs the devstack: `make demo` starts it)", 1)
        finally:
            self._shutdown()
        return code or (1 if self.left_behind else 0)

    # -- starting ----------------------------------------------------------------

    def _start(self) -> None:
        from lagwatch.collectors.probe.table import TableName
        from lagwatch.daemon import Daemon
        from lagwatch.demo.traffic import OrderWriter, prepare_database, prepare_topic

        n, env = self.names, self.env
        self.say(f"setting up {n.table}, publication {n.publication} and topic {n.topic}")
        table = TableName.parse(n.table)
        debezium = self.args.cdc == "debezium"
        reader = _debezium_user(env) if debezium else None
        prepare_database(
            env["LAGWATCH_PG_ADMIN_DSN"], env["LAGWATCH_PG_PROBE_DSN"], table, n.publication,
            reader,
        )  # fmt: skip
        prepare_topic(env["LAGWATCH_KAFKA_BOOTSTRAP"], n.topic)
        # Processes first, from the main thread: they die with it (see _die_with_parent).
        if not debezium:
            self.relay = _spawn(
                ["tap", "--pipeline", n.pipeline, "-c", str(self.relay_path)], subprocess.PIPE
            )
        if not self.args.no_dashboard:
            with (self.directory / "dashboard.log").open("ab") as log:
                port = str(self.config.dashboard.port)
                self.dashboard = _spawn(
                    ["dashboard", "-c", str(self.config_path), "--port", port], log
                )
        if debezium:
            self._start_connector(table)
        else:
            assert self.relay is not None and self.relay.stdout is not None
            streaming = threading.Event()
            self._thread(_echo, "demo:relay-out", self.relay.stdout, streaming, self.say)
            self._wait(streaming.is_set, "the relay (lagwatch tap) to stream", self.relay)
        for group in (self.indexer, self.scorer):
            group.start(self.traffic_stop)
        for group in (self.indexer, self.scorer):
            self._wait(group.assigned.is_set, f"consumer group {group.group} to get partitions")
        if self.stop.is_set():
            return
        self.writer = OrderWriter(env["LAGWATCH_PG_ADMIN_DSN"], table, self.args.orders_per_second)
        self._thread(self.writer.run, "demo:writer")
        self.say(f"consumers {n.indexer} (2 members) and {n.scorer} (1 member) are reading; "
                 f"writing ~{self.args.orders_per_second:g} orders/s")  # fmt: skip
        self.daemon = Daemon(self.config)
        self.daemon.start()
        self.started_traffic = time.monotonic()
        self._banner()

    def _start_connector(self, table: Any) -> None:
        """Register the run's Debezium connector and wait until it streams from its slot."""
        from lagwatch.demo.debezium import DebeziumConnector, connector_config, remove_leftovers
        from lagwatch.demo.traffic import PROBE_TABLE

        n, env = self.names, self.env
        url, admin = env["LAGWATCH_CONNECT_URL"], env["LAGWATCH_PG_ADMIN_DSN"]
        for gone in remove_leftovers(url, n.connector.removesuffix(n.run), admin):
            self.say(f"removed connector {gone}, left by an earlier run that did not stop")
        config = connector_config(
            env["LAGWATCH_PG_DEBEZIUM_DSN"], n.slot, n.publication, n.server,
            [str(PROBE_TABLE), str(table)], n.topic,
        )  # fmt: skip
        self.connector = DebeziumConnector(url, n.connector, config, admin)
        self.say(f"registering Debezium connector {n.connector} on {url} (slot {n.slot})")
        self.connector.create()
        self.connector.wait_streaming(self.stop.is_set)
        if not self.stop.is_set():
            self.say(f"Debezium: connector {n.connector} RUNNING, slot {n.slot} streaming")

    def _wait(
        self, ready: Callable[[], bool], what: str, process: subprocess.Popen[Any] | None = None
    ) -> None:
        """Wait until ``ready()``, a stop, or READY_TIMEOUT (an error, as is ``process`` exiting)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready() and not self.stop.wait(0.2):
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"gave up waiting for {what}: it exited ({process.returncode})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up waiting for {what} after {READY_TIMEOUT:g}s")

    def _thread(self, target: Any, name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args or (self.traffic_stop,), name=name)
        thread.daemon = name == "demo:relay-out"
        thread.start()
        self._threads.append(thread)

    def _banner(self) -> None:
        n, a = self.names, self.args
        cdc = f"Debezium ({n.connector})" if self.connector is not None else "relay"
        lines = [
            f"live: PostgreSQL {n.table} → {cdc} → Kafka {n.topic} → {n.indexer}, {n.scorer}; "
            "a probe every second",
            f"  dashboard      http://127.0.0.1:{self.config.dashboard.port}"
            if self.dashboard else "  dashboard      off (--no-dashboard)",
            f"  notifications  tail -f {_shown(notifications_path(self.directory))}",
            f"  latest values  python -m lagwatch snapshot -c {_shown(self.config_path)}",
        ]  # fmt: skip
        if a.stall_for:
            at = format_duration(a.stall_after)
            lines.append(f"  incident       {n.scorer} stalls in {at}, for "
                         f"{format_duration(a.stall_for)} (--stall-after, --stall-for)")  # fmt: skip
            if self._breaks():
                lines.append(f"  incident 2     {format_duration(a.break_after)} after that, the "
                             f"connector's task fails for {format_duration(a.break_for)} "
                             "(--break-after, --break-for)")  # fmt: skip
        lines.append("  stop           Ctrl-C")
        self.say("\n".join(lines))

    # -- running -----------------------------------------------------------------

    def _breaks(self) -> bool:
        """Whether the second incident (the connector's task fails) is on the timeline."""
        return self.connector is not None and bool(self.args.break_for and self.args.stall_for)

    def _timeline(self) -> None:
        a, n = self.args, self.names
        stall_at = self.started_traffic + a.stall_after if a.stall_for else None
        recover_at = stall_at + a.stall_for if stall_at is not None else None
        break_at = recover_at + a.break_after if recover_at is not None and self._breaks() else None
        restore_at: float | None = None
        failed_seen = False
        end_at = self.started_traffic + a.duration if a.duration else None
        next_status = time.monotonic() + STATUS_EVERY
        next_look = 0.0
        while not self.stop.wait(0.2):
            now = time.monotonic()
            if stall_at is not None and now >= stall_at and not self.scorer.stalled.is_set():
                self.scorer.stalled.set()
                stall_at = None
                self.say(f"INCIDENT: {n.scorer} stalls now (keeps its partitions, commits nothing) "
                         f"for {format_duration(a.stall_for)}. Watch Overview, Kafka and Alerts; "
                         "PipelineHopStale fires once it is 30s behind")  # fmt: skip
            if recover_at is not None and now >= recover_at and self.scorer.stalled.is_set():
                self.scorer.stalled.clear()
                recover_at = None
                self.say(f"RECOVERY: {n.scorer} resumes and catches up; its alerts resolve "
                         "and the resolve lines reach the notifications log")  # fmt: skip
            if break_at is not None and now >= break_at:
                break_at, restore_at = None, now + a.break_for
                self.connector.break_it(n.publication)
                self.say(f"INCIDENT 2: publication {n.publication} dropped under connector "
                         f"{n.connector}: its task fails on the next change for "
                         f"{format_duration(a.break_for)}. Watch Connect and Alerts: one page "
                         "names the connector (DebeziumReaderStuck)")  # fmt: skip
            if restore_at is not None and not failed_seen and now >= next_look:
                next_look = now + 1.0
                state, tasks, trace = self.connector.status()
                if "FAILED" in tasks:
                    failed_seen = True
                    self.say(f"Debezium: connector {state}, task FAILED: {trace}")
            if restore_at is not None and now >= restore_at:
                restore_at = None
                self.say(f"REPAIR: publication {n.publication} back; {n.connector} stopped, "
                         f"slot {n.slot} dropped (a new slot refuses the old offset), offsets "
                         "deleted, resumed")  # fmt: skip
                self.connector.restore(self._publish, self.stop.is_set)
                if not self.stop.is_set():
                    self.say(f"RECOVERY 2: {n.connector} RUNNING on a new slot {n.slot}; its "
                             "alerts resolve (orders written while it was down are not "
                             "captured: snapshot.mode no_data)")  # fmt: skip
            if now >= next_status:
                next_status = now + STATUS_EVERY
                self.say(self._status())
            if end_at is not None and now >= end_at:
                break

    def _publish(self) -> None:
        from lagwatch.collectors.probe.table import TableName
        from lagwatch.demo.traffic import publish

        env = self.env
        publish(
            env["LAGWATCH_PG_ADMIN_DSN"], env["LAGWATCH_PG_PROBE_DSN"],
            TableName.parse(self.names.table), self.names.publication,
        )  # fmt: skip

    def _status(self) -> str:
        state = " (stalled)" if self.scorer.stalled.is_set() else ""
        written = self.writer.written if self.writer else 0
        return (f"orders written {written} · {self.indexer.group} processed "
                f"{self.indexer.processed} · {self.scorer.group} processed "
                f"{self.scorer.processed}{state}")  # fmt: skip

    # -- stopping ----------------------------------------------------------------

    def _shutdown(self) -> None:
        """Stop lagwatch first (so it does not record the demo's own shutdown), then the traffic."""
        self.say("stopping")
        if self.daemon is not None:
            self.daemon.stop()
        self.traffic_stop.set()
        for group in (self.indexer, self.scorer):
            group.join(timeout=15)
        for thread in self._threads:
            if not thread.daemon:
                thread.join(timeout=15)
        for process in (self.relay, self.dashboard):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self.connector is None:
            self.say("stopped: relay slot dropped, consumers left their groups")
            return
        from lagwatch.demo.traffic import delete_topic

        n = self.names
        try:
            self.connector.remove()
            delete_topic(self.env["LAGWATCH_KAFKA_BOOTSTRAP"], n.topic)
        except Exception as exc:
            self.say(f"could not remove everything: {self.redact(str(exc).strip())}; remove "
                     f"connector {n.connector}, slot {n.slot} and topic {n.topic} by hand "
                     "(the next run removes a connector left behind)")  # fmt: skip
            self.left_behind = True
            return
        self.say(f"stopped: connector {n.connector}, its offsets and slot {n.slot} removed, "
                 f"topic {n.topic} deleted, consumers left their groups")  # fmt: skip


def _debezium_user(env: dict[str, str]) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(env["LAGWATCH_PG_DEBEZIUM_DSN"])["user"])


def _echo(stream: IO[str], streaming: threading.Event, say: Any) -> None:
    for line in stream:
        text = line.rstrip()
        if " streaming" in text:
            streaming.set()
        say(f"relay: {text}")


def _spawn(command: list[str], stdout: Any) -> subprocess.Popen[str]:
    """Start `python -m lagwatch COMMAND` from this checkout, in its own session.

    Its own session: Ctrl-C reaches the demo only, which stops its parts in
    order; the child still dies with the demo (see _die_with_parent).
    """
    return subprocess.Popen(
        [sys.executable, "-m", "lagwatch", *command], cwd=ROOT, stdout=stdout,
        stderr=subprocess.STDOUT if stdout is not subprocess.PIPE else None, text=True,
        start_new_session=True, preexec_fn=_die_with_parent,
    )  # fmt: skip


def _die_with_parent() -> None:
    """In a child process: ask Linux for SIGTERM when the demo dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _lock(directory: Path) -> IO[str] | None:
    """Return the demo directory's lock file, held until closed; None if another demo holds it."""
    handle = (directory / "demo.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _shown(path: Path) -> str:
    """Return ``path`` relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
