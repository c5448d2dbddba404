"""`outbox:` items of a source: which table, and how a pending row is recognised."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OutboxTable(BaseModel):
    """`outbox:` item: one table, how a pending row is recognised, and its creation time."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    table: str = Field(
        min_length=1, description="table name; 'schema.table' splits at the first dot"
    )
    schema_name: str | None = Field(
        None, alias="schema", description="schema (PostgreSQL) or database (MySQL) of the table"
    )
    created_at: str = Field(min_length=1, description="column holding when the row was written")
    published_at: str | None = Field(None, description="pending while this column IS NULL")
    status: str | None = Field(None, description="pending while this column is in pending_values")
    pending_values: list[str] = Field(default_factory=list)
    delete_on_publish: bool = Field(False, description="every row present is pending")
    id_column: str | None = Field(
        None, description="increasing integer key; max(id) counts rows ever written"
    )
    attempts: str | None = Field(None, description="column counting publish attempts")
    max_attempts: int = Field(5, ge=1, description="a pending row with this many attempts is stuck")
    count_cap: int = Field(100_000, ge=1, description="count at most this many pending rows")

    @model_validator(mode="after")
    def _one_pending_rule(self) -> OutboxTable:
        chosen = [
            key
            for key, on in (
                ("published_at", self.published_at is not None),
                ("status", self.status is not None),
                ("delete_on_publish", self.delete_on_publish),
            )
            if on
        ]
        if len(chosen) != 1:
            raise ValueError(
                "say how a pending row is recognised: set exactly one of published_at "
                "(pending while NULL), status with pending_values, or delete_on_publish: true"
                + (f" (found {', '.join(chosen)})" if chosen else "")
            )
        if self.status is not None and not self.pending_values:
            raise ValueError("status needs pending_values: the status values that mean 'pending'")
        if self.status is None and self.pending_values:
            raise ValueError("pending_values only applies with status: set status or remove it")
        return self

    @property
    def name_parts(self) -> tuple[str, ...]:
        """Return (schema, table) or (table,) as separate identifiers."""
        if self.schema_name is not None:
            return (self.schema_name, self.table)
        schema, dot, table = self.table.partition(".")
        return (schema, table) if dot and schema and table else (self.table,)

    @property
    def label(self) -> str:
        return ".".join(self.name_parts)
