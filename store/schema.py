"""Table definitions shared by the SQLite and PostgreSQL backends."""

from __future__ import annotations

# One statement per entry; ``{id}`` becomes the backend's auto-increment key type.
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS series (
        id {id},
        name TEXT NOT NULL,
        labels TEXT NOT NULL,
        UNIQUE (name, labels))""",
    "CREATE INDEX IF NOT EXISTS series_name ON series (name)",
    """CREATE TABLE IF NOT EXISTS samples (
        series_id BIGINT NOT NULL,
        ts BIGINT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (series_id, ts)){without_rowid}""",
    "CREATE INDEX IF NOT EXISTS samples_ts ON samples (ts)",
    # ``seq`` marks which write last changed the row (Store.latest_since reads by it);
    # stores made before it existed get the column from each backend's migration.
    """CREATE TABLE IF NOT EXISTS latest (
        series_id BIGINT PRIMARY KEY,
        ts BIGINT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        note TEXT,
        seq BIGINT)""",
    """CREATE TABLE IF NOT EXISTS rollup_1m (
        series_id BIGINT NOT NULL,
        bucket BIGINT NOT NULL,
        vmin DOUBLE PRECISION NOT NULL,
        vmax DOUBLE PRECISION NOT NULL,
        vsum DOUBLE PRECISION NOT NULL,
        vcount BIGINT NOT NULL,
        PRIMARY KEY (series_id, bucket)){without_rowid}""",
    "CREATE INDEX IF NOT EXISTS rollup_1m_bucket ON rollup_1m (bucket)",
    """CREATE TABLE IF NOT EXISTS rollup_1h (
        series_id BIGINT NOT NULL,
        bucket BIGINT NOT NULL,
        vmin DOUBLE PRECISION NOT NULL,
        vmax DOUBLE PRECISION NOT NULL,
        vsum DOUBLE PRECISION NOT NULL,
        vcount BIGINT NOT NULL,
        PRIMARY KEY (series_id, bucket)){without_rowid}""",
    "CREATE INDEX IF NOT EXISTS rollup_1h_bucket ON rollup_1h (bucket)",
    """CREATE TABLE IF NOT EXISTS records (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        ts BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (namespace, key))""",
    "CREATE INDEX IF NOT EXISTS records_ts ON records (namespace, ts)",
    """CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value BIGINT NOT NULL)""",
]

# Rollup levels from fine to coarse: (table, bucket width in ms, source table).
ROLLUPS = [("rollup_1m", 60_000, "samples"), ("rollup_1h", 3_600_000, "rollup_1m")]

MS = 1000
"""Timestamps are stored as integer milliseconds."""

CHUNK = 500
"""Most ids or keys in one IN (...) list."""


def to_ms(ts: float) -> int:
    """Return a timestamp in seconds as stored integer milliseconds."""
    return int(round(ts * MS))
