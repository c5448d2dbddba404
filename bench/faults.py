"""Fault suite on the real devstack: each fault scripted, its cost in samples and pages measured.

    python bench/faults.py [--only fleet_sigkill,leader_sigkill,store_down,receiver_500]

Faults (collection interval 2 s everywhere):

- ``fleet_sigkill``: three `lagwatch run` on one PostgreSQL store share 8 PostgreSQL
  sources and 4 Kafka clusters; the busiest is SIGKILLed.
- ``leader_sigkill``: the same fleet with a source down, paged to loopback Slack and
  PagerDuty; the alert leader is SIGKILLed while the alert fires; the source comes back.
- ``store_down``: two daemons on a private PostgreSQL store that is stopped for 30 s.
- ``receiver_500``: one daemon, a source down, Slack answering 500 for 2 minutes.

Each prints JSON lines ``{"bench": "faults", "fault": ..., "metric": ..., "value": ...}``:
``samples_lost`` (health samples of collector runs missing outside the fault window:
expected one per interval per collector), ``pages_lost`` / ``pages_duplicated``
(notifications that never arrived / arrived more than once), ``seconds_to_recover``
(from the fault's start, or its end where named, to things being right again).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lagwatch.devstack import devstack_env  # noqa: E402
from tests.integration.fleet_helpers import (  # noqa: E402
    Fleet,
    fleet_status,
    fresh_database,
    live,
    runs,
    wait,
)
from tests.support.ports import free_port  # noqa: E402
from tests.support.private_postgres import PrivatePostgres  # noqa: E402
from tests.support.receivers import PD_ACCEPTED, SLACK_OK, FakeReceiver  # noqa: E402
from tests.support.tcp_forward import Forwarder  # noqa: E402

INTERVAL = 2.0


def emit(fault: str, metric: str, value: float, unit: str = "") -> None:
    line: dict[str, Any] = {"bench": "faults", "fault": fault, "metric": metric, "value": value}
    if unit:
        line["unit"] = unit
    print(json.dumps(line), flush=True)


def sources_yaml(pg_dsn: str, kafka: str, postgres: int, clusters: int) -> str:
    lines = ["sources:"]
    lines += [
        f"  - {{name: pg{i}, kind: postgres, dsn: '{pg_dsn}', interval: {INTERVAL:g}s}}"
        for i in range(postgres)
    ]
    if clusters:
        lines.append("kafka:")
        lines += [
            f"  - {{name: k{i}, bootstrap: '{kafka}', interval: {INTERVAL:g}s, timeout: 15s}}"
            for i in range(clusters)
        ]
    return "\n".join(lines) + "\n"


def lost_outside(
    found: dict[str, list[float]], names: set[str], start: float, end: float,
    fault: tuple[float, float],
) -> int:  # fmt: skip
    """Runs missing outside ``fault``: per collector, gaps longer than 1.5 intervals count
    the intervals they skipped, less the part of the gap inside the fault window."""
    lost = 0
    for name in names:
        stamps = [start, *[t for t in found.get(name, []) if start <= t <= end], end]
        for a, b in zip(stamps, stamps[1:], strict=False):
            inside = max(0.0, min(b, fault[1]) - max(a, fault[0]))
            gap = (b - a) - inside
            if gap > 1.5 * INTERVAL:
                lost += int(gap // INTERVAL) - 1 if gap >= 2 * INTERVAL else 0
    return lost


def double_runs(found: dict[str, list[float]]) -> int:
    """Health samples closer than half an interval to the one before: two daemons at once."""
    return sum(
        1
        for stamps in found.values()
        for a, b in zip(stamps, stamps[1:], strict=False)
        if b - a < INTERVAL / 2
    )


# -- faults ------------------------------------------------------------------------------------


def fleet_sigkill(env: dict[str, str], tmp: Path) -> None:
    fault = "daemon_sigkill_in_fleet_of_3"
    with fresh_database(env["LAGWATCH_PG_ADMIN_DSN"], f"lagwatch_faults_{os.getpid()}_a") as dsn:
        config = tmp / "fleet.yaml"
        config.write_text(
            f"store: {{url: '{dsn}'}}\ndaemon: {{metrics_listen: null, jitter: 0s}}\n"
            "alerts: {builtin_rules: false}\n"
            + sources_yaml(env["LAGWATCH_PG_MONITOR_DSN"], env["LAGWATCH_KAFKA_BOOTSTRAP"], 8, 4)
        )
        names = {f"postgres:pg{i}" for i in range(8)} | {f"kafka:k{i}" for i in range(4)}
        fleet = Fleet(config, tmp)
        try:
            fleet.start(3)
            status = wait(
                "3 daemons placing every collector",
                lambda: (
                    (s := fleet_status(config)) and len(live(s)) == 3 and not s["unowned"] and s
                ),
                timeout=120,
            )
            time.sleep(3 * INTERVAL)
            start = time.time()
            time.sleep(10 * INTERVAL)
            victim = max(live(status), key=lambda d: len(d["collectors"]))
            moved = set(victim["collectors"])
            killed = fleet.kill(victim["daemon"])

            def resumed() -> dict[str, float] | None:
                found = runs(dsn, killed, time.time() + 60)
                first = {n: found[n][0] for n in moved if found.get(n)}
                return first if len(first) == len(moved) else None

            first = wait("moved collectors", resumed, timeout=120)
            recover = max(first.values()) - killed
            time.sleep(10 * INTERVAL)
            end = time.time()
            found = runs(dsn, start, end)
            emit(
                fault,
                "samples_lost",
                lost_outside(found, names, start, end, (killed, killed + recover)),
            )
            emit(fault, "samples_duplicated", double_runs(found))
            emit(fault, "seconds_to_recover", round(recover, 2), "s")
            emit(fault, "collectors_moved", len(moved))
        finally:
            fleet.stop()


def alert_config(store: str, flaky_dsn: str, slack: str, pd: str, extra: str = "") -> str:
    return f"""
store: {{url: '{store}'}}
daemon: {{metrics_listen: null, jitter: 0s}}
sources:
  - {{name: orders-db, kind: postgres, interval: {INTERVAL:g}s, timeout: 1s, dsn: "{flaky_dsn}"}}
  - {{name: pg-a, kind: postgres, dsn: '${{LAGWATCH_PG_MONITOR_DSN}}', interval: {INTERVAL:g}s}}
  - {{name: pg-b, kind: postgres, dsn: '${{LAGWATCH_PG_MONITOR_DSN}}', interval: {INTERVAL:g}s}}
alerts:
  builtin_rules: false
  evaluate_every: {INTERVAL:g}s
  group_interval: {INTERVAL:g}s
{extra}  rules:
    - {{name: CollectorDown, expr: 'lagwatch_collector_up{{collector="postgres:orders-db"}} == 0',
       severity: page}}
  receivers:
    - {{name: team, slack: {{webhook_url: "{slack}"}}}}
    - {{name: oncall, pagerduty: {{routing_key: KEY, url: "{pd}"}}}}
  routes:
    - {{match: {{severity: page}}, receiver: oncall, continue: true}}
    - {{receiver: team}}
"""


def pages(received: list[Any], kinds: list[str]) -> tuple[int, int]:
    """(lost, duplicated) of the expected notification kinds among what a receiver got (2xx only)."""
    got: list[str] = []
    for r in received:
        if r.status >= 300:
            continue
        body = r.body
        got.append(
            body.get("event_action")
            or ("resolved" if "[RESOLVED]" in body.get("text", "") else "firing")
        )
    lost = sum(1 for k in kinds if k not in got)
    duplicated = sum(max(0, got.count(k) - 1) for k in set(got))
    return lost, duplicated


def flaky(env: dict[str, str]) -> tuple[str, int]:
    port = free_port()
    pg = urlsplit(env["LAGWATCH_PG_MONITOR_DSN"])
    return urlunsplit(pg._replace(netloc=f"{pg.username}:{pg.password}@127.0.0.1:{port}")), port


def leader_sigkill(env: dict[str, str], tmp: Path) -> None:
    fault = "alert_leader_sigkill_while_firing"
    flaky_dsn, port = flaky(env)
    pg = urlsplit(env["LAGWATCH_PG_MONITOR_DSN"])
    with (
        fresh_database(env["LAGWATCH_PG_ADMIN_DSN"], f"lagwatch_faults_{os.getpid()}_b") as dsn,
        FakeReceiver(SLACK_OK) as slack,
        FakeReceiver(PD_ACCEPTED) as pd,
    ):
        config = tmp / "leader.yaml"
        config.write_text(alert_config(dsn, flaky_dsn, slack.url, pd.url))
        fleet = Fleet(config, tmp)
        forward = None
        try:
            fleet.start(3)
            pd.wait_for(1, timeout=120)
            slack.wait_for(1, timeout=60)
            wait("3 live daemons", lambda: len(live(fleet_status(config))) == 3, timeout=60)
            first = wait(
                "a leader",
                lambda: next(
                    (d["daemon"] for d in live(fleet_status(config)) if d["leader"]), None
                ),
            )
            killed = fleet.kill(first)
            took = wait(
                "a new leader",
                lambda: [t for t in fleet.log_times("leads the alert engine") if t > killed],
            )
            time.sleep(10 * INTERVAL)
            forward = Forwarder(port, (pg.hostname or "127.0.0.1", pg.port or 5432))
            try:
                pd.wait_for(2, timeout=90)
                slack.wait_for(2, timeout=60)
            except AssertionError:
                pass  # counted as lost below
            time.sleep(5 * INTERVAL)
            pd_lost, pd_dup = pages(pd.received, ["trigger", "resolve"])
            sl_lost, sl_dup = pages(slack.received, ["firing", "resolved"])
            emit(fault, "pages_lost", pd_lost + sl_lost)
            emit(fault, "pages_duplicated", pd_dup + sl_dup)
            emit(fault, "seconds_to_recover", round(min(took) - killed, 2), "s")
        finally:
            if forward is not None:
                forward.close()
            fleet.stop()


def store_down(env: dict[str, str], tmp: Path) -> None:
    fault = "store_down_30s"
    server = PrivatePostgres()
    server.start()
    try:
        config = tmp / "store.yaml"
        config.write_text(
            f"store: {{url: '{server.dsn()}'}}\ndaemon: {{metrics_listen: null, jitter: 0s}}\n"
            "alerts: {builtin_rules: false}\n"
            + sources_yaml(env["LAGWATCH_PG_MONITOR_DSN"], env["LAGWATCH_KAFKA_BOOTSTRAP"], 4, 0)
        )
        names = {f"postgres:pg{i}" for i in range(4)}
        fleet = Fleet(config, tmp / "store")
        (tmp / "store").mkdir()
        try:
            fleet.start(2)
            wait(
                "2 daemons placing every collector",
                lambda: (s := fleet_status(config)) and len(live(s)) == 2 and not s["unowned"],
                timeout=120,
            )
            time.sleep(3 * INTERVAL)
            start = time.time()
            time.sleep(5 * INTERVAL)
            server.stop()
            down = time.time()
            time.sleep(30)
            server.start()
            up = time.time()

            def caught_up() -> bool:
                try:
                    found = runs(server.dsn(), time.time() - 2 * INTERVAL, time.time())
                except Exception:
                    return False
                return all(found.get(n) for n in names)

            wait("every collector writing again", caught_up, timeout=120)
            recover = time.time() - up
            time.sleep(10 * INTERVAL)
            fleet.stop()  # SIGTERM: flush what is buffered
            end = time.time()
            found = runs(server.dsn(), start, end)
            # The outage is no excuse here: samples taken while the store was down must arrive.
            emit(fault, "samples_lost", lost_outside(found, names, start, end, (0.0, 0.0)))
            emit(fault, "samples_duplicated", double_runs(found))
            emit(fault, "seconds_to_recover", round(recover, 2), "s")
            emit(fault, "outage_seconds", round(up - down, 1), "s")
        finally:
            fleet.stop()
    finally:
        server.destroy()


def receiver_500(env: dict[str, str], tmp: Path) -> None:
    fault = "receiver_500_for_2min"
    dead = free_port()
    dead_dsn = f"postgresql://lagwatch_monitor@127.0.0.1:{dead}/postgres"
    with FakeReceiver((500, "internal error", {})) as slack, FakeReceiver(PD_ACCEPTED) as pd:
        config = tmp / "receiver.yaml"
        config.write_text(alert_config(f"sqlite:///{tmp}/receiver.db", dead_dsn, slack.url, pd.url))
        fleet = Fleet(config, tmp / "receiver")
        (tmp / "receiver").mkdir()
        try:
            fleet.start(1)
            slack.wait_for(1, timeout=120)
            broken = time.time()
            time.sleep(max(0.0, 120 - (time.time() - broken)))
            slack.default = SLACK_OK
            healthy = time.time()
            wait(
                "Slack to get the page",
                lambda: any(r.status == 200 for r in slack.received),
                timeout=180,
                every=0.5,
            )
            delivered = min(r.at for r in slack.received if r.status == 200)
            time.sleep(5 * INTERVAL)
            sl_lost, sl_dup = pages(slack.received, ["firing"])
            pd_lost, pd_dup = pages(pd.received, ["trigger"])
            emit(fault, "pages_lost", sl_lost + pd_lost)
            emit(fault, "pages_duplicated", sl_dup + pd_dup)
            emit(fault, "seconds_to_recover", round(delivered - healthy, 2), "s")
            emit(fault, "attempts_while_broken", sum(1 for r in slack.received if r.status == 500))
        finally:
            fleet.stop()


FAULTS = {
    "fleet_sigkill": fleet_sigkill,
    "leader_sigkill": leader_sigkill,
    "store_down": store_down,
    "receiver_500": receiver_500,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(FAULTS), help="comma-separated faults")
    args = parser.parse_args()
    env = devstack_env()
    os.environ.update(env)
    for name in args.only.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            FAULTS[name](env, Path(tmp))


if __name__ == "__main__":
    main()
