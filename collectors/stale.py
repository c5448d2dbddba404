"""Values a collector could not read this cycle: kept at the time they were read, marked stale.

When a reading fails, the series it feeds simply get no new sample, so the store's latest
value is the last good one — and it must not pass for a current one. ``stale_samples``
re-writes that last value *at its own timestamp* (it never gets younger: /metrics exports it
with that time, age checks see its age) with a note that says since when it is stale and
why, so `snapshot`, the dashboard and anything reading notes show it as unknown. Values
older than ``MAX_AGE`` are left as they are (their note already says stale).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from lagwatch.store import Sample, Store, StoreUnavailable
from lagwatch.store.contracts import STALE_NOTE_PREFIX
from lagwatch.store.types import format_duration

log = logging.getLogger("lagwatch.collectors")

MAX_AGE = 86400.0
NOTE_LIMIT = 300


def stale_note(read_at: float, now: float, reason: str) -> str:
    when = datetime.fromtimestamp(read_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"{STALE_NOTE_PREFIX} last read {when} ({format_duration(max(0.0, now - read_at))} ago); {reason}"
    return text if len(text) <= NOTE_LIMIT else text[: NOTE_LIMIT - 1] + "…"


def stale_samples(
    store: Store | None,
    names: Iterable[str],
    matchers: Mapping[str, str],
    reason: str,
    now: float,
) -> list[Sample]:
    """Return the latest value of each series of ``names`` matching ``matchers``, unchanged
    and at its own time, with a note saying it is stale since then and why."""
    if store is None:
        return []
    out: list[Sample] = []
    for name in names:
        try:
            values = store.latest(name, matchers)
        except StoreUnavailable as exc:
            log.warning("cannot mark %s stale: %s", name, exc)
            continue
        for value in values:
            if now - value.ts > MAX_AGE:
                continue
            out.append(
                Sample(
                    value.name,
                    value.labels,
                    value.value,
                    value.ts,
                    stale_note(value.ts, now, reason),
                )
            )
    return out
