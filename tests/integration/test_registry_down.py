"""A registry that stops: RegistryDown, and none of its violation alerts. On a private Apicurio
Registry started for the test (the shared one is never stopped)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lagwatch.alerts.state import FIRING, PENDING
from tests.integration.kafka_helpers import topic as scratch_topic
from tests.integration.registry_helpers import Registry, Watched, avro, config, framed, produce
from tests.support.alerting import Harness
from tests.support.private_registry import PrivateRegistry

pytestmark = pytest.mark.integration

SHIPPED = {
    "type": "record",
    "name": "ParcelShipped",
    "fields": [{"name": "id", "type": "long"}, {"name": "version", "type": "int"}],
}
VIOLATION_RULES = {
    "RegistryBypassed", "UnknownSchemaId", "WrongSubject", "InvalidPayloads",
    "OversizedPayloads", "SubjectCompatibilityNone", "IncompatibleSchemaRegistered",
    "SubjectDeleted",
}  # fmt: skip


@pytest.fixture
def private_registry() -> Iterator[PrivateRegistry]:
    registry = PrivateRegistry()
    try:
        registry.start()
        yield registry
    finally:
        registry.close()


def test_a_stopped_registry_raises_registry_down_and_holds_back_its_violation_alerts(
    tmp_path: Path, kafka_bootstrap: str, private_registry: PrivateRegistry, unique: str
) -> None:
    """Given a private registry with a subject set to NONE (SubjectCompatibilityNone fires) and a
    topic of good records; when the registry stops while raw values and unknown ids arrive, then
    `lagwatch_registry_up` is 0 with the reason, nothing is counted, the collector itself stays up,
    RegistryDown fires after its minute, the NONE alert is muted by it and no payload alert
    exists."""
    registry = Registry(private_registry.url)
    name = f"down-{unique}"
    watched = None
    h = None
    with scratch_topic(kafka_bootstrap, f"lw-down-{unique}") as topic:
        try:
            good_id = registry.register(f"{topic}-value", SHIPPED)
            registry.set_compatibility(f"{topic}-value", "NONE")
            good = framed(good_id, avro(SHIPPED, {"id": 1, "version": 1}))
            produce(kafka_bootstrap, topic, [(b"k", good)] * 4)
            watched = Watched(tmp_path, config(name, private_registry.url, topic), kafka_bootstrap)
            watched.until_caught_up(topic)
            labels = {"registry": name, "topic": topic}
            assert watched.value("lagwatch_registry_messages_checked_total", **labels) == 4
            h = Harness(tmp_path, {"receivers": [{"name": "log", "log": {}}]},
                        store=watched.store, real_time=True)  # fmt: skip
            h.cycle()
            assert [s.muted for s in h.engine.states.values()
                    if s.rule == "SubjectCompatibilityNone" and s.state == FIRING] == [None]  # fmt: skip

            # When the registry stops and bad messages arrive
            private_registry.stop()
            produce(
                kafka_bootstrap, topic, [(b"k", b"raw json")] * 3 + [(b"k", framed(987654, b"x"))]
            )
            watched.cycle()
            watched.cycle()

            # Then the registry is down, as a fact: the collector runs, nothing is counted
            assert watched.value("lagwatch_registry_up", registry=name) == 0
            note = watched.note("lagwatch_registry_up", registry=name) or ""
            assert "cannot reach" in note and str(private_registry.port) in note
            assert watched.value("lagwatch_collector_up", collector=f"registry:{name}") == 1
            assert watched.value("lagwatch_registry_messages_checked_total", **labels) == 4
            assert all(
                v == 0
                for v in watched.latest("lagwatch_registry_violations_total", **labels).values()
            )

            h.cycle()
            pending = [s for s in h.engine.states.values() if s.rule == "RegistryDown"]
            assert [(s.state, s.labels["registry"]) for s in pending] == [(PENDING, name)]
            h.skip(61)  # RegistryDown holds for a minute
            watched.cycle()
            h.cycle()
            [down] = [s for s in h.engine.states.values() if s.rule == "RegistryDown"]
            assert down.state == FIRING and down.muted is None
            others = [s for s in h.engine.states.values()
                      if s.rule in VIOLATION_RULES and s.labels.get("registry") == name]  # fmt: skip
            assert [(s.rule, s.state) for s in others] == [("SubjectCompatibilityNone", FIRING)]
            assert others[0].muted is not None and "RegistryDown" in others[0].muted
            assert not any(s.rule == "CollectorDown" and s.state == FIRING
                           for s in h.engine.states.values())  # fmt: skip
        finally:
            if h is not None:
                h.dispatcher.close()
            if watched is not None:
                watched.close()
