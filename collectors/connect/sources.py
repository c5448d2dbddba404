"""Which configured source a Debezium connector reads, and what that source says now.

Linking, per connector, first match wins:

1. ``links: {connector: source}`` in the connect: entry.
2. By address: the connector config's ``database.hostname`` / ``database.port`` (and
   ``database.dbname`` for PostgreSQL) equal to the host, port and database of a source's
   DSN (``localhost``, ``127.0.0.1`` and ``::1`` count as one host, a unix socket as
   localhost). This is what the connector actually connects to.
3. PostgreSQL only, by slot: the one postgres source that has a replication slot named like
   the connector's ``slot.name`` in that database. Slot names repeat across servers
   (Debezium's default is ``debezium`` everywhere), so this only decides when the address
   cannot — a DNS alias, a proxy, a container name — and two sources having the slot is
   reported as ambiguous (set ``links``).

Each cycle reads every linked source once, after the connectors' offsets (so the source
can never look behind an offset): PostgreSQL's current WAL position, its next transaction
id, the connectors' slots and whether their publications are FOR ALL TABLES (a
``pg_monitor`` role suffices); MySQL/MariaDB's binlog files and position (``BINLOG MONITOR``
/ ``REPLICATION CLIENT``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pymysql
from psycopg.conninfo import conninfo_to_dict

from lagwatch.collectors.base import SourceUnreachable
from lagwatch.collectors.connect.debezium import WAL, Target
from lagwatch.collectors.mysql.config import MysqlSource
from lagwatch.collectors.mysql.read import PROBE_SQL, BinlogState, ServerInfo
from lagwatch.collectors.mysql.session import PyMysqlSession, Session, connect_args
from lagwatch.collectors.mysql.session import error_text as mysql_error
from lagwatch.collectors.postgres.config import PostgresSource
from lagwatch.collectors.postgres.session import connect_source
from lagwatch.collectors.postgres.session import error_text as pg_error

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "ip6-localhost"})

PG_SERVER_SQL = (
    "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
    "ELSE pg_current_wal_lsn() END) - '0/0'::pg_lsn AS current_lsn, "
    "txid_snapshot_xmax(txid_current_snapshot()) AS next_xid, "
    "CASE WHEN current_setting('track_commit_timestamp')::bool "
    "THEN (pg_last_committed_xact()).xid::text::bigint END AS last_commit_xid"
)
PG_SLOTS_SQL = (
    "SELECT slot_name, database, active, confirmed_flush_lsn - '0/0'::pg_lsn AS confirmed "
    "FROM pg_replication_slots WHERE slot_type = 'logical' AND slot_name = ANY(%s)"
)
# Whether each connector's publication (in the source's database) is FOR ALL TABLES.
PG_PUBLICATIONS_SQL = "SELECT pubname, puballtables FROM pg_publication WHERE pubname = ANY(%s)"


def _host(host: str | None) -> str:
    text = (host or "localhost").strip().lower()
    if not text or text.startswith("/") or text in LOOPBACK:
        return "localhost"
    return text


@dataclass(frozen=True)
class Address:
    host: str
    port: int
    dbname: str | None


def pg_address(source: PostgresSource) -> Address | None:
    try:
        params = conninfo_to_dict(source.dsn.get_secret_value())
    except psycopg.Error:
        return None
    host = str(params.get("host") or params.get("hostaddr") or "").split(",")[0]
    port = str(params.get("port") or "5432").split(",")[0]
    dbname = params.get("dbname") or params.get("user")
    try:
        return Address(_host(host), int(port), str(dbname) if dbname else None)
    except ValueError:
        return None


def mysql_address(source: MysqlSource) -> Address | None:
    try:
        args = connect_args(source.dsn.get_secret_value(), source.timeout)
    except (SourceUnreachable, ValueError):
        return None
    return Address(_host(args["host"]), int(args["port"]), None)


@dataclass(frozen=True)
class Link:
    """A connector tied to a source, and how the tie was made (shown in notes)."""

    source: str
    how: str


@dataclass(frozen=True)
class SlotRow:
    name: str
    database: str | None
    active: bool
    confirmed: int | None


@dataclass
class PgReading:
    """What one PostgreSQL source said this cycle."""

    current_lsn: int
    next_xid: int | None
    last_commit_xid: int | None = None
    """The last transaction committed, when ``track_commit_timestamp`` is on (else None)."""
    slots: dict[str, SlotRow] = field(default_factory=dict)
    publications: dict[str, bool] = field(default_factory=dict)
    """Publication → whether it is FOR ALL TABLES (only the ones asked for, found)."""


@dataclass
class BinlogReading:
    """What one MySQL/MariaDB source said this cycle, and the session to ask it more."""

    state: BinlogState
    session: Session


class SourceReader:
    """Links connectors to the configured postgres and mysql sources and reads those sources."""

    def __init__(self, sources: Sequence[Any], links: Mapping[str, str], timeout: float) -> None:
        self.timeout = timeout
        self.links = dict(links)
        self.pg: dict[str, PostgresSource] = {
            s.name: s for s in sources if isinstance(s, PostgresSource)
        }
        self.mysql: dict[str, MysqlSource] = {
            s.name: s for s in sources if isinstance(s, MysqlSource)
        }
        self._pg_address = {n: pg_address(s) for n, s in self.pg.items()}
        self._mysql_address = {n: mysql_address(s) for n, s in self.mysql.items()}
        self._pg_conns: dict[str, psycopg.Connection[Any]] = {}
        self._mysql_sessions: dict[str, PyMysqlSession] = {}
        self._mysql_info: dict[str, ServerInfo] = {}

    # -- linking ---------------------------------------------------------------

    def link(self, connector: str, target: Target) -> Link | str:
        """Return the connector's link by config or address, or why there is none.

        A PostgreSQL connector no address matches comes back as "" (to be tried by slot)."""
        named = self.links.get(connector)
        pool = self.pg if target.family == WAL else self.mysql
        what = "postgres" if target.family == WAL else "mysql"
        if named is not None:
            if named not in pool:
                return f"links names {named!r}, which is not a {what} source"
            return Link(named, "links")
        if target.family is None:
            return "not a PostgreSQL or MySQL/MariaDB connector"
        if target.host is None:
            return "its config has no database.hostname"
        wanted = Address(_host(target.host), target.port or 0, target.dbname)
        addresses = self._pg_address if target.family == WAL else self._mysql_address
        matches = [n for n, a in addresses.items() if a is not None and a == wanted]
        if len(matches) == 1:
            return Link(matches[0], f"address {target.address()}")
        if len(matches) > 1:
            return f"sources {', '.join(sorted(matches))} all have address {target.address()}; set links"
        if target.family == WAL and target.slot and self.pg:
            return ""
        return f"no {what} source has address {target.address()}; add it to sources: or set links"

    def by_slot(self, target: Target, readings: Mapping[str, PgReading | str]) -> Link | str:
        """Return the one postgres source holding the connector's slot in its database."""
        holders = [
            name
            for name, reading in readings.items()
            if isinstance(reading, PgReading)
            and target.slot in reading.slots
            and reading.slots[str(target.slot)].database in (None, target.dbname)
        ]
        if len(holders) == 1:
            return Link(holders[0], f"slot {target.slot}")
        if len(holders) > 1:
            return f"slot {target.slot} exists on sources {', '.join(sorted(holders))}; set links"
        return (
            f"no postgres source has address {target.address()} or slot {target.slot}; "
            "add it to sources: or set links"
        )

    # -- reading ---------------------------------------------------------------

    def read_pg(
        self, names: Iterable[str], slots: Iterable[str], publications: Iterable[str] = ()
    ) -> dict[str, PgReading | str]:
        """Return each postgres source's reading (or its error), with the named slots and
        publications."""
        wanted = sorted(set(slots))
        pubs = sorted(set(publications))
        out: dict[str, PgReading | str] = {}
        for name in names:
            out[name] = self._read_pg(name, wanted, pubs)
        return out

    def _read_pg(self, name: str, slots: list[str], publications: list[str]) -> PgReading | str:
        try:
            conn = self._pg_conns.get(name)
            if conn is None or conn.closed:
                conn = self._pg_conns[name] = connect_source(self.pg[name].dsn, self.timeout, name)
            row = conn.execute(PG_SERVER_SQL).fetchone()
            assert row is not None
            reading = PgReading(
                int(row[0]),
                int(row[1]) if row[1] is not None else None,
                int(row[2]) if row[2] is not None else None,
            )
            for slot, database, active, confirmed in conn.execute(PG_SLOTS_SQL, (slots,)):
                reading.slots[str(slot)] = SlotRow(
                    str(slot),
                    database,
                    bool(active),
                    int(confirmed) if confirmed is not None else None,
                )
            if publications:
                for pubname, all_tables in conn.execute(PG_PUBLICATIONS_SQL, (publications,)):
                    reading.publications[str(pubname)] = bool(all_tables)
            return reading
        except SourceUnreachable as exc:
            return str(exc)
        except psycopg.Error as exc:
            self._drop_pg(name)
            return f"source {name}: {pg_error(exc)}"

    def read_mysql(self, name: str) -> BinlogReading | str:
        try:
            session = self._mysql_sessions.get(name)
            if session is None or not session.open:
                session = self._mysql_sessions[name] = PyMysqlSession(
                    self.mysql[name].dsn.get_secret_value(), self.timeout
                )
                self._mysql_info.pop(name, None)
            info = self._mysql_info.get(name)
            if info is None:
                info = self._mysql_info[name] = ServerInfo.from_probe(session.run([PROBE_SQL])[0])
            if not info.log_bin:
                return f"source {name}: log_bin is OFF, so there is no binlog to read"
            return BinlogReading(
                BinlogState.parse(info, session.run(info.cycle_sql(False))), session
            )
        except (pymysql.MySQLError, SourceUnreachable, ValueError) as exc:
            self._drop_mysql(name)
            return f"source {name}: {mysql_error(exc)}"

    def _drop_pg(self, name: str) -> None:
        conn = self._pg_conns.pop(name, None)
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass

    def _drop_mysql(self, name: str) -> None:
        session = self._mysql_sessions.pop(name, None)
        self._mysql_info.pop(name, None)
        if session is not None:
            try:
                session.close()
            except pymysql.MySQLError:
                pass

    def close(self) -> None:
        for name in list(self._pg_conns):
            self._drop_pg(name)
        for name in list(self._mysql_sessions):
            self._drop_mysql(name)
