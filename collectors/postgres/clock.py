"""Since when each replication slot has been inactive, kept across restarts through the store."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from lagwatch.collectors.postgres.samples import Inactivity
from lagwatch.store import Store, StoreUnavailable


class InactiveClock:
    """Since when each slot has been inactive.

    PostgreSQL 17 reports ``inactive_since``; before that lagwatch starts the
    clock when it first sees the slot inactive. So that a restart does not
    reset it, the first sighting is taken from the store's newest
    ``lagwatch_pg_slot_inactive_seconds`` of a slot stored as inactive
    (it assumes the slot stayed inactive while lagwatch was away).
    """

    METRIC = "lagwatch_pg_slot_inactive_seconds"

    def __init__(self, source: str, store: Store | None) -> None:
        self.source = source
        self.store = store
        self._since: dict[str, float] = {}
        self._history: dict[str, float] | None = None

    def _remembered(self) -> dict[str, float]:
        if self._history is None:
            self._history = {}
            if self.store is not None:
                try:
                    latest = self.store.latest(self.METRIC, {"source": self.source})
                    active = self.store.latest("lagwatch_pg_slot_active", {"source": self.source})
                except StoreUnavailable:
                    # don't raise: the server's own figures are still worth collecting
                    latest, active = [], []
                was_active = {v.label_dict.get("slot"): v.value for v in active}
                for value in latest:
                    slot = value.label_dict.get("slot")
                    # A first sighting stores exactly 0, and so does an active slot: tell them
                    # apart by the slot's stored `active`, so that `collect --once` from cron
                    # keeps the clock of a slot it saw inactive last time.
                    if slot and (value.value > 0 or was_active.get(slot) == 0.0):
                        self._history[slot] = value.ts - value.value
        return self._history

    def inactivity(self, slot: dict[str, Any], now: float) -> Inactivity:
        name = slot["slot"]
        if slot.get("active"):
            self._since.pop(name, None)
            return Inactivity(0.0)
        server = slot.get("inactive_seconds")
        if server is not None:
            return Inactivity(max(0.0, float(server)), "inactive_since from the server")
        if name not in self._since:
            self._since[name] = min(now, self._remembered().pop(name, now))
        since = self._since[name]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
        return Inactivity(now - since, f"at least: first seen inactive by lagwatch at {stamp}")

    def keep_only(self, names: Iterable[str]) -> None:
        wanted = set(names)
        for name in list(self._since):
            if name not in wanted:
                del self._since[name]
