"""The one query a PostgreSQL cycle sends, built for the columns the server has.

PostgreSQL adds slot columns release by release (13 `wal_status` and
`safe_wal_size`, 14 `two_phase` and the `pg_stat_replication_slots` view, 16
`conflicting`, 17 `inactive_since`, `invalidation_reason`, `failover`,
`synced`). Rather than a table of versions, the collector reads the catalog
once per connection (``FEATURES_QUERY``) and ``build_cycle_query`` selects
only what exists, so the same code serves 13 to 17 and whatever comes next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from psycopg import sql

MIN_VERSION_NUM = 130000

FEATURES_QUERY = """
SELECT current_setting('server_version_num')::int AS version_num,
       ARRAY(SELECT attname::text FROM pg_catalog.pg_attribute
             WHERE attrelid = 'pg_catalog.pg_replication_slots'::regclass
               AND attnum > 0 AND NOT attisdropped ORDER BY attnum) AS slot_columns,
       ARRAY(SELECT attname::text FROM pg_catalog.pg_attribute
             WHERE attrelid = to_regclass('pg_catalog.pg_stat_replication_slots')
               AND attnum > 0 AND NOT attisdropped ORDER BY attnum) AS stat_columns
"""


@dataclass(frozen=True)
class ServerFeatures:
    """What one server offers: its version and the columns of the two slot views."""

    version_num: int
    slot_columns: frozenset[str]
    stat_columns: frozenset[str]

    @classmethod
    def of(
        cls, version_num: int, slot_columns: Iterable[str], stat_columns: Iterable[str] | None
    ) -> ServerFeatures:
        return cls(int(version_num), frozenset(slot_columns), frozenset(stat_columns or ()))

    @property
    def version(self) -> str:
        return f"{self.version_num // 10000}.{self.version_num % 10000}"

    def unsupported(self) -> str | None:
        """Return why this server cannot be read, or None when it can."""
        if self.version_num < MIN_VERSION_NUM:
            return (
                f"PostgreSQL {self.version} is too old: lagwatch reads slots on PostgreSQL 13 "
                "and later (wal_status and safe_wal_size first appear in 13)"
            )
        return None


# (key in the result, SQL expression, the pg_replication_slots column it needs)
# "h.lsn" is the server's WAL head: the insert position on a primary, the
# receive position on a standby (where pg_current_wal_lsn() raises).
SLOT_FIELDS: Sequence[tuple[str, str, str]] = (
    ("slot", "s.slot_name", "slot_name"),
    ("slot_type", "s.slot_type", "slot_type"),
    ("plugin", "s.plugin", "plugin"),
    ("database", "s.database", "database"),
    ("temporary", "s.temporary", "temporary"),
    ("active", "s.active", "active"),
    ("wal_status", "s.wal_status", "wal_status"),
    ("safe_wal_size", "s.safe_wal_size", "safe_wal_size"),
    ("retained_bytes", "pg_wal_lsn_diff(h.lsn, s.restart_lsn)", "restart_lsn"),
    ("confirmed_lag_bytes", "pg_wal_lsn_diff(h.lsn, s.confirmed_flush_lsn)", "confirmed_flush_lsn"),
    ("xmin_age", "age(s.xmin)", "xmin"),
    ("catalog_xmin_age", "age(s.catalog_xmin)", "catalog_xmin"),
    ("two_phase", "s.two_phase", "two_phase"),
    ("conflicting", "s.conflicting", "conflicting"),
    (
        "inactive_seconds",
        "extract(epoch FROM clock_timestamp() - s.inactive_since)::float8",
        "inactive_since",
    ),
    ("invalidation_reason", "s.invalidation_reason", "invalidation_reason"),
    ("failover", "s.failover", "failover"),
    ("synced", "s.synced", "synced"),
)

# Counters of pg_stat_replication_slots (14+), logical slots only.
STAT_FIELDS: Sequence[str] = (
    "spill_txns",
    "spill_count",
    "spill_bytes",
    "stream_txns",
    "stream_count",
    "stream_bytes",
    "total_txns",
    "total_bytes",
)

_HEAD = """
WITH h AS (
  SELECT pg_is_in_recovery() AS in_recovery,
         CASE WHEN pg_is_in_recovery()
              THEN coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
              ELSE pg_current_wal_lsn() END AS lsn
)
SELECT h.in_recovery,
       pg_wal_lsn_diff(h.lsn, '0/0') AS wal_position_bytes,
       pg_size_bytes(current_setting('max_slot_wal_keep_size')) AS max_slot_wal_keep_size_bytes,
       (SELECT coalesce(json_agg(slot_row ORDER BY slot_row.slot), '[]'::json) FROM (
          SELECT {slot_fields}
          FROM pg_catalog.pg_replication_slots s{stat_join}
       ) slot_row) AS slots,
       (SELECT coalesce(json_agg(replica_row ORDER BY replica_row.replica), '[]'::json) FROM (
          SELECT coalesce(r.application_name, '') AS replica, r.state, r.sync_state,
                 pg_wal_lsn_diff(h.lsn, r.replay_lsn) AS replay_lag_bytes,
                 extract(epoch FROM r.write_lag)::float8 AS write_lag_seconds,
                 extract(epoch FROM r.flush_lag)::float8 AS flush_lag_seconds,
                 extract(epoch FROM r.replay_lag)::float8 AS replay_lag_seconds
          FROM pg_catalog.pg_stat_replication r
          -- logical walsenders are measured through their slots; these are physical
          WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots l
                            WHERE l.active_pid = r.pid AND l.slot_type = 'logical')
       ) replica_row) AS replicas
FROM h
"""


def build_cycle_query(features: ServerFeatures) -> sql.Composed:
    """Return the single statement that reads slots, WAL head, settings and replicas."""
    fields = [
        sql.SQL("{} AS {}").format(sql.SQL(expression), sql.Identifier(key))
        for key, expression, column in SLOT_FIELDS
        if column in features.slot_columns
    ]
    stats = [name for name in STAT_FIELDS if name in features.stat_columns]
    fields += [sql.SQL("st.{0} AS {0}").format(sql.Identifier(name)) for name in stats]
    join = (
        sql.SQL("\n          LEFT JOIN pg_catalog.pg_stat_replication_slots st USING (slot_name)")
        if stats
        else sql.SQL("")
    )
    return sql.SQL(_HEAD).format(
        slot_fields=sql.SQL(",\n                 ").join(fields), stat_join=join
    )
