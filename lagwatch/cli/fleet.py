"""`lagwatch fleet status`: the daemons sharing a PostgreSQL store, their shards and heartbeats."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from lagwatch.cli.common import EXIT_BAD_INPUT, EXIT_OK, EXIT_PROBLEM, add_command, load_config


def cmd_fleet_status(args: argparse.Namespace) -> int:
    import psycopg

    from lagwatch.build import build_all
    from lagwatch.collectors.base import CollectorContext
    from lagwatch.fleet import SHARDS, read_members, shard_of
    from lagwatch.logs import Redactor

    config = load_config(args.config)
    url = config.store.url.get_secret_value()
    if not url.startswith("postgresql"):
        print(
            "error: store.url is not PostgreSQL: a daemon on SQLite runs every collector alone",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    try:
        with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
            members = read_members(conn)
    except psycopg.Error as exc:
        redact = Redactor(config.secrets())
        print(f"error: cannot read the store: {redact(str(exc).strip())}", file=sys.stderr)
        return EXIT_PROBLEM
    collectors = build_all(config, CollectorContext())
    names = sorted(c.name for c in collectors)
    for c in collectors:
        c.close()
    owner = {s: m.daemon for m in members if m.live for s in m.shards}
    rows: list[dict[str, Any]] = []
    for m in members:
        mine = [n for n in names if owner.get(shard_of(n)) == m.daemon] if m.live else []
        rows.append(
            {
                "daemon": m.daemon,
                "state": m.state,
                "host": m.host,
                "pid": m.pid,
                "leader": m.leader and m.live,
                "heartbeat": m.heartbeat,
                "heartbeat_age_seconds": round(m.age, 3),
                "lease_seconds": m.lease,
                "shards": list(m.shards) if m.live else [],
                "collectors": mine,
                "config": m.config,
            }
        )
    unowned = [n for n in names if shard_of(n) not in owner]
    if args.json:
        json.dump(
            {"shards": SHARDS, "daemons": rows, "unowned": unowned, "now": time.time()}, sys.stdout
        )
        sys.stdout.write("\n")
    else:
        print(
            f"{'DAEMON':<36} {'STATE':<5} {'LEADER':<6} {'SHARDS':>6} {'COLLECTORS':>10}  HEARTBEAT"
        )
        for row in rows:
            print(
                f"{row['daemon']:<36} {row['state']:<5} {'yes' if row['leader'] else '-':<6} "
                f"{len(row['shards']):>6} {len(row['collectors']):>10}  "
                f"{row['heartbeat_age_seconds']:.1f}s ago"
            )
        if not rows:
            print("(no daemon has joined: start `lagwatch run` on this store)")
        for row in rows:
            if row["collectors"]:
                print(f"{row['daemon']}: {', '.join(row['collectors'])}")
        if unowned:
            print(f"not running anywhere: {', '.join(unowned)}")
    live = [r for r in rows if r["state"] == "live"]
    return EXIT_OK if live and not unowned else EXIT_PROBLEM


def register(sub: Any) -> None:
    fleet = sub.add_parser(
        "fleet",
        help="the daemons sharing this PostgreSQL store",
        description="the daemons sharing this PostgreSQL store",
    )
    inner = fleet.add_subparsers(dest="fleet_command", required=True, metavar="COMMAND")
    p = add_command(
        inner,
        "status",
        "show every daemon of the fleet, its shards, collectors and last heartbeat "
        "(exit 0 all collectors placed, 1 some run nowhere or no daemon is live)",
        cmd_fleet_status,
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
