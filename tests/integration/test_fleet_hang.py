"""A fleet daemon that hangs (SIGSTOP) loses its shards, and on waking runs none it lost."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from lagwatch.fleet import timings
from tests.integration.fleet_helpers import Fleet, fleet_status, fresh_database, live, runs
from tests.integration.fleet_helpers import wait as wait_for

INTERVAL = 2.0
NAMES = {f"postgres:pg{i}" for i in range(6)}


def test_a_hung_daemon_gives_its_shards_up_and_runs_none_of_them_when_it_wakes(
    tmp_path: Path, pg_admin_dsn: str, pg_monitor_dsn: str, unique: str
) -> None:
    """Given two daemons sharing 6 sources; when one is SIGSTOPped, then after its lease the
    other runs all 6; when it is woken, then no collector runs in both (no collector's
    health samples come early cycle after cycle) and the two share the shards again."""
    tick, lease = timings([INTERVAL])
    with fresh_database(pg_admin_dsn, f"lagwatch_fleet_{unique}") as dsn:
        config = tmp_path / "lagwatch.yaml"
        config.write_text(
            f"store: {{url: '{dsn}'}}\ndaemon: {{metrics_listen: null, jitter: 0s}}\n"
            "alerts: {builtin_rules: false}\nsources:\n"
            + "".join(
                f"  - {{name: pg{i}, kind: postgres, dsn: '{pg_monitor_dsn}', "
                f"interval: {INTERVAL:g}s}}\n"
                for i in range(6)
            )
        )
        fleet = Fleet(config, tmp_path)
        try:
            fleet.start(2)
            status = wait_for(
                "2 daemons sharing the shards",
                lambda: (
                    (s := fleet_status(config))
                    and len(d := live(s)) == 2
                    and all(len(m["shards"]) == 32 for m in d)
                    and s
                ),
                timeout=120,
            )
            sleeper = live(status)[0]
            start = time.time()
            fleet.by_id(sleeper["daemon"]).send_signal(signal.SIGSTOP)
            stopped = time.time()

            def alone() -> dict[str, object] | None:
                s = fleet_status(config)
                d = live(s)
                if len(d) == 1 and d[0]["daemon"] != sleeper["daemon"] and not s["unowned"]:
                    return s
                return None

            wait_for("the other daemon to run everything", alone, timeout=60)
            took = time.time() - stopped
            print(json.dumps({"hung_daemon_shards_moved_within_seconds": round(took, 2)}))
            # The lease, a tick to notice, two ticks to take the shards, and the status
            # command's own start-up on a loaded machine.
            assert took <= lease + 3 * tick + 10, took
            time.sleep(2 * INTERVAL)

            fleet.by_id(sleeper["daemon"]).send_signal(signal.SIGCONT)
            wait_for(
                "the woken daemon to take a share again",
                lambda: (
                    len(d := live(fleet_status(config))) == 2
                    and all(len(m["shards"]) == 32 for m in d)
                ),
                timeout=60,
            )
            time.sleep(4 * INTERVAL)
            found = runs(dsn, start, time.time())
            for name in NAMES:
                gaps = [b - a for a, b in zip(found[name], found[name][1:], strict=False)]
                # A handover may run a collector early once (its new owner runs it at once,
                # at least two ticks after the old one let go); a collector in two daemons
                # would do so every cycle.
                early = [g for g in gaps if g < 0.75 * INTERVAL]
                assert len(early) <= 2 and min(gaps) > tick, (name, gaps)
        finally:
            for daemon in fleet.daemons:
                if daemon.poll() is None:
                    daemon.send_signal(signal.SIGCONT)
            fleet.stop()
    text = fleet.log_text()
    assert "running nothing until renewed" in text or "new session kept" in text
    assert "Traceback" not in text, text[-5000:]
