"""Schema registry: governance of its subjects, and payload checks of the topics it serves.

One cycle: recognise the registry (``flavour.py``, once), audit every subject
against the policy (``audit.py``), then sample the watched topics
(``sampler.py``) and check each message (``check.py``) with schemas looked up
through a cache (``read.py``). A registry that cannot be read is
``lagwatch_registry_up 0`` with the error as note, and the sampler waits for it
(nothing is counted while lookups cannot be made); Kafka that cannot be read
is ``lagwatch_registry_sampler_up 0``. Neither raises: the collector itself
fails only on a bug.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from lagwatch.collectors.base import CollectorContext, SourceUnreachable
from lagwatch.collectors.registry.audit import Audit
from lagwatch.collectors.registry.config import RegistryConfig
from lagwatch.collectors.registry.flavour import Flavour, detect
from lagwatch.collectors.registry.read import SchemaCache
from lagwatch.collectors.registry.sampler import Sampler
from lagwatch.collectors.registry.samples import SAMPLER_UP, UP
from lagwatch.collectors.registry.session import RegistryError, RegistryUnavailable, Session
from lagwatch.store import Record, Sample, Store
from lagwatch.store.contracts import Namespace, origin

SAMPLER_SHARE = 0.6
"""Of the cycle's timeout, what the sampler may use once the audit is done."""
VIOLATIONS_RETENTION = 30 * 86400.0
SCHEMAS_RETENTION = 365 * 86400.0


class RegistryCollector:
    """Audits one schema registry and samples the topics of its Kafka cluster."""

    def __init__(
        self,
        config: RegistryConfig,
        cluster: Any,
        store: Store | None = None,
        session: Session | None = None,
    ) -> None:
        self.config = config
        self.name = f"registry:{config.name}"
        self.origins: tuple[str, ...] = (origin("registry", config.name),)
        self.interval = config.interval
        self.timeout = config.timeout
        self.store = store
        self.session = session or Session(
            config.name, config.url.get_secret_value(), config.request_timeout
        )
        self.flavour: Flavour | None = None
        self.cache: SchemaCache | None = None
        self.audit = Audit(config, self.session, store)
        self.sampler = Sampler(
            config, cluster.name, cluster.client_settings(), config.request_timeout
        )
        self.record_retention = (
            {
                Namespace.REGISTRY_VIOLATIONS: VIOLATIONS_RETENTION,
                Namespace.REGISTRY_SCHEMAS: SCHEMAS_RETENTION,
            }
            if store
            else {}
        )

    def _flavour(self) -> Flavour:
        if self.flavour is None:
            self.flavour = detect(self.session)
            self.cache = SchemaCache(self.session, self.flavour)
        return self.flavour

    def collect(self) -> Iterable[Sample | Record]:
        started = time.time()
        t0 = time.monotonic()
        out: list[Sample | Record] = []
        registry = self.config.name
        self.sampler.restore(self.store)
        problem: str | None = None
        try:
            flavour = self._flavour()
            samples, records = self.audit.run(flavour, started)
            out += samples
            out += records
        except (RegistryUnavailable, RegistryError) as exc:
            problem = str(exc)
        now = time.time()
        note = problem or (self.flavour.label if self.flavour else None)
        out.append(Sample.of(UP, 0 if problem else 1, now, note=note, registry=registry))
        if problem is None and self.cache is not None:
            self.cache.set_subjects(set(self.audit.subjects))
            deadline = t0 + self.timeout * SAMPLER_SHARE
            try:
                result = self.sampler.cycle(self.cache, deadline, now)
                sampler_note = result.stopped
                sampler_up = 1
            except SourceUnreachable as exc:
                sampler_note, sampler_up = f"kafka {self.sampler.cluster}: {exc}", 0
        else:
            sampler_note, sampler_up = "paused while the registry cannot be read", 1
        now = time.time()
        out.append(Sample.of(SAMPLER_UP, sampler_up, now, note=sampler_note, registry=registry))
        out += self.sampler.samples(started, now)
        if self.store is not None:
            out.append(self.sampler.state_record(now))
            out += self.sampler.violations.records(now)
        return out

    def check(self) -> None:
        try:
            flavour = detect(self.session)
            self.session.get_ok("/subjects")
        except (RegistryUnavailable, RegistryError) as exc:
            raise SourceUnreachable(str(exc)) from None
        try:
            self.sampler.consumer.list_topics(timeout=self.config.request_timeout)
        except Exception as exc:
            raise SourceUnreachable(
                f"registry {self.config.name} ({flavour.label}) is fine, but its kafka cluster "
                f"{self.sampler.cluster} cannot be read: {exc}"
            ) from None

    def close(self) -> None:
        self.sampler.close()
        self.session.close()


def build(
    config: RegistryConfig, cluster: Any, context: CollectorContext
) -> list[RegistryCollector]:
    return [RegistryCollector(config, cluster, store=context.store)]
