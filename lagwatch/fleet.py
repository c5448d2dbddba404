"""The fleet: every daemon on one PostgreSQL store takes a share of the collectors.

Coordination lives in PostgreSQL itself, on one session connection per daemon:

- ``SHARDS`` fixed shards; a collector belongs to shard ``crc32(name) % SHARDS``.
  A daemon owns a shard while it holds the session advisory lock
  ``(SHARD_LOCK_CLASS, shard)``; the lock vanishes with the session, so a
  daemon that dies (even SIGKILL) frees its shards at once.
- A lease row per daemon in ``fleet_members`` (heartbeat every tick). A row
  whose session is gone is dead at once; a row whose heartbeat is older than
  the lease while its session lives is a hung daemon (SIGSTOP, a frozen VM):
  a live daemon terminates that session, which frees its locks. The hung
  daemon, when it wakes, finds its own lease expired (by its own clock, which
  always expires first) before it runs anything, gives every shard up and
  joins again as a new member.
- Balance: each daemon holds at most ``ceil(SHARDS / live)`` shards, gives
  extras back as others join, and takes free shards up to that; a shard left
  free over two ticks is taken by anyone.
- The alert engine runs where the ``alerts`` advisory lock is held (the same
  key ``PostgresStore.try_lock("alerts")`` takes), on the same session and
  under the same lease.

With SQLite there is no fleet: :class:`SoloFleet` owns everything.
"""

from __future__ import annotations

import logging
import math
import os
import random
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from lagwatch.store import Sample

log = logging.getLogger("lagwatch.fleet")

SHARDS = 64
SHARD_LOCK_CLASS = 4243
ALERTS_LOCK = (4242, zlib.crc32(b"alerts") & 0x7FFFFFFF)  # as PostgresStore.try_lock("alerts")
SCHEMA_LOCK = 4242001  # the store's own schema-creation lock
DAEMONS = "lagwatch_fleet_daemons"
SHARD_COUNT = "lagwatch_fleet_shards"
FORGET_AFTER = 3600.0  # dead members' rows are kept this long for `fleet status`

TABLE = """
CREATE TABLE IF NOT EXISTS fleet_members (
    daemon TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    backend_pid INTEGER NOT NULL,
    backend_start TIMESTAMPTZ,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_seconds DOUBLE PRECISION NOT NULL,
    shards INTEGER[] NOT NULL DEFAULT '{}',
    collectors INTEGER NOT NULL DEFAULT 0,
    leader BOOLEAN NOT NULL DEFAULT false,
    config TEXT NOT NULL DEFAULT ''
)
"""

# Every member with whether its session still exists and how old its heartbeat is.
MEMBERS = """
SELECT f.daemon, f.host, f.pid, f.backend_pid, f.shards, f.collectors, f.leader, f.config,
       extract(epoch FROM now() - f.heartbeat_at) AS age, f.lease_seconds,
       extract(epoch FROM f.heartbeat_at) AS heartbeat,
       EXISTS (SELECT 1 FROM pg_stat_activity a
               WHERE a.pid = f.backend_pid AND a.backend_start = f.backend_start) AS attached
FROM fleet_members f ORDER BY f.started_at, f.daemon
"""

HELD_SHARDS = """
SELECT objid::int FROM pg_locks
WHERE locktype = 'advisory' AND classid = %s AND objsubid = 2 AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def shard_of(name: str, shards: int = SHARDS) -> int:
    """Return the shard a collector belongs to: a stable hash of its name."""
    return zlib.crc32(name.encode()) % shards


def timings(intervals: Iterable[float]) -> tuple[float, float]:
    """Return (tick, lease) for collectors running at ``intervals``.

    The tick (heartbeat and rebalance) is a quarter of the shortest interval,
    between 0.25 s and 2.5 s, so a dead daemon's shards are taken within one
    tick of its session ending. The lease is what a hung daemon is given
    before its session is ended: 1.5 shortest intervals, at least 5 s (a
    loaded machine can starve a thread for seconds), at most 60 s.
    """
    shortest = min(intervals, default=10.0)
    tick = min(2.5, max(0.25, shortest / 4))
    lease = min(60.0, max(5.0, 1.5 * shortest, 4 * tick))
    return tick, lease


@dataclass(frozen=True)
class Member:
    """One row of ``fleet_members`` as `fleet status` shows it."""

    daemon: str
    host: str
    pid: int
    shards: tuple[int, ...]
    collectors: int
    leader: bool
    config: str
    age: float
    lease: float
    heartbeat: float
    attached: bool

    @property
    def live(self) -> bool:
        return self.attached and self.age < self.lease

    @property
    def state(self) -> str:
        if self.live:
            return "live"
        return "hung" if self.attached else "gone"


def read_members(conn: Any) -> list[Member]:
    """Return every member row (live, hung or gone); [] before any daemon joined."""
    exists = conn.execute("SELECT to_regclass('fleet_members') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute(MEMBERS).fetchall()
    return [
        Member(
            r[0],
            r[1],
            r[2],
            tuple(sorted(r[4] or ())),
            r[5],
            r[6],
            r[7],
            float(r[8]),
            float(r[9]),
            float(r[10]),
            bool(r[11]),
        )
        for r in rows
    ]


class SoloFleet:
    """No fleet (SQLite, `collect --once`): this daemon owns every collector and the alert engine."""

    enabled = False
    daemon_id = "solo"

    def may_run(self, name: str) -> bool:
        return True

    def claim(self, name: str) -> bool:
        return True

    def release(self, name: str) -> None:
        pass

    def lead_alerts(self) -> bool:
        return True

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def samples(self, now: float) -> list[Sample]:
        return []


class Fleet:
    """This daemon's membership: its lease, its shards and whether it leads the alert engine.

    ``on_gained(shards)`` is called (from the fleet thread) when shards are
    newly held, so the daemon runs their collectors at once; ``on_lost(shards)``
    when they are given up or taken away, so it rebuilds those collectors
    before they run here again (their state then comes from the store, written
    meanwhile by whoever ran them).
    """

    enabled = True

    def __init__(
        self,
        dsn: str,
        collectors: Sequence[str],
        intervals: Iterable[float],
        want_alerts: bool,
        on_gained: Callable[[set[int]], None] = lambda shards: None,
        on_lost: Callable[[set[int]], None] = lambda shards: None,
        on_leader: Callable[[], None] = lambda: None,
        shards: int = SHARDS,
    ) -> None:
        self.dsn = dsn
        self.shards = shards
        self.collectors = {name: shard_of(name, shards) for name in collectors}
        names = "\n".join(sorted(collectors)).encode()
        self.config_digest = f"{zlib.crc32(names):08x}"
        self.tick, self.lease = timings(intervals)
        self.want_alerts = want_alerts
        self.on_gained, self.on_lost, self.on_leader = on_gained, on_lost, on_leader
        self.daemon_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.held: set[int] = set()
        self.leader = False
        self.live_members = 0
        self._conn: Any = None
        self._fresh_until = 0.0  # monotonic: the lease as this daemon itself counts it
        self._free_before: set[int] = set()  # free at the last tick
        self._free_long: set[int] = set()  # free at the last two ticks
        self.unreachable = False  # the last attempt to connect to the store failed
        self._warned_stale = False
        self._mutex = threading.Lock()
        self._running: dict[str, int] = {}  # collectors running here now (claim/release)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the daemon asks ----------------------------------------------------

    def fresh(self) -> bool:
        """True while this daemon's own lease has not run out (by its own clock)."""
        return time.monotonic() < self._fresh_until

    def may_run(self, name: str) -> bool:
        """Check before each run: True if this daemon holds the collector's shard under a fresh
        lease, or holds it and cannot reach the store at all (then it keeps collecting into
        the runner's buffer, as a lone daemon does, and sorts ownership out when it is back)."""
        with self._mutex:
            held = self.collectors.get(name, -1) in self.held
        return held and self._lease_allows()

    def claim(self, name: str) -> bool:
        """``may_run``, and if so note the run as in progress until ``release(name)``: a shard
        is not given back while one of its collectors runs here, so the daemon that takes it
        never starts a run before this one has ended."""
        with self._mutex:
            if self.collectors.get(name, -1) not in self.held or not self._lease_allows():
                return False
            self._running[name] = self._running.get(name, 0) + 1
            return True

    def release(self, name: str) -> None:
        with self._mutex:
            left = self._running.get(name, 0) - 1
            if left > 0:
                self._running[name] = left
            else:
                self._running.pop(name, None)

    def _lease_allows(self) -> bool:
        if self.fresh() or self.unreachable:
            return True
        if not self._warned_stale:
            self._warned_stale = True
            log.warning(
                "fleet lease ran out (this daemon was stalled): running nothing until renewed"
            )
        return False

    def lead_alerts(self) -> bool:
        """True while this daemon holds the alerts lock under a fresh lease."""
        return self.leader and self.fresh()

    def owned(self) -> list[str]:
        with self._mutex:
            return sorted(n for n, s in self.collectors.items() if s in self.held)

    # -- life --------------------------------------------------------------------

    def start(self) -> None:
        """Join now (one tick in this thread, so the first runs see their shards), then tick on."""
        self._tick()
        self._thread = threading.Thread(target=self._loop, name="fleet", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Leave: stop ticking, delete this member's row and end the session (freeing every lock)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._conn is not None and not self._conn.closed:
            try:
                self._conn.execute("DELETE FROM fleet_members WHERE daemon = %s", (self.daemon_id,))
            except psycopg.Error as exc:
                log.debug("leaving the fleet: %s", exc)
        self._drop_session()

    def samples(self, now: float) -> list[Sample]:
        """``lagwatch_fleet_daemons`` and this daemon's ``lagwatch_fleet_shards``."""
        with self._mutex:
            held = len(self.held)
        return [
            Sample.of(DAEMONS, self.live_members, now),
            Sample.of(SHARD_COUNT, held, now, daemon=self.daemon_id),
        ]

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            self._tick()

    def _tick(self) -> None:
        if self._conn is None or self._conn.closed:
            try:
                self._join()
            except psycopg.Error as exc:
                if not self.unreachable:
                    log.warning("fleet: cannot reach the store: %s", str(exc).strip())
                self.unreachable = True
                return
            self.unreachable = False
            if self.held:  # a session lost (or ended by the others): what is still ours?
                self._relock()
        try:
            sent = time.monotonic()
            self._heartbeat()
            self._fresh_until = sent + self.lease - self.tick
            self._warned_stale = False
            self._balance()
        except psycopg.Error as exc:
            # Keep the shards in mind: the next session locks them again and drops those
            # another daemon took meanwhile (a stalled daemon's session is ended by the others).
            log.warning("fleet: lost the store session: %s", str(exc).strip())
            self._drop_session()
            self.leader = False

    def _relock(self) -> None:
        """On a new session after losing one: lock the shards held before, give up the rest."""
        with self._mutex:
            before = set(self.held)
        kept = set()
        for shard in before:
            got = self._conn.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (SHARD_LOCK_CLASS, shard)
            ).fetchone()
            if got and got[0]:
                kept.add(shard)
        with self._mutex:
            self.held = kept
        lost = before - kept
        log.info("fleet: new session kept %d shards, %d run elsewhere now", len(kept), len(lost))
        if lost:
            self.on_lost(lost)

    # -- the session ---------------------------------------------------------------

    def _join(self) -> None:
        # Keepalives: a link that goes silent ends the session in ~10 s, not at TCP's hours.
        conn = psycopg.connect(
            self.dsn, connect_timeout=5, autocommit=True,
            keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2,
        )  # fmt: skip
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                conn.execute(TABLE)
            conn.execute(
                "INSERT INTO fleet_members (daemon, host, pid, backend_pid, backend_start,"
                " lease_seconds, config) SELECT %s, %s, %s, pg_backend_pid(), backend_start, %s, %s"
                " FROM pg_stat_activity WHERE pid = pg_backend_pid()"
                " ON CONFLICT (daemon) DO UPDATE SET backend_pid = EXCLUDED.backend_pid,"
                " backend_start = EXCLUDED.backend_start, heartbeat_at = now()",
                (self.daemon_id, socket.gethostname(), os.getpid(), self.lease,
                 self.config_digest),
            )  # fmt: skip
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        log.info(
            "joined the lagwatch fleet as %s (%d shards, tick %gs, lease %gs)",
            self.daemon_id, self.shards, self.tick, self.lease,
        )  # fmt: skip

    def _heartbeat(self) -> None:
        with self._mutex:
            held = sorted(self.held)
            count = sum(1 for s in self.collectors.values() if s in self.held)
        row = self._conn.execute(
            "UPDATE fleet_members SET heartbeat_at = now(), shards = %s, collectors = %s,"
            " leader = %s WHERE daemon = %s AND backend_pid = pg_backend_pid() RETURNING 1",
            (held, count, self.leader, self.daemon_id),
        ).fetchone()
        if row is None:
            raise psycopg.OperationalError("this daemon's fleet row was removed")

    def _drop_session(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass

    # -- balancing -----------------------------------------------------------------

    def _balance(self) -> None:
        conn = self._conn
        members = read_members(conn)
        for m in members:
            if m.attached and m.age >= m.lease and m.daemon != self.daemon_id:
                log.warning("fleet: %s stopped heartbeating; ending its session", m.daemon)
                conn.execute(
                    "SELECT pg_terminate_backend(backend_pid) FROM fleet_members WHERE daemon = %s",
                    (m.daemon,),
                )
            elif not m.attached and m.age > FORGET_AFTER:
                conn.execute("DELETE FROM fleet_members WHERE daemon = %s", (m.daemon,))
        live = [m for m in members if m.live or m.daemon == self.daemon_id]
        self.live_members = len(live)
        target = math.ceil(self.shards / max(1, len(live)))
        taken = {r[0] for r in conn.execute(HELD_SHARDS, (SHARD_LOCK_CLASS,)).fetchall()}
        with self._mutex:
            held = set(self.held)
        gained: set[int] = set()
        lost: set[int] = set()
        if len(held) > target:
            # Give back the extras, highest first (a stable choice, so others can count on it),
            # but none with a collector running here now: that one goes at a later tick. A
            # shard leaves `held` before its lock is released, so no run starts here after.
            with self._mutex:
                busy = {self.collectors[n] for n in self._running if n in self.collectors}
                lost = set(sorted(self.held - busy, reverse=True)[: len(self.held) - target])
                self.held -= lost
            for shard in sorted(lost, reverse=True):
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", (SHARD_LOCK_CLASS, shard))
            held -= lost
        free = [s for s in range(self.shards) if s not in taken and s not in held]
        random.shuffle(free)
        room = target - len(held)
        for shard in free:
            # A shard is taken once it has been free on two ticks in a row, so daemons coming
            # back from a store outage lock their own shards again before others take them.
            # Up to the target; one past it only a shard free for longer still (members
            # briefly disagree on how many are live).
            if not (
                shard in self._free_before and room > 0 or shard in self._free_long and room == 0
            ):
                continue
            got = conn.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (SHARD_LOCK_CLASS, shard)
            ).fetchone()
            if got and got[0]:
                gained.add(shard)
                room -= 1
        self._free_long = self._free_before & set(free) - gained
        self._free_before = set(free) - gained
        with self._mutex:
            self.held |= gained
        if lost:
            log.info("fleet: gave back %d shards (%d live daemons)", len(lost), len(live))
            self.on_lost(lost)
        if gained:
            log.info("fleet: took %d shards (%d live daemons)", len(gained), len(live))
            self.on_gained(gained)
        if self.want_alerts and not self.leader:
            got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", ALERTS_LOCK).fetchone()
            if got and got[0]:
                self.leader = True
                log.info("fleet: this daemon leads the alert engine")
                self.on_leader()
