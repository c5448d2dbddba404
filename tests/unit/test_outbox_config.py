"""Outbox table options: one pending rule, names split and quoted, never pasted into SQL."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lagwatch.collectors.outbox import OutboxTable
from lagwatch.collectors.outbox.read import (
    MYSQL,
    POSTGRES,
    OutboxReading,
    outbox_query,
    quote_mysql,
)


def table(**options: object) -> OutboxTable:
    return OutboxTable.model_validate({"table": "outbox", "created_at": "created_at", **options})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "set exactly one of published_at"),
        ({"published_at": "p", "delete_on_publish": True}, "found published_at, delete_on_publish"),
        ({"status": "state"}, "status needs pending_values"),
        ({"delete_on_publish": True, "pending_values": ["x"]}, "pending_values only applies"),
        ({"published_at": "p", "count_cap": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_pending_rules_are_refused_with_the_fix(options, message):
    with pytest.raises(ValidationError, match=message):
        table(**options)


def test_names_split_at_the_first_dot_unless_schema_is_given():
    assert table(delete_on_publish=True).name_parts == ("outbox",)
    assert table(table="app.out.box", delete_on_publish=True).name_parts == ("app", "out.box")
    explicit = table(table="out.box", schema="app", delete_on_publish=True)
    assert explicit.name_parts == ("app", "out.box")
    assert explicit.label == "app.out.box"


def test_mysql_identifiers_are_backticked_with_doubling_and_percent_escaped():
    assert quote_mysql("a`b") == "`a``b`"
    hostile = table(
        table="t`x; DROP TABLE y; --%(limit)s", status="st{0}", pending_values=["a'); --", "b"]
    )
    query, params = outbox_query(MYSQL, hostile)
    assert "`t``x; DROP TABLE y; --%%(limit)s`" in query
    assert "`st{0}` IN (%(pending_0)s, %(pending_1)s)" in query
    assert "a'); --" not in query  # values travel as parameters
    assert params["pending_0"] == "a'); --" and params["limit"] == hostile.count_cap + 1


def test_postgres_identifiers_are_quoted_by_psycopg():
    hostile = table(table='o"x%s', published_at="p", attempts="n", max_attempts=3)
    query, params = outbox_query(POSTGRES, hostile)
    text = query.as_string(None)
    assert '"o""x%%s"' in text
    assert params == {"limit": 100_001, "max_attempts": 3, "rel": '"o""x%s"'}


def test_a_reading_over_the_cap_is_flagged():
    assert OutboxReading.from_row((11, 5.0, 20, None), cap=10).capped
    assert not OutboxReading.from_row((10, 5.0, 20, None), cap=10).capped
