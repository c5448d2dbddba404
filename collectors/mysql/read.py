"""What one MySQL/MariaDB server says about its binlog: statements, flavours, parsed state."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lagwatch.collectors.mysql.session import Rows

# Once per connection: the flavour decides which statements the cycle uses,
# and SHOW BINARY LOGS fails outright when the binlog is off.
PROBE_SQL = "SELECT VERSION() AS version, @@log_bin AS log_bin"

# SHOW VARIABLES returns only the names the server has, so one statement
# serves MySQL 5.7 to 9.x and MariaDB 10.x to 11.x alike.
VARIABLES_SQL = (
    "SHOW GLOBAL VARIABLES WHERE Variable_name IN ("
    "'binlog_format', 'binlog_row_image', 'binlog_expire_logs_seconds', 'expire_logs_days', "
    "'binlog_expire_logs_auto_purge', 'max_binlog_total_size', 'gtid_mode', 'gtid_purged', "
    "'gtid_binlog_pos')"
)
BINARY_LOGS_SQL = "SHOW BINARY LOGS"
MASTER_STATUS_SQL = "SHOW MASTER STATUS"
BINARY_LOG_STATUS_SQL = "SHOW BINARY LOG STATUS"
# MariaDB has no gtid_purged: the Gtid_list event at the head of the oldest
# file (SHOW BINLOG EVENTS without IN reads the oldest) is the state purged.
OLDEST_GTID_LIST_SQL = "SHOW BINLOG EVENTS LIMIT 3"

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_FILE = re.compile(r"^(.*)\.(\d+)$")


@dataclass(frozen=True)
class ServerInfo:
    """Flavour and version of a server, read once per connection."""

    flavour: str  # "mysql" or "mariadb"
    version: tuple[int, int, int]
    version_text: str
    log_bin: bool

    @classmethod
    def from_probe(cls, rows: Rows) -> ServerInfo:
        """Return the info in the PROBE_SQL row."""
        text = str(rows[0]["version"])
        # Old MariaDB clients may see the 5.5.5- replication prefix.
        bare = text.removeprefix("5.5.5-")
        match = _VERSION.search(bare)
        version = (
            (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else (0, 0, 0)
        )
        flavour = "mariadb" if "mariadb" in text.lower() else "mysql"
        return cls(flavour, version, bare.split("-")[0], str(rows[0]["log_bin"]) in ("1", "ON"))

    @property
    def status_sql(self) -> str:
        """Return the statement that gives the current file and position on this server."""
        if self.flavour == "mysql" and self.version >= (8, 2, 0):
            return BINARY_LOG_STATUS_SQL  # SHOW MASTER STATUS is deprecated in 8.2, gone in 8.4
        return MASTER_STATUS_SQL

    def cycle_sql(self, with_purged_gtids: bool) -> list[str]:
        """Return the statements of one collection cycle, sent as one batch."""
        statements = [VARIABLES_SQL, BINARY_LOGS_SQL, self.status_sql]
        if with_purged_gtids and self.flavour == "mariadb":
            statements.append(OLDEST_GTID_LIST_SQL)
        return statements


@dataclass(frozen=True)
class BinlogFile:
    """One binary log file."""

    name: str
    size: int

    @property
    def base(self) -> str:
        return split_name(self.name)[0]

    @property
    def number(self) -> int:
        return split_name(self.name)[1]


def split_name(name: str) -> tuple[str, int]:
    """Return (base name, number) of a binlog file name such as mariadb-bin.000042."""
    match = _FILE.match(name)
    if not match:
        return name, -1
    return match.group(1), int(match.group(2))


@dataclass(frozen=True)
class Retention:
    """How long the server keeps binlog files; 0 seconds means it never expires them."""

    seconds: float
    because: str


@dataclass(frozen=True)
class BinlogState:
    """The binlog as one cycle saw it: files oldest first, the write position, settings."""

    files: list[BinlogFile]
    current_file: str
    position: int
    variables: dict[str, str]
    purged_gtids: str | None
    retention: Retention

    @classmethod
    def parse(cls, info: ServerInfo, results: Sequence[Rows]) -> BinlogState:
        """Return the state from the results of ``info.cycle_sql(...)``, in that order."""
        variables = {str(r["Variable_name"]): str(r["Value"]) for r in results[0]}
        files = [BinlogFile(str(r["Log_name"]), int(r["File_size"])) for r in results[1]]
        if not results[2]:
            raise ValueError(f"{info.status_sql} returned no row: is the binary log enabled?")
        status = results[2][0]
        current, position = str(status["File"]), int(status["Position"])
        if not files or files[-1].name != current:
            # The file rotated between the two statements: the status is newer.
            files.append(BinlogFile(current, position))
        purged = variables.get("gtid_purged")
        if len(results) > 3:
            purged = next(
                (str(r["Info"]) for r in results[3] if r.get("Event_type") == "Gtid_list"), "[]"
            )
        return cls(
            files, current, position, variables, purged, retention_of(info.flavour, variables)
        )

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files[:-1]) + self.position

    def index(self, name: str) -> int | None:
        """Return where file ``name`` is in the list, or None when the server does not have it."""
        for i, f in enumerate(self.files):
            if f.name == name:
                return i
        return None

    def bytes_after(self, name: str, pos: int) -> int | None:
        """Return the bytes written after (name, pos): rest of that file plus every later file."""
        at = self.index(name)
        if at is None:
            return None
        if at == len(self.files) - 1:
            return max(0, self.position - pos)
        rest = max(0, self.files[at].size - pos)
        return rest + sum(f.size for f in self.files[at + 1 : -1]) + self.position


def retention_of(flavour: str, variables: Mapping[str, str]) -> Retention:
    """Return the binlog expiry a server with these variables applies.

    MariaDB ≥ 10.6 keeps binlog_expire_logs_seconds and expire_logs_days in
    step; older MariaDB only has the days. MySQL 8 prefers the seconds when
    non-zero and falls back to the days (gone in 8.4); since 8.0.29
    binlog_expire_logs_auto_purge=OFF stops expiry whatever they say.
    """
    seconds = _number(variables.get("binlog_expire_logs_seconds"))
    days = _number(variables.get("expire_logs_days"))
    if flavour == "mysql" and variables.get("binlog_expire_logs_auto_purge", "ON").upper() == "OFF":
        return Retention(0, "binlog_expire_logs_auto_purge=OFF: binary logs are never expired")
    if seconds:
        return Retention(seconds, f"binlog_expire_logs_seconds={seconds:.0f}")
    if days:
        return Retention(days * 86400, f"expire_logs_days={days:g}")
    named = [n for n in ("binlog_expire_logs_seconds", "expire_logs_days") if n in variables]
    return Retention(0, f"{' and '.join(named) or 'no expiry setting'} = 0: never expired")


def _number(text: str | None) -> float:
    try:
        return float(text) if text is not None else 0.0
    except ValueError:
        return 0.0
