"""Record real consumer groups on the devstack Kafka as the collector reads them, for replay tests.

Runs every case of ``CASES`` at once, each with its own topic, producer and
consumer processes (``kafka_consumers.py``), and once a second reads them all
with the collector's own ``OffsetReader`` and ``RecordTimestamps`` (the record
timestamps at lagging committed offsets, as exact time lag reads them). Each
case's readings go to ``OUT/<case>.jsonl.gz``: a header line, then one line
per reading.

    python tests/support/record_kafka.py sample_data/kafka/cadence [--minutes 12]

Header: ``{"case", "why", "stop": {"kind", "at"} | null, "recorded", "kafka"}``.
Reading: ``{"t": taken_at, "groups": {group: [state, members, [[topic, partition,
member]...], [[topic, partition, committed|null]...]]}, "ends": [[topic,
partition, log_end, earliest]...], "exact": [[topic, partition, offset, ts]...]}``.
Topic and group names are the case's name, so replays do not depend on the run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from lagwatch.collectors.kafka.collector import TIMESTAMP_GROUP  # noqa: E402
from lagwatch.collectors.kafka.read import ClusterView, GroupView, OffsetReader  # noqa: E402
from lagwatch.collectors.kafka.timelag import Found, NoRecord, RecordTimestamps  # noqa: E402
from tests.support.kafka_consumers import ConsumerProcess, Producing, steady  # noqa: E402

Pattern = Callable[[float], int]


def bursts(size: int, every: float) -> Pattern:
    """``size`` messages at once every ``every`` seconds, nothing in between."""
    done = {"n": -1}

    def pattern(t: float) -> int:
        n = int(t // every)
        if n > done["n"]:
            done["n"] = n
            return size
        return 0

    return pattern


def quiet_after(seconds: float, per_second: float) -> Pattern:
    inner = steady(per_second)
    return lambda t: inner(t) if t < seconds else 0


def sparse(every: float) -> Pattern:
    return bursts(1, every)


def nothing(_t: float) -> int:
    return 0


@dataclass
class Case:
    name: str
    why: str
    pattern: Pattern
    commit: str = "each"
    members: int = 1
    partitions: int = 1
    work: float = 0.0
    stop: str | None = None  # die | hang | crash, at stop_at minutes before the end
    rolling: bool = False  # members restarted one after another, all along
    procs: list[ConsumerProcess] = field(default_factory=list)
    stopped_at: float | None = None


CASES = [
    Case("each-steady", "commits every message of a steady stream: its commit moves at every "
         "cycle, the fastest cadence", steady(2)),
    Case("auto5-steady", "librdkafka/Java auto-commit every 5 s on a steady stream: the "
         "commit trails what was read by up to 5 s", steady(2), "auto:5"),
    Case("auto5-sparse", "auto-commit every 5 s, one message every 20 s: each waits up to "
         "5 s for the commit, then nothing waits", sparse(20), "auto:5"),
    Case("every30", "a sink committing what it processed every 30 s: 30 s of waiting "
         "messages is its normal", steady(2), "every:30"),
    Case("batch60", "a batch consumer that stays in the group and commits once a minute",
         steady(2), "every:60"),
    Case("cron60", "a batch job: joins, reads everything, commits and leaves, once a minute; "
         "the group is empty in between while messages wait", steady(2), "cron:60"),
    Case("bursty", "a producer writing 400 messages at once every 45 s and nothing between; "
         "the consumer works 5 ms a message", bursts(400, 45), "each", work=0.005),
    Case("bursty-auto5", "bursts of 400 every 45 s, read with auto-commit every 5 s",
         bursts(400, 45), "auto:5", work=0.005),
    Case("idle", "a consumer on a topic nobody writes to: nothing waits, nothing commits",
         nothing, "auto:5"),
    Case("goes-quiet", "a steady stream that stops after 3 minutes while the consumer stays",
         quiet_after(180, 2)),
    Case("rebalancing", "three members on three partitions restarted one after another all "
         "along (a rolling deploy): partitions move, commits pause during each rebalance",
         steady(6), "auto:5", members=3, partitions=3, rolling=True),
    Case("stop-die", "commits every message, then its consumer closes and leaves the group",
         steady(2), stop="die"),
    Case("stop-hang", "commits every message, then stops polling and committing but keeps "
         "its membership (heartbeats go on)", steady(2), stop="hang"),
    Case("stop-crash", "commits every message, then its process is killed: no leave; the "
         "coordinator drops the member after the 45 s session timeout", steady(2),
         stop="crash"),
    Case("stop-hang-auto5", "auto-commit every 5 s, then the consumer hangs", steady(2),
         "auto:5", stop="hang"),
    Case("stop-die-every30", "commits every 30 s, then closes: the group is empty while "
         "messages keep coming", steady(2), "every:30", stop="die"),
]  # fmt: skip


def reading(view: ClusterView, exact: dict[tuple[tuple[str, int], int], Found],
            rename: dict[str, str]) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Return each case's part of one reading, with the case's names for topic and group."""
    out: dict[str, dict[str, Any]] = {}
    for gid, g in view.groups.items():
        case = rename.get(gid)
        if case is None:
            continue
        committed = [[case, p, o] for (_t, p), o in sorted((g.committed or {}).items())]
        assigned = [[case, p, m] for (_t, p), m in sorted(g.assigned.items())]
        part = out.setdefault(case, {"t": round(view.taken_at, 3), "groups": {}, "ends": [],
                                     "exact": []})  # fmt: skip
        part["groups"][case] = [g.state, g.members, assigned, committed]
        if g.errors:
            part["errors"] = g.errors
    for (topic, p), end in sorted(view.log_end.items()):
        case = rename.get(topic)
        if case in out:
            out[case]["ends"].append([case, p, end, view.earliest.get((topic, p), 0)])
    for ((topic, p), offset), found in sorted(exact.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        case = rename.get(topic)
        if case in out:
            value = None if isinstance(found, NoRecord) else round(found, 3)
            out[case]["exact"].append([case, p, offset, value])
    return out


def lagging(view: ClusterView) -> dict[tuple[str, int], set[int]]:
    wanted: dict[tuple[str, int], set[int]] = {}
    for g in view.groups.values():
        for tp, committed in (g.committed or {}).items():
            end, earliest = view.log_end.get(tp), view.earliest.get(tp)
            if committed is not None and end is not None and earliest is not None:
                start = max(committed, earliest)
                if start < end:
                    wanted.setdefault(tp, set()).add(start)
    return wanted


def start_case(case: Case, bootstrap: str, topic: str, group: str) -> None:
    for _ in range(case.members):
        case.procs.append(ConsumerProcess(bootstrap, topic, group, case.commit, case.work,
                                          reset="earliest"))  # fmt: skip
    word = "ran" if case.commit.startswith("cron") else "assigned"
    for proc in case.procs:
        proc.wait_for(word, timeout=90)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--stop-before-end", type=float, default=2.5, help="minutes")
    parser.add_argument("--only", nargs="*", help="case names")
    args = parser.parse_args()
    bootstrap = os.environ.get("LAGWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    run = f"{int(time.time()):x}"
    cases = [c for c in CASES if not args.only or c.name in args.only]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = {c.name: f"lw-rec-{run}-{c.name}" for c in cases}
    futures = admin.create_topics([NewTopic(names[c.name], c.partitions, 1) for c in cases])
    for future in futures.values():
        future.result(timeout=30)
    rename = {v: k for k, v in names.items()}
    producers: list[Producing] = []
    args.out.mkdir(parents=True, exist_ok=True)
    files = {c.name: gzip.open(args.out / f"{c.name}.jsonl.gz", "wt") for c in cases}  # noqa: SIM115 - closed in finally
    reader = OffsetReader(admin, [f"lw-rec-{run}-.*"], [TIMESTAMP_GROUP], 5.0)
    stamps = RecordTimestamps({"bootstrap.servers": bootstrap, "group.id": TIMESTAMP_GROUP})
    try:
        for c in cases:
            producers.append(Producing(bootstrap, names[c.name], c.pattern,
                                       partitions=c.partitions))  # fmt: skip
            start_case(c, bootstrap, names[c.name], names[c.name])
        started = time.time()
        end = started + args.minutes * 60
        stop_at = end - args.stop_before_end * 60
        next_roll = started + 50
        roll = 0
        print(f"recording {len(cases)} cases for {args.minutes:g} min", file=sys.stderr)
        while time.time() < end:
            tick = time.time()
            view = reader.read()
            try:
                exact = stamps.lookup(lagging(view), view.log_end, 0.5)
            except Exception as exc:  # a reading without exact times is still a reading
                print(f"# timestamps: {exc}", file=sys.stderr)
                exact = {}
            for case, part in reading(view, exact, rename).items():
                files[case].write(json.dumps(part, separators=(",", ":")) + "\n")
            now = time.time()
            for c in cases:
                if c.stop and c.stopped_at is None and now >= stop_at:
                    proc = c.procs[0]
                    c.stopped_at = getattr(proc, c.stop)()
                    print(f"{c.name}: {c.stop} at {c.stopped_at:.3f}", file=sys.stderr)
            if now >= next_roll:
                next_roll = now + 50
                for c in cases:
                    if c.rolling:
                        old = c.procs.pop(roll % len(c.procs))
                        old.die()
                        old.close()
                        fresh = ConsumerProcess(bootstrap, names[c.name], names[c.name],
                                                c.commit, c.work, reset="earliest")  # fmt: skip
                        c.procs.append(fresh)
                roll += 1
            time.sleep(max(0.0, tick + 1.0 - time.time()))
    finally:
        for f in files.values():
            f.close()
        for c in cases:
            for proc in c.procs:
                proc.close()
        for p in producers:
            p.close()
        stamps.close()
        admin.delete_consumer_groups(list(names.values()), request_timeout=10)
        for future in admin.delete_topics(list(names.values())).values():
            future.result(timeout=30)
    for c in cases:
        path = args.out / f"{c.name}.jsonl.gz"
        with gzip.open(path, "rt") as f:
            lines = f.read()
        header = {"case": c.name, "why": c.why, "commit": c.commit, "members": c.members,
                  "partitions": c.partitions,
                  "stop": {"kind": c.stop, "at": round(c.stopped_at, 3)} if c.stop else None,
                  "recorded": time.strftime("%Y-%m-%d", time.gmtime(started)),
                  "kafka": os.environ.get("LAGWATCH_KAFKA_VERSION", "")}  # fmt: skip
        with gzip.open(path, "wt") as f:
            f.write(json.dumps(header) + "\n" + lines)
    return 0


def load(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return a recording's header and readings."""
    with gzip.open(path, "rt") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return lines[0], lines[1:]


def view_of(part: dict[str, Any]) -> tuple[ClusterView, dict[tuple[tuple[str, int], int], Found]]:
    """Return one reading as the ClusterView and record timestamps the collector had."""
    groups = {}
    for gid, (state, members, assigned, committed) in part["groups"].items():
        groups[gid] = GroupView(
            gid, state, members,
            {(t, p): m for t, p, m in assigned},
            {(t, p): o for t, p, o in committed},
            errors=list(part.get("errors", [])),
        )  # fmt: skip
    ends = {(t, p): e for t, p, e, _ in part["ends"]}
    earliest = {(t, p): s for t, p, _, s in part["ends"]}
    exact: dict[tuple[tuple[str, int], int], Found] = {}
    for t, p, offset, ts in part["exact"]:
        exact[((t, p), offset)] = NoRecord(ends[(t, p)]) if ts is None else ts
    view = ClusterView(part["t"], 1, groups, ends, earliest, {}, {t: False for t, _ in ends}, [])
    return view, exact


if __name__ == "__main__":
    raise SystemExit(main())
