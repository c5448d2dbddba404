"""Small helpers the PostgreSQL collector tests share."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable

from pydantic import SecretStr

from lagwatch.collectors.base import CollectorContext
from lagwatch.collectors.postgres import PostgresCollector, PostgresSource
from lagwatch.store import Sample
from tests.integration.conftest import devstack


def collector(
    dsn: str,
    context: CollectorContext | None = None,
    clock: Callable[[], float] = time.time,
    **options: object,
) -> PostgresCollector:
    config = PostgresSource.model_validate(
        {"kind": "postgres", "name": "pg-under-test", "dsn": SecretStr(dsn), **options}
    )
    return PostgresCollector(config, context, clock)


def of_slot(samples: Iterable[Sample], slot: str) -> dict[str, Sample]:
    """Return the samples of one slot keyed by metric name."""
    return {s.name: s for s in samples if s.label_dict.get("slot") == slot}


def of_source(samples: Iterable[Sample]) -> dict[str, Sample]:
    """Return the per-server samples keyed by metric name."""
    return {s.name: s for s in samples if set(s.label_dict) == {"source"}}


def psql(dsn: str, script: str, **variables: str) -> str:
    """Run ``script`` in psql with ``:'name'`` variables; return its unaligned output."""
    command = [f"{devstack('PG_BIN')}/psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]
    for name, value in variables.items():
        command += ["-v", f"{name}={value}"]
    done = subprocess.run(
        [*command, "-d", dsn], input=script, capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.strip()


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
