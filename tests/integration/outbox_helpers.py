"""Helpers the outbox tests on PostgreSQL and MariaDB share: one collector, one scenario."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from lagwatch.collectors.outbox import OutboxCollector, OutboxTable
from lagwatch.collectors.outbox.read import Dialect
from lagwatch.store import Sample


def outbox_collector(
    dialect: Dialect, connect: Callable[[], Any], *tables: dict[str, Any]
) -> OutboxCollector:
    ticks = itertools.count(start=1_000_000, step=10)  # ten seconds per cycle
    return OutboxCollector(
        "db",
        [OutboxTable.model_validate(t) for t in tables],
        dialect,
        connect,
        interval=10,
        timeout=5,
        clock=lambda: float(next(ticks)),
    )


def by_table(samples: list[Sample]) -> dict[str, dict[str, Sample]]:
    out: dict[str, dict[str, Sample]] = {}
    for s in samples:
        out.setdefault(s.label_dict["table"], {})[s.name] = s
    return out


PUBLISHED = {"created_at": "created_at", "published_at": "published_at", "id_column": "id"}


def published_at_scenario(box: OutboxCollector, table: str, publish: Callable[[], None]) -> None:
    """Given 10 pending rows, the oldest 600 s old, when ``publish`` marks the 4
    oldest published and writes 3 new rows within one 10 s cycle, then the
    backlog goes 10 -> 9, the oldest age moves to the 5th row, 0.3 rows/s were
    created and 0.4 rows/s published."""
    first = by_table(box.collect())[table]
    assert first["lagwatch_outbox_up"].value == 1, first["lagwatch_outbox_up"].note
    assert first["lagwatch_outbox_backlog_rows"].value == 10
    assert first["lagwatch_outbox_backlog_capped"].value == 0
    assert 600 <= first["lagwatch_outbox_oldest_age_seconds"].value < 630
    assert "lagwatch_outbox_published_per_second" not in first
    publish()
    second = by_table(box.collect())[table]
    box.close()
    assert second["lagwatch_outbox_backlog_rows"].value == 9
    assert 360 <= second["lagwatch_outbox_oldest_age_seconds"].value < 390
    assert second["lagwatch_outbox_created_per_second"].value == pytest.approx(0.3)
    assert second["lagwatch_outbox_published_per_second"].value == pytest.approx(0.4)
