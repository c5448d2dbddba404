"""The probe table's name and ring; each source kind writes its DDL, grants and writer.

This table is the only thing lagwatch ever writes to a user's database, and
only when a probe is configured. Each pipeline owns ``RING`` rows that it
overwrites in turn (one upsert per probe), so the table never grows and the
CDC reader sees an insert, then updates, of small rows. The per-kind halves
are ``collectors/postgres/pipeline.py`` and ``collectors/mysql/pipeline.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

RING = 600
"""Rows per pipeline: ten minutes of probes at one per second."""


@dataclass(frozen=True)
class TableName:
    """A schema-qualified table name, quoted only at the point of use."""

    schema: str
    name: str

    @classmethod
    def parse(cls, text: str) -> TableName:
        schema, dot, name = text.partition(".")
        if not dot or not schema or not name or "." in name:
            raise ValueError(f"table {text!r} must be written as SCHEMA.TABLE")
        return cls(schema, name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"

    def pg(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.name))

    def mysql(self) -> str:
        return f"{backtick(self.schema)}.{backtick(self.name)}"


def backtick(name: str) -> str:
    """Return a MySQL identifier quoted with backticks, inner backticks doubled."""
    return "`" + name.replace("`", "``") + "`"
