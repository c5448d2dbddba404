"""Turn one cycle's binlog state and reader positions into samples (pure functions)."""

from __future__ import annotations

from lagwatch.collectors.mysql.clock import FileClock, purge_eta
from lagwatch.collectors.mysql.gtid import GtidError, purged_gtids_missing
from lagwatch.collectors.mysql.read import BinlogState, ServerInfo, split_name
from lagwatch.collectors.mysql.readers import ReaderError, ReaderPosition
from lagwatch.store import Sample

SERVER_INFO = "lagwatch_mysql_server_info"
ENABLED = "lagwatch_mysql_binlog_enabled"
FILES = "lagwatch_mysql_binlog_files"
BYTES = "lagwatch_mysql_binlog_bytes"
CURRENT_FILE = "lagwatch_mysql_binlog_current_file_number"
POSITION = "lagwatch_mysql_binlog_position_bytes"
RATE = "lagwatch_mysql_binlog_bytes_per_second"
RETENTION = "lagwatch_mysql_binlog_retention_seconds"
RETENTION_BYTES = "lagwatch_mysql_binlog_retention_bytes"
FORMAT_OK = "lagwatch_mysql_binlog_format_ok"
ROW_IMAGE_OK = "lagwatch_mysql_binlog_row_image_ok"
READER_UP = "lagwatch_mysql_binlog_reader_up"
BEHIND = "lagwatch_mysql_binlog_reader_behind_bytes"
PURGE_ETA = "lagwatch_mysql_binlog_purge_eta_seconds"
LOST = "lagwatch_mysql_binlog_reader_lost"
GTID_OK = "lagwatch_mysql_binlog_reader_gtid_ok"
# What a reader's position feeds: marked stale when the position cannot be read.
READER_SERIES = (BEHIND, PURGE_ETA, LOST, GTID_OK)

NOTE_LIMIT = 300


def info_samples(source: str, info: ServerInfo, now: float) -> list[Sample]:
    """Return the server's flavour and version, and whether its binlog is on."""
    return [
        Sample.of(
            SERVER_INFO, 1, now, source=source, flavour=info.flavour, version=info.version_text
        ),
        Sample.of(
            ENABLED,
            1 if info.log_bin else 0,
            now,
            note=None if info.log_bin else "log_bin is OFF: no binlog, so no CDC; set log_bin",
            source=source,
        ),
    ]


def server_samples(
    source: str, info: ServerInfo, state: BinlogState, rate: float | None, now: float
) -> list[Sample]:
    """Return the binlog files, write position, growth, retention and CDC settings."""
    labels = {"source": source}
    retention = state.retention
    out = [
        Sample.of(FILES, len(state.files), now, **labels),
        Sample.of(BYTES, state.total_bytes, now, **labels),
        Sample.of(
            CURRENT_FILE, split_name(state.current_file)[1], now, note=state.current_file, **labels
        ),
        Sample.of(
            POSITION, state.position, now, note=f"{state.current_file}:{state.position}", **labels
        ),
        Sample.of(RETENTION, retention.seconds, now, note=retention.because, **labels),
    ]
    if rate is not None:
        out.append(Sample.of(RATE, rate, now, **labels))
    if "max_binlog_total_size" in state.variables:
        # MariaDB 11.4+: purges oldest files past this total, whatever their age; 0 = no limit.
        out.append(
            Sample.of(
                RETENTION_BYTES, float(state.variables["max_binlog_total_size"]), now, **labels
            )
        )
    out.append(_setting_ok(FORMAT_OK, "binlog_format", "ROW", state, source, now))
    if "binlog_row_image" in state.variables:
        out.append(_setting_ok(ROW_IMAGE_OK, "binlog_row_image", "FULL", state, source, now))
    return out


def _setting_ok(
    metric: str, variable: str, wanted: str, state: BinlogState, source: str, now: float
) -> Sample:
    """Return 1 when ``variable`` is ``wanted``, labelled with its actual value."""
    actual = state.variables.get(variable, "").upper() or "unknown"
    fine = actual == wanted
    note = None if fine else f"{variable} is {actual}; CDC needs {wanted}"
    return Sample.of(metric, 1 if fine else 0, now, note=note, source=source, **{variable: actual})


def reader_samples(
    source: str,
    reader: str,
    position: ReaderPosition | ReaderError,
    info: ServerInfo,
    state: BinlogState,
    clock: FileClock,
    now: float,
    idle: str | None = None,
) -> list[Sample]:
    """Return how far behind a reader is, when expiry may purge its file, and whether it is lost.

    ``idle`` says why a Debezium reader has nothing left to read (``mysql.lag.idle_reader``):
    its behind bytes are then 0, not the size of the transaction its offset stands in.
    """
    labels = {"source": source, "reader": reader}
    if isinstance(position, ReaderError):
        return [Sample.of(READER_UP, 0, now, note=_short(str(position)), **labels)]
    out: list[Sample] = []
    notes = [position.note] if position.note else []
    lost: list[str] = []
    if position.file is not None:
        out.extend(
            _file_samples(position.file, position.pos or 0, state, clock, now, labels, lost, idle)
        )
    if position.gtid is not None and state.purged_gtids is not None:
        try:
            missing = purged_gtids_missing(info.flavour, state.purged_gtids, position.gtid)
        except GtidError as exc:
            notes.append(f"cannot compare GTIDs: {exc}")
        else:
            if missing:
                lost.append(f"purged GTIDs it has not read: {missing}")
            out.append(
                Sample.of(
                    GTID_OK,
                    0 if missing else 1,
                    now,
                    note=_short(f"purged but not read: {missing}") if missing else None,
                    **labels,
                )
            )
    out.append(
        Sample.of(LOST, 1 if lost else 0, now, note=_short("; ".join(lost)) or None, **labels)
    )
    out.insert(0, Sample.of(READER_UP, 1, now, note=_short("; ".join(notes)) or None, **labels))
    return out


def _file_samples(
    file: str,
    pos: int,
    state: BinlogState,
    clock: FileClock,
    now: float,
    labels: dict[str, str],
    lost: list[str],
    idle: str | None = None,
) -> list[Sample]:
    at = state.index(file)
    retention = state.retention.seconds
    if at is None:
        oldest = state.files[0]
        base, number = split_name(file)
        if base != oldest.base:
            why = f"file {file} is not in this server's binlog ({oldest.base}.*)"
        elif number < oldest.number:
            why = f"file {file} is purged; the oldest kept is {oldest.name}"
        else:
            why = f"file {file} is newer than the server's current {state.current_file}"
        lost.append(why)
        out = [Sample.of(BEHIND, state.total_bytes, now, note=_short(f"at least: {why}"), **labels)]
        if retention > 0:
            out.append(Sample.of(PURGE_ETA, 0, now, note=_short(why), **labels))
        return out
    if idle is not None:
        out = [Sample.of(BEHIND, 0, now, note=_short(idle), **labels)]
    else:
        out = [Sample.of(BEHIND, state.bytes_after(file, pos) or 0, now, **labels)]
    following = state.files[at + 1].number if at + 1 < len(state.files) else None
    eta = purge_eta(retention, following, clock, now)
    if eta is not None:
        out.append(Sample.of(PURGE_ETA, eta.seconds, now, note=eta.note, **labels))
    return out


def _short(text: str) -> str:
    return text if len(text) <= NOTE_LIMIT else text[: NOTE_LIMIT - 1] + "…"
