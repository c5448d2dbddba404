"""Paging: consumer stop → first notification, lagwatch beside Prometheus + Alertmanager, one run.

    python bench/paging.py [--stops 12] [--storm 50] [--skip-incidents] [--keep DIR]

On the devstack's Kafka, in one run, with Debian's Prometheus 2.42 and
Alertmanager 0.25 started here on loopback ports with temporary dirs:

1. Stops. ``--stops`` consumer groups of each kind — ``die`` (the consumer
   closes and leaves), ``hang`` (it stops polling and committing but keeps
   its membership), ``crash`` (its process is SIGKILLed: no leave) — each
   one consumer process committing every message of a topic written twice a
   second, stop one by one at random moments over a minute. Watching them:
   lagwatch at its default Kafka settings with a 10 s interval and, beside it,
   one with a 5 s interval; Prometheus scraping the 10 s daemon's /metrics
   with lagwatch's rules (``lagwatch rules export --prometheus``) into
   Alertmanager, once at their defaults (1 m scrape and evaluation,
   group_wait 30 s) and once tuned (10 s scrape and evaluation, group_wait 0).
   Every system groups alerts per consumer group here, so every stop's first
   notification is timed as a single stop would be. All deliver to one
   loopback webhook receiver (paths tell them apart); from the stop to the
   first notification naming the group, p50 and p95 per kind.
2. Incidents (unless ``--skip-incidents``), at every system's default
   grouping: a storm (``--storm`` groups stop at once, for 3 minutes, then
   resume) and a demo-like incident (``lagwatch demo``: fraud-scorer stalls
   for 3 minutes, then recovers), counting every notification each sends
   from the incident until all is resolved and quiet.

One JSON line per figure; the baseline is Prometheus + Alertmanager from the
same run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from tests.support.daemon_run import start_daemon, stop_daemon  # noqa: E402
from tests.support.kafka_consumers import ConsumerProcess, Producing, steady  # noqa: E402
from tests.support.kafka_stop import StoppingGroup, delete_groups  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.receivers import PD_ACCEPTED, FakeReceiver, Received  # noqa: E402

KINDS = ("die", "hang", "crash")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
PROFILES = {
    # name: (scrape and evaluation interval, Alertmanager's group_wait); None: the tool's default
    "default": (None, None),
    "tuned": ("10s", "0s"),
}


def emit(metric: str, value: float | None, unit: str, baseline: str, base: float | None) -> None:
    ratio = round(value / base, 3) if value is not None and base else None
    print(json.dumps({"bench": "paging", "metric": metric,
                      "value": None if value is None else round(value, 2), "unit": unit,
                      "baseline": baseline, "ratio": ratio}), flush=True)  # fmt: skip


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def say(text: str) -> None:
    print(f"# {time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def wait_until(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    deadline = time.time() + timeout
    while not (got := check()):
        if time.time() > deadline:
            raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)
    return got


# -- the receiver's view -------------------------------------------------------------------


def firing_groups(r: Received) -> list[str]:
    """Return the consumer groups a notification tells as firing (lagwatch's PagerDuty or AM's)."""
    body = r.body if isinstance(r.body, dict) else {}
    if "alerts" in body:  # Alertmanager's webhook
        return [a["labels"].get("group", "") for a in body["alerts"] if a.get("status") == "firing"]
    if body.get("event_action") == "trigger":  # lagwatch's PagerDuty event
        details = body.get("payload", {}).get("custom_details", {})
        return [a["labels"].get("group", "") for a in details.get("firing", [])]
    return []


def first_told(received: list[Received], path: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in received:
        if r.path == path:
            for group in firing_groups(r):
                out.setdefault(group, r.at)
    return out


# -- Prometheus and Alertmanager -----------------------------------------------------------


class Stack:
    """One Prometheus and its Alertmanager, in a temporary dir, on loopback ports."""

    def __init__(self, name: str, tmp: Path, hook: str, targets: dict[str, int],
                 rules: Path) -> None:  # fmt: skip
        interval, group_wait = PROFILES[name]
        self.name = name
        self.dir = tmp / f"prom-{name}"
        (self.dir / "data").mkdir(parents=True)
        (self.dir / "am").mkdir()
        self.am_port, self.prom_port = free_port(), free_port()
        self.rules = self.dir / "rules.yml"
        shutil.copy(rules, self.rules)
        top: dict[str, Any] = {"receiver": "stops", "group_by": ["alertname", "cluster", "group"]}
        if group_wait is not None:
            top["group_wait"] = group_wait
        default_grouping = ["alertname", "source", "cluster", "pipeline"]
        top["routes"] = [
            {"matchers": [f'job="{job}"'], "receiver": job, "group_by": default_grouping}
            for job in ("storm", "demo")
        ]
        am = {
            "route": top,
            "receivers": [
                {"name": job, "webhook_configs": [{"url": f"{hook}/am-{name}-{job}"}]}
                for job in ("stops", "storm", "demo")
            ],
        }
        (self.dir / "alertmanager.yml").write_text(yaml.safe_dump(am, sort_keys=False))
        prom: dict[str, Any] = {
            "rule_files": [str(self.rules)],
            "alerting": {"alertmanagers": [{"static_configs": [
                {"targets": [f"127.0.0.1:{self.am_port}"]}]}]},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                for job, port in targets.items()
            ],
        }  # fmt: skip
        if interval is not None:
            prom["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(prom, sort_keys=False))
        log = (self.dir / "log.txt").open("ab")
        self.am = subprocess.Popen(
            [ALERTMANAGER, f"--config.file={self.dir / 'alertmanager.yml'}",
             f"--storage.path={self.dir / 'am'}", f"--web.listen-address=127.0.0.1:{self.am_port}",
             "--cluster.listen-address="],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.prom = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.prom_port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def ready(self) -> bool:
        import httpx

        try:
            return all(
                httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=2).status_code == 200
                for port in (self.am_port, self.prom_port)
            )
        except httpx.HTTPError:
            return False

    def reload_rules(self, rules: Path) -> None:
        shutil.copy(rules, self.rules)
        self.prom.send_signal(signal.SIGHUP)

    def close(self) -> None:
        for proc in (self.prom, self.am):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def export_rules(config: Path, out: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "lagwatch", "rules", "export", "--prometheus", "-c", str(config),
         "-o", str(out)],
        cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


# -- lagwatch daemons ----------------------------------------------------------------------


def daemon_config(tmp: Path, name: str, bootstrap: str, include: str, interval: float,
                  hook: str, metrics: int | None, per_group: bool) -> Path:  # fmt: skip
    alerts: dict[str, Any] = {
        "receivers": [{"name": "oncall", "pagerduty": {
            "routing_key": "BENCH", "url": f"{hook}/{name}", "min_interval": 0.1}}],
    }  # fmt: skip
    if per_group:
        alerts["group_by"] = ["alertname", "cluster", "group"]
    config = {
        "store": {"url": f"sqlite:///{tmp}/{name}.db"},
        "daemon": {"metrics_listen": f"127.0.0.1:{metrics}" if metrics else None},
        "kafka": [{"name": "paging", "bootstrap": bootstrap, "interval": f"{interval:g}s",
                   "groups": {"include": [include]}}],
        "alerts": alerts,
    }  # fmt: skip
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def metrics_up(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# -- phase 1: stops ------------------------------------------------------------------------


def bench_stops(args: argparse.Namespace, tmp: Path, bootstrap: str, run: str,
                hook: FakeReceiver, stacks_out: list[Stack]) -> None:  # fmt: skip
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = f"lw-paging-{run}"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    base = hook.url.rsplit("/", 1)[0]
    m10 = free_port()
    include = f"lw-paging-{run}-.*"
    c10 = daemon_config(tmp, "lagwatch10", bootstrap, include, 10, base, m10, per_group=True)
    c5 = daemon_config(tmp, "lagwatch5", bootstrap, include, 5, base, None, per_group=True)
    rules = tmp / "rules.yml"
    export_rules(c10, rules)
    groups = {kind: [f"lw-paging-{run}-{kind}-{i:02d}" for i in range(args.stops)]
              for kind in KINDS}  # fmt: skip
    consumers: dict[str, ConsumerProcess] = {}
    with ExitStack() as stack:
        producer = Producing(bootstrap, topic, steady(2.0))
        stack.callback(producer.close)
        daemons = [start_daemon(c, tmp / f"{c.stem}.log") for c in (c10, c5)]
        for d in daemons:
            stack.callback(stop_daemon, d)
        wait_until("lagwatch's /metrics", lambda: metrics_up(m10), 60)
        for name in PROFILES:
            s = Stack(name, tmp, base, {"stops": m10}, rules)
            stacks_out.append(s)
        wait_until("Prometheus and Alertmanager", lambda: all(s.ready() for s in stacks_out), 90)
        for names in groups.values():
            for group in names:
                consumers[group] = ConsumerProcess(bootstrap, topic, group, "each")
                stack.callback(consumers[group].close)
        for c in consumers.values():
            c.wait_for("assigned", timeout=120)
        say(f"{len(consumers)} consumers assigned; letting lagwatch learn their cadence")
        time.sleep(args.warmup)
        order = [(kind, g) for kind, names in groups.items() for g in names]
        random.Random(int(run, 16)).shuffle(order)
        stopped: dict[str, tuple[str, float]] = {}
        spread = args.spread / max(1, len(order))
        for kind, group in order:
            time.sleep(random.uniform(0.2, 2 * spread))
            stopped[group] = (kind, getattr(consumers[group], kind)())
        say(f"stopped {len(stopped)} groups; waiting for every system's first notification")
        paths = ["/lagwatch10", "/lagwatch5"] + [f"/am-{s.name}-stops" for s in stacks_out]

        def all_told() -> bool:
            received = list(hook.received)
            return all(set(stopped) <= set(first_told(received, p)) for p in paths)

        with suppress(RuntimeError):
            wait_until("every first notification", all_told, args.patience, every=2)
        received = list(hook.received)
    admin.delete_topics([topic])[topic].result(timeout=30)
    delete_groups(bootstrap, list(stopped))
    report_stops(stopped, {p: first_told(received, p) for p in paths})


def report_stops(stopped: dict[str, tuple[str, float]], told: dict[str, dict[str, float]]) -> None:
    def delays(path: str, kind: str) -> list[float]:
        return [
            told[path][g] - at for g, (k, at) in stopped.items() if k == kind and g in told[path]
        ]

    for kind in KINDS:
        count = sum(1 for k, _ in stopped.values() if k == kind)
        for path in told:
            missing = count - len(delays(path, kind))
            if missing:
                say(f"{path}: {missing} of {count} {kind} stops not notified within the patience")
        for stat, fn in (("p50", statistics.median), ("p95", p95)):
            am_default = delays("/am-default-stops", kind)
            am_tuned = delays("/am-tuned-stops", kind)
            base_d = fn(am_default) if am_default else None
            base_t = fn(am_tuned) if am_tuned else None
            for label, path in (("10s", "/lagwatch10"), ("5s", "/lagwatch5")):
                ours = delays(path, kind)
                value = fn(ours) if ours else None
                emit(f"stop_to_notify_{stat}_seconds_{kind}_lagwatch_{label}_interval", value, "s",
                     f"Prometheus+Alertmanager at defaults (1m scrape/eval, group_wait 30s) "
                     f"over lagwatch's 10s /metrics, {len(am_default)} {kind} stops, same run",
                     base_d)  # fmt: skip
            emit(
                f"stop_to_notify_{stat}_seconds_{kind}_prometheus_tuned",
                base_t,
                "s",
                "Prometheus+Alertmanager at defaults, same run",
                base_d,
            )
            emit(
                f"stop_to_notify_{stat}_seconds_{kind}_prometheus_default",
                base_d,
                "s",
                "itself",
                base_d,
            )


# -- phase 2: storm and demo-like incident -------------------------------------------------


def count(received: list[Received], path: str, since: float) -> int:
    return sum(1 for r in received if r.path == path and r.at >= since)


def bench_incidents(args: argparse.Namespace, tmp: Path, bootstrap: str, run: str,
                    hook: FakeReceiver, stacks: list[Stack]) -> None:  # fmt: skip
    base = hook.url.rsplit("/", 1)[0]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = f"lw-storm-{run}"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    ms, md = free_port(), free_port()
    cs = daemon_config(tmp, "lagwatch-storm", bootstrap, f"lw-storm-{run}-.*", 10, base, ms,
                       per_group=False)  # fmt: skip
    names = [f"lw-storm-{run}-{i:02d}" for i in range(args.storm)]
    demo_dir = tmp / "demo"
    with ExitStack() as stack:
        producer = Producing(bootstrap, topic, steady(2.0))
        stack.callback(producer.close)
        daemon = start_daemon(cs, tmp / "lagwatch-storm.log")
        stack.callback(stop_daemon, daemon)
        demo_log = (tmp / "demo.out").open("w")
        demo_started = time.time()
        demo = subprocess.Popen(
            [sys.executable, "-m", "lagwatch", "demo", "--suffix", "paging", "--no-dashboard",
             "--port", str(free_port()), "--metrics-port", str(md),
             "--stall-after", f"{args.demo_stall_after:g}s", "--stall-for", "180s",
             "--duration", f"{args.demo_stall_after + 180 + 420:g}s"],
            cwd=ROOT, stdout=demo_log, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "LAGWATCH_DEMO_DIR": str(demo_dir)},
        )  # fmt: skip
        stack.callback(_stop, demo)
        wait_until("the demo's config", lambda: (demo_dir / "lagwatch.yaml").exists(), 60)
        rules = tmp / "rules-incidents.yml"
        export_rules(demo_dir / "lagwatch.yaml", rules)
        for s in stacks:
            prom = yaml.safe_load((s.dir / "prometheus.yml").read_text())
            prom["scrape_configs"] += [
                {"job_name": "storm", "static_configs": [{"targets": [f"127.0.0.1:{ms}"]}]},
                {"job_name": "demo", "static_configs": [{"targets": [f"127.0.0.1:{md}"]}]},
            ]
            (s.dir / "prometheus.yml").write_text(yaml.safe_dump(prom, sort_keys=False))
            s.reload_rules(rules)
        members = [StoppingGroup(bootstrap, topic, n) for n in names]
        stack.callback(lambda: [m.close() for m in members])
        say(f"storm: {len(members)} groups consuming; letting lagwatch learn their cadence")
        time.sleep(args.warmup)
        storm_at = time.time()
        for m in members:
            m.stop()
        say("storm: every group stopped")
        time.sleep(180)
        for m in members:
            m.resume()
        resumed = time.time()
        say("storm: every group resumed; waiting for the resolves")
        wait_until("the demo's recovery", lambda: "RECOVERY" in (tmp / "demo.out").read_text(),
                   args.demo_stall_after + 400)  # fmt: skip
        recovered = time.time()
        quiet = max(resumed, recovered) + args.quiet
        while time.time() < quiet:
            time.sleep(5)
        received = list(hook.received)
        stall_at = _demo_moment(tmp / "demo.out", "INCIDENT", demo_started)
        notifications = demo_dir / "notifications.log"
        # One line per message the log receiver got (a digest of several is one message)
        ours_demo = sum(1 for line in notifications.read_text().splitlines()
                        if line.strip() and _ts(line) >= stall_at - 5)  # fmt: skip
    admin.delete_topics([topic])[topic].result(timeout=30)
    delete_groups(bootstrap, names)
    storm = {"lagwatch": count(received, "/lagwatch-storm", storm_at)}
    demo_counts = {"lagwatch": ours_demo}
    for s in stacks:
        storm[s.name] = count(received, f"/am-{s.name}-storm", storm_at)
        demo_counts[s.name] = count(received, f"/am-{s.name}-demo", stall_at - 5)
    for what, counts, text in (
        ("50_group_storm" if args.storm == 50 else f"{args.storm}_group_storm", storm,
         f"{args.storm} groups stop at once for 3 min, then resume; until quiet"),
        ("demo_incident", demo_counts, "lagwatch demo: fraud-scorer stalls 3 min; until quiet"),
    ):  # fmt: skip
        for who in ("lagwatch", "tuned"):
            emit(f"notifications_{what}_{'lagwatch' if who == 'lagwatch' else 'prometheus_tuned'}",
                 counts[who], "notifications",
                 f"Prometheus+Alertmanager at defaults, same run ({text})", counts["default"])  # fmt: skip
        emit(
            f"notifications_{what}_prometheus_default",
            counts["default"],
            "notifications",
            "itself",
            counts["default"],
        )


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _demo_moment(path: Path, word: str, started: float) -> float:
    """Return when the demo printed ``word`` (its lines carry [mm:ss] since it started)."""
    for line in path.read_text().splitlines():
        if word in line and line.startswith("["):
            mm, ss = line[1:6].split(":")
            return started + int(mm) * 60 + int(ss)
    return started


def _ts(line: str) -> float:
    try:
        data = json.loads(line)
    except ValueError:
        return 0.0
    parts = data.get("digest") or [data]
    return min(float(p.get("created_at", 0.0)) for p in parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stops", type=int, default=12, help="stops of each kind (default 12)")
    parser.add_argument("--spread", type=float, default=60.0, help="seconds the stops spread over")
    parser.add_argument("--warmup", type=float, default=60.0)
    parser.add_argument("--patience", type=float, default=420.0)
    parser.add_argument("--storm", type=int, default=50)
    parser.add_argument("--demo-stall-after", type=float, default=150.0)
    parser.add_argument("--quiet", type=float, default=390.0,
                        help="seconds after recovery to count resolves (Alertmanager's "
                        "group_interval is 5m)")  # fmt: skip
    parser.add_argument("--skip-incidents", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the run's files here")
    args = parser.parse_args()
    for tool in (PROMETHEUS, ALERTMANAGER):
        if not Path(tool).exists():
            print(f"error: {tool} is missing; run devstack/install", file=sys.stderr)
            return 2
    from lagwatch.devstack import devstack_env

    bootstrap = devstack_env()["LAGWATCH_KAFKA_BOOTSTRAP"]
    run = f"{int(time.time()):x}"
    tmp = Path(tempfile.mkdtemp(prefix="lagwatch-bench-paging-"))
    stacks: list[Stack] = []
    try:
        with FakeReceiver(PD_ACCEPTED) as hook:
            try:
                bench_stops(args, tmp, bootstrap, run, hook, stacks)
                if not args.skip_incidents:
                    bench_incidents(args, tmp, bootstrap, run, hook, stacks)
            finally:
                for s in stacks:
                    s.close()
    finally:
        if args.keep:
            shutil.copytree(tmp, args.keep, dirs_exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
