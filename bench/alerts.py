"""Alert engine benchmarks: evaluation cost at scale, and time to notify for a stopped consumer.

    python bench/alerts.py [--cycles 15] [--groups 30] [--skip-notify]
                           [--kafka-groups 8] [--window 30] [--skip-devstack]

Prints one JSON line per figure. Evaluation: 1,000 rules over 20,000 series in
the embedded SQLite store, the engine reading only what changed since its last
cycle, next to the same engine re-reading every series each cycle (as it did
before), over the same writes in the same run: one collector's series written
before each evaluation (the daemon evaluates after each collector's cycle), and
all of them (the worst case). Time to
notify: a consumer group's STOP verdict reaches a loopback PagerDuty at a 10 s
collection interval, with lagwatch evaluating right after each cycle, next to
the same engine paced like Prometheus + Alertmanager defaults (a 15 s
evaluation clock and group_wait 30 s) in the same run. End to end on the
devstack: real consumer groups of a real topic stop one by one at random
moments, watched by a real `lagwatch run` at a 10 s collection interval; from
the consumer stopping, and from the collector's first STOP verdict, to the
loopback PagerDuty's 2xx. Stop to verdict is the verdict window (STOP needs a
full window without a commit) plus up to two collection intervals: one until
a collection sees the last commit, one until a collection lands after the
window has passed. Verdict to 2xx is what lagwatch itself adds.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lagwatch.alerts.config import AlertsConfig  # noqa: E402
from lagwatch.alerts.engine import Engine  # noqa: E402
from lagwatch.config import LagwatchConfig  # noqa: E402
from lagwatch.daemon import Daemon  # noqa: E402
from lagwatch.store import Sample  # noqa: E402
from lagwatch.store.sqlite import SqliteStore  # noqa: E402
from tests.support.alerting import GroupVerdicts  # noqa: E402
from tests.support.daemon_run import start_daemon, stop_daemon  # noqa: E402
from tests.support.kafka_stop import (  # noqa: E402
    StoppingGroup,
    StoreWatch,
    Ticker,
    delete_groups,
    write_config,
)
from tests.support.receivers import PD_ACCEPTED, SLACK_OK, FakeReceiver  # noqa: E402

METRICS = 20
CLUSTERS = 4
GROUPS = 250  # per cluster: 20 metrics × 4 clusters × 250 groups = 20,000 series
RULES = 1000


def emit(metric: str, value: float, unit: str, baseline: str, base: float) -> None:
    print(json.dumps({"bench": "alerts", "metric": metric, "value": round(value, 4), "unit": unit,
                      "baseline": baseline, "ratio": round(value / base, 3) if base else None}),
          flush=True)  # fmt: skip


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


# -- evaluation cost -----------------------------------------------------------


def bench_rules() -> list[dict[str, Any]]:
    """1,000 rules of the shapes people write, over the 20 bench metrics."""
    rules = []
    for i in range(RULES):
        m = f"lagwatch_bench_m{i % METRICS}_seconds"
        shape = i % 10
        if shape < 5:  # one group's series, by equality
            rule = {"expr": f'{m}{{group="g{i % GROUPS:03d}"}} > 290'}
        elif shape < 7:  # worst of a family of groups per cluster, by regex
            rule = {"expr": f'max by (cluster) ({m}{{group=~"g{i % 10}.*"}}) > 295'}
        elif shape == 7:  # a cluster went silent
            rule = {"absent": f'{m}{{cluster="c{i % CLUSTERS}"}}', "after": "5m"}
        elif shape == 8:  # a cluster, all but one group
            rule = {"expr": f'{m}{{cluster="c{i % CLUSTERS}", group!="g000"}} > 298'}
        else:  # every series of a metric
            rule = {"expr": f"{m} > 299"}
        rules.append({"name": f"R{i:04d}", "for": "1m", **rule})
    return rules


def series_values(now: float, rng: random.Random) -> list[Sample]:
    return [
        Sample.of(
            f"lagwatch_bench_m{m}_seconds",
            rng.uniform(0, 300),
            now,
            cluster=f"c{c}",
            group=f"g{g:03d}",
        )  # fmt: skip
        for m in range(METRICS)
        for c in range(CLUSTERS)
        for g in range(GROUPS)
    ]


def bench_evaluation(cycles: int, tmp: Path) -> None:
    """The engine as it runs (reading what changed) against the engine re-reading every series.

    Both engines evaluate the same rules over stores given the same writes, in
    turns within each cycle. Two patterns of writes: the daemon's, where the
    engine evaluates after each collector's cycle (four collectors, one per
    cluster, 5,000 series each: a cycle changes one of them), and the worst
    case, where all 20,000 series are written before every evaluation.
    """
    config = AlertsConfig.model_validate(
        {"builtin_rules": False, "rules": bench_rules(),
         "receivers": [{"name": "file", "log": {"path": str(tmp / "alerts.jsonl")}}]}
    )  # fmt: skip
    scenarios = (
        ("", "one collector's 5,000 series written before each evaluation"),
        ("_all_series_written", "all 20,000 series written before each evaluation"),
    )
    for suffix, what in scenarios:
        rng = random.Random(7)
        folder = tmp / f"eval{suffix or '_collector'}"
        folder.mkdir()
        stores = {
            "changes": SqliteStore(folder / "changes.db"),
            "full": SqliteStore(folder / "full.db"),
        }
        clock = [time.time()]
        engines = {
            name: Engine(store, config, clock=lambda c=clock: c[0], incremental=name == "changes")
            for name, store in stores.items()
        }
        took: dict[str, list[float]] = {name: [] for name in engines}
        cpu: dict[str, list[float]] = {name: [] for name in engines}
        read: list[int] = []
        # Four warm-up cycles: every engine starts with one full read and creates its alerts.
        for cycle in range(cycles + 4):
            now = clock[0] = time.time()
            values = series_values(now, rng)
            if not suffix:
                cluster = f"c{cycle % CLUSTERS}"
                values = [v for v in values if v.labels[0] == ("cluster", cluster)]
            for store in stores.values():
                store.write(values)
            order = list(engines) if cycle % 2 else list(reversed(engines))
            for name in order:
                t0, c0 = time.perf_counter(), time.process_time()
                engines[name].evaluate(now)
                if cycle >= 4:
                    took[name].append(time.perf_counter() - t0)
                    cpu[name].append(time.process_time() - c0)
            follower = engines["changes"].follower
            if cycle >= 4 and follower is not None:
                read.append(follower.changed)
        firing = sum(
            1 for s in engines["changes"].states.values() if s.state in ("firing", "pending")
        )
        for store in stores.values():
            store.close()
        base = "the same engine re-reading every series each cycle (before), same writes, same run"
        for stat, fn in (("p50", statistics.median), ("p95", p95)):
            emit(f"evaluation_{stat}_seconds_1000_rules_20000_series{suffix}", fn(took["changes"]),
                 "s", f"{base}; {what}", fn(took["full"]))  # fmt: skip
        # CPU time of this process: what an evaluation costs when other work shares the cores.
        emit(f"evaluation_cpu_p50_seconds_1000_rules_20000_series{suffix}",
             statistics.median(cpu["changes"]), "s", f"{base}; {what}; CPU time",
             statistics.median(cpu["full"]))  # fmt: skip
        print(f"# {what}: {cycles} cycles, {statistics.median(read):.0f} series read per cycle, "
              f"{firing} alerts pending or firing at the end", file=sys.stderr)  # fmt: skip


# -- time to notify ------------------------------------------------------------


def notify_daemon(tmp: Path, name: str, pd: FakeReceiver, **alerts: Any) -> Daemon:
    config = LagwatchConfig.model_validate({
        "store": {"url": f"sqlite:///{tmp}/{name}.db"},
        "daemon": {"metrics_listen": None, "jitter": 0},
        "alerts": {"disable": ["CollectorSilent"], "group_by": ["alertname", "group"],
                   "receivers": [{"name": "oncall", "pagerduty": {"routing_key": "K", "url": pd.url}}],
                   **alerts},
    })  # fmt: skip
    return Daemon(config)


def bench_notify(groups: int, interval: float, tmp: Path) -> None:
    rng = random.Random(11)
    with FakeReceiver(PD_ACCEPTED) as ours_pd, FakeReceiver(PD_ACCEPTED) as base_pd:
        ours = notify_daemon(tmp, "ours", ours_pd)
        base = notify_daemon(tmp, "base", base_pd, evaluate_every="15s", group_wait="30s")
        assert base.alerts is not None
        base.runner.after_cycle.clear()  # the baseline evaluates on its own clock only
        runs = []
        for daemon, label in ((ours, "ours"), (base, "base")):
            collector = GroupVerdicts(
                label, interval, {f"group-{i:02d}": (0, 1.0) for i in range(groups)}
            )
            daemon.collectors = [collector]
            daemon.start()
            runs.append(collector)
        try:
            time.sleep(interval + 2)
            for group in list(runs[0].groups):  # stop the groups one by one at random moments
                time.sleep(rng.uniform(1.0, 3.0))
                for collector in runs:
                    collector.set(group, 3, 60.0)
            ours_pd.wait_for(groups, timeout=120)
            base_pd.wait_for(groups, timeout=120)
        finally:
            ours.stop()
            base.stop()
    delays = []
    for collector, pd in zip(runs, (ours_pd, base_pd), strict=True):
        got = {r.body["payload"]["component"]: r.at for r in pd.received
               if r.body["event_action"] == "trigger"}  # fmt: skip
        delays.append([got[g] - collector.changed_at[g] for g in collector.changed_at])
    what = (
        "same engine paced like Prometheus+Alertmanager defaults (15 s evaluation, group_wait 30 s)"
    )
    emit("notify_p50_seconds_after_stop_verdict_10s_interval", statistics.median(delays[0]), "s",
         what, statistics.median(delays[1]))  # fmt: skip
    emit("notify_p95_seconds_after_stop_verdict_10s_interval", p95(delays[0]), "s", what,
         p95(delays[1]))  # fmt: skip


# -- time to notify, end to end on the devstack --------------------------------


def wait_until(what: str, check: Any, timeout: float) -> Any:
    deadline = time.time() + timeout
    while not (got := check()):
        if time.time() > deadline:
            raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)
    return got


def bench_devstack(groups: int, interval: float, window: float, tmp: Path) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    from lagwatch.devstack import devstack_env

    bootstrap = devstack_env()["LAGWATCH_KAFKA_BOOTSTRAP"]
    rng = random.Random(13)
    run = f"{int(time.time()):x}"
    topic = f"lw-bench-notify-{run}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    names = [f"lw-bench-notify-{run}-{i:02d}" for i in range(groups)]
    members: list[StoppingGroup] = []
    paged: dict[str, float] = {}
    verdicts: dict[str, float] = {}
    with FakeReceiver(SLACK_OK) as slack, FakeReceiver(PD_ACCEPTED) as pd:
        config = write_config(tmp, bootstrap, "bench", f"lw-bench-notify-{run}-.*",
                              interval, window, slack.url, pd.url)  # fmt: skip
        ticker = Ticker(bootstrap, topic)
        daemon = start_daemon(config, tmp / "daemon.log")
        watch = StoreWatch(tmp / "lagwatch.db")
        try:
            members = [StoppingGroup(bootstrap, topic, name) for name in names]
            for name in names:
                wait_until(f"OK for {name}", lambda n=name: (watch.status(n) or (-1,))[0] == 0,
                           4 * interval + 30)  # fmt: skip
            for member in members:  # stop them one by one, at random moments of the cycle
                time.sleep(rng.uniform(1.0, interval))
                member.stop()
            deadline = time.time() + window + 3 * interval + 30
            while len(paged) < groups and time.time() < deadline:
                for r in pd.received:
                    component = r.body.get("payload", {}).get("component")
                    if r.body["event_action"] == "trigger" and component in names:
                        paged.setdefault(component, r.at)
                time.sleep(0.5)
            for member in members:
                if member.group in paged and member.stopped_at is not None:
                    first = watch.first(member.group, 3, member.stopped_at)
                    if first is not None:
                        verdicts[member.group] = first
        finally:
            for member in members:
                member.close()
            ticker.close()
            watch.close()
            stop_daemon(daemon)
            delete_groups(bootstrap, names)
            admin.delete_topics([topic])[topic].result(timeout=30)
    missing = sorted(set(names) - set(verdicts))
    if missing:
        print(f"# no page (or no STOP verdict) for {', '.join(missing)}", file=sys.stderr)
    stopped = {m.group: m.stopped_at or 0.0 for m in members}
    to_verdict = [verdicts[g] - stopped[g] for g in verdicts]
    stop_to_2xx = [paged[g] - stopped[g] for g in verdicts]
    verdict_to_2xx = [paged[g] - verdicts[g] for g in verdicts]
    if not verdicts:
        return
    label = f"{interval:g}s_interval_{window:g}s_window"
    base = f"stop to the collector's first STOP verdict, same run ({len(verdicts)} groups)"
    for stat, fn in (("p50", statistics.median), ("p95", p95)):
        emit(f"devstack_stop_to_verdict_{stat}_seconds_{label}", fn(to_verdict), "s",
             f"the configured verdict window ({window:g} s)", window)  # fmt: skip
        emit(f"devstack_notify_{stat}_seconds_after_consumer_stop_{label}", fn(stop_to_2xx), "s",
             base, fn(to_verdict))  # fmt: skip
        emit(f"devstack_notify_{stat}_seconds_after_stop_verdict_{label}", fn(verdict_to_2xx),
             "s", base, fn(to_verdict))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=15)
    parser.add_argument("--groups", type=int, default=30)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--skip-notify", action="store_true")
    parser.add_argument("--kafka-groups", type=int, default=8,
                        help="consumer groups stopped on the devstack (default 8)")  # fmt: skip
    parser.add_argument("--window", type=float, default=30.0,
                        help="Kafka verdict window in seconds (default 30)")  # fmt: skip
    parser.add_argument("--skip-devstack", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lagwatch-bench-alerts-") as tmp:
        bench_evaluation(args.cycles, Path(tmp))
        if not args.skip_notify:
            bench_notify(args.groups, args.interval, Path(tmp))
        if not args.skip_devstack:
            devstack = Path(tmp) / "devstack"
            devstack.mkdir()
            bench_devstack(args.kafka_groups, args.interval, args.window, devstack)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
