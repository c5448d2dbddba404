"""The MySQL/MariaDB collector: one batch of statements per cycle, plus each reader's position."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pymysql

from lagwatch.collectors.base import Collector, CollectorContext, SourceUnreachable
from lagwatch.collectors.connect.offsets import EXTRAS_KEY, Endpoint
from lagwatch.collectors.mysql.clock import FileClock
from lagwatch.collectors.mysql.config import BinlogReader, MysqlSource
from lagwatch.collectors.mysql.lag import idle_reader
from lagwatch.collectors.mysql.read import PROBE_SQL, BinlogState, ServerInfo
from lagwatch.collectors.mysql.readers import (
    ReaderError,
    ReaderPosition,
    read_position,
)
from lagwatch.collectors.mysql.samples import (
    BEHIND,
    CURRENT_FILE,
    ENABLED,
    READER_SERIES,
    READER_UP,
    info_samples,
    reader_samples,
    server_samples,
)
from lagwatch.collectors.mysql.session import PyMysqlSession, Session, connect_args, error_text
from lagwatch.collectors.outbox import MYSQL
from lagwatch.collectors.outbox import build as build_outbox
from lagwatch.collectors.stale import stale_samples
from lagwatch.store import Sample, Store
from lagwatch.store.contracts import origin

log = logging.getLogger("lagwatch.collectors.mysql")

# Server errors that mean the login lacks a privilege, not that the server is down.
_ACCESS_DENIED = {1044, 1142, 1227, 1370}


class MysqlCollector:
    """Reads one MySQL/MariaDB server over one kept connection (or a given ``session``)."""

    def __init__(
        self,
        config: MysqlSource,
        context: CollectorContext | None = None,
        session: Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.name = f"mysql:{config.name}"
        self.origins: tuple[str, ...] = (origin("source", config.name),)
        self.interval = config.interval
        self.timeout = config.timeout
        self._store: Store | None = context.store if context else None
        self._behind: dict[str, float] = {}
        """reader → its last behind bytes, carried forward once its file is purged."""
        shared = context.extras.get(EXTRAS_KEY) if context else None
        self._endpoints: dict[str, Endpoint] = shared if isinstance(shared, dict) else {}
        self._session = session
        self._owns_session = session is None
        self._info: ServerInfo | None = None
        self._now = clock
        self._clock = FileClock()
        self._seeded = False
        self._mark: tuple[str, int, float] | None = None

    # -- the cycle -------------------------------------------------------------

    def collect(self) -> list[Sample]:
        """Return one cycle's samples; raise SourceUnreachable when the server cannot be read."""
        session = self._connect()
        try:
            return self._cycle(session)
        except pymysql.MySQLError as exc:
            code = exc.args[0] if exc.args else None
            if code in _ACCESS_DENIED:
                raise SourceUnreachable(
                    f"source {self.config.name}: {error_text(exc)}; grant BINLOG MONITOR "
                    "(MariaDB 10.5+) or REPLICATION CLIENT (MySQL) to the monitoring login"
                ) from None
            if isinstance(exc, pymysql.OperationalError | pymysql.InterfaceError):
                self.close()  # the connection may be gone: reconnect next cycle
            raise SourceUnreachable(f"source {self.config.name}: {error_text(exc)}") from None

    def _cycle(self, session: Session) -> list[Sample]:
        source = self.config.name
        if self._info is None:
            self._info = ServerInfo.from_probe(session.run([PROBE_SQL])[0])
        info = self._info
        out = info_samples(source, info, self._now())
        if not info.log_bin:
            return out
        # Readers first: a reader read before the server can never look ahead of it.
        positions = {
            reader.name: self._position(reader, session, self._now())
            for reader in self.config.readers
        }
        with_gtids = any(isinstance(p, ReaderPosition) and p.gtid for p in positions.values())
        state = BinlogState.parse(info, session.run(info.cycle_sql(with_gtids)))
        now = self._now()
        self._seed(state, now)
        self._clock.observe([f.number for f in state.files], now)
        out += server_samples(source, info, state, self._rate(state, now), now)
        for name, position in positions.items():
            idle = None
            if isinstance(position, ReaderPosition) and position.file and not position.snapshot:
                idle = idle_reader(session, state, position.file, position.pos or 0, position.event)
            found = reader_samples(source, name, position, info, state, self._clock, now, idle)
            out += [self._carry(s) for s in found]
            if isinstance(position, ReaderError):
                # What the position would have fed must not pass for current (issue 11, finding 2).
                out += stale_samples(
                    self._store,
                    READER_SERIES,
                    {"source": source, "reader": name},
                    f"the reader's position could not be read: {position}",
                    now,
                )
        return out

    def _carry(self, sample: Sample) -> Sample:
        """Keep a lost reader's "at least" behind figure from dropping.

        Once the reader's file is purged the lower bound is every byte the server still has,
        which a purge makes smaller although the reader fell further behind (issue 11,
        finding 6: 173,438 B known, then 14,684 B); the larger figure read before stays.
        """
        if sample.name != BEHIND:
            return sample
        labels = sample.label_dict
        key = labels.get("reader", "")
        if not (sample.note or "").startswith("at least"):
            self._behind[key] = sample.value
            return sample
        known = self._behind.get(key)
        if known is None and self._store is not None:
            stored = self._store.latest(BEHIND, labels)
            known = stored[0].value if stored else None
        if known is None or known <= sample.value:
            self._behind[key] = sample.value
            return sample
        note = (
            f"{sample.note}; {known:,.0f} B, the last figure read before the purge, carried "
            f"forward (the server now has {sample.value:,.0f} B)"
        )
        return Sample.of(BEHIND, known, sample.ts, note=note[:500], **labels)

    def _position(
        self, reader: BinlogReader, session: Session, now: float
    ) -> ReaderPosition | ReaderError:
        # Don't raise: one reader that cannot be read must not hide the server or the others.
        try:
            return read_position(reader, session, self._store, self.timeout, now, self._endpoints)
        except ReaderError as exc:
            return exc

    def _rate(self, state: BinlogState, now: float) -> float | None:
        mark, self._mark = self._mark, (state.current_file, state.position, now)
        if mark is None:
            return None
        file, pos, then = mark
        written = state.bytes_after(file, pos)
        if written is None or now <= then:
            return None  # the earlier file is gone already: skip one reading
        return written / (now - then)

    def _seed(self, state: BinlogState, now: float) -> None:
        """Read back when files appeared from this collector's own history in the store."""
        if self._seeded:
            return
        self._seeded = True
        retention = state.retention.seconds
        if self._store is None or retention <= 0:
            return
        try:
            found = self._store.query_range(
                CURRENT_FILE, {"source": self.config.name}, now - retention, now, agg="max"
            )
        except Exception as exc:
            # Don't raise: history only sharpens purge ETAs; from here on memory keeps them.
            log.warning("source %s: cannot read binlog history: %s", self.config.name, exc)
            return
        if found:
            self._clock.seed(found[0].points)

    # -- lifecycle -------------------------------------------------------------

    def _connect(self) -> Session:
        if self._session is None:
            try:
                self._session = PyMysqlSession(self.config.dsn.get_secret_value(), self.timeout)
            except pymysql.MySQLError as exc:
                raise SourceUnreachable(
                    f"source {self.config.name}: cannot connect to MySQL/MariaDB: {error_text(exc)}; "
                    "check the dsn and that the server is up"
                ) from None
            self._info = None
        return self._session

    def check(self) -> None:
        """Read the server and every reader once; raise naming each problem found."""
        samples = self.collect()
        # A tap reader's position lives in the store, which a bare check has not got.
        unjudged = (
            set() if self._store else {r.name for r in self.config.readers if r.kind == "tap"}
        )
        problems = [
            f"reader {s.label_dict['reader']}: {s.note}"
            for s in samples
            if s.name == READER_UP and s.value == 0 and s.label_dict["reader"] not in unjudged
        ]
        problems += [s.note for s in samples if s.name == ENABLED and s.value == 0 and s.note]
        if problems:
            raise SourceUnreachable(f"source {self.config.name}: " + "; ".join(problems))

    def close(self) -> None:
        if self._session is not None and self._owns_session:
            self._session.close()
            self._session = None


def build(config: MysqlSource, context: CollectorContext) -> list[Collector]:
    """Return the binlog collector, plus an outbox collector when tables are configured."""
    dsn, timeout = config.dsn.get_secret_value(), config.timeout
    return [
        MysqlCollector(config, context),
        *build_outbox(config, MYSQL, lambda: pymysql.connect(**connect_args(dsn, timeout))),
    ]
