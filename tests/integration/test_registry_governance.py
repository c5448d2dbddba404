"""The registry audit against the devstack's real Apicurio Registry, and the alerts it raises."""

from __future__ import annotations

from pathlib import Path

import pytest

from lagwatch.alerts.state import FIRING
from tests.integration.kafka_helpers import topic as scratch_topic
from tests.integration.registry_helpers import Registry, Watched, config
from tests.support.alerting import Harness

pytestmark = pytest.mark.integration

V1 = {
    "type": "record",
    "name": "PaymentSettled",
    "fields": [{"name": "id", "type": "long"}, {"name": "version", "type": "int"}],
}
# A field added without a default: old data cannot be read with it (BACKWARD breaks).
V2 = {**V1, "fields": [*V1["fields"], {"name": "amount", "type": "long"}]}
GENERIC = {"type": "record", "name": "DataUpdate", "fields": [{"name": "id", "type": "long"}]}


def firing(h: Harness, rule: str, subject: str) -> list[str | None]:
    """Return the muted reason of each firing alert of ``rule`` about ``subject``."""
    return [
        s.muted
        for s in h.engine.states.values()
        if s.rule == rule and s.labels.get("subject") == subject and s.state == FIRING
    ]


def test_none_compatibility_an_incompatible_version_and_a_deleted_subject_each_raise_their_finding_and_alert(
    tmp_path: Path, kafka_bootstrap: str, registry_url: str, unique: str
) -> None:
    """Given four subjects on the real registry: one set to NONE, one that took an incompatible
    second version while set to NONE, one soft-deleted and one named DataUpdate without a
    version field; when the collector audits the registry, then each has its finding in
    `lagwatch_registry_governance_violations` (checked at the policy's level, not the subject's
    NONE) and the alert engine fires SubjectCompatibilityNone, IncompatibleSchemaRegistered
    and SubjectDeleted for them."""
    registry = Registry(registry_url)
    none, incompatible = f"lw-gov-none-{unique}-value", f"lw-gov-break-{unique}-value"
    deleted, generic = f"lw-gov-del-{unique}-value", f"lw-gov-generic-{unique}-value"
    name = f"gov-{unique}"
    watched = None
    h = None
    with scratch_topic(kafka_bootstrap, f"lw-gov-{unique}") as topic:
        try:
            registry.register(none, V1)
            registry.set_compatibility(none, "NONE")
            registry.register(incompatible, V1)
            registry.set_compatibility(incompatible, "NONE")
            registry.register(incompatible, V2)
            registry.register(deleted, {**V1, "name": "RefundIssued"})
            registry.soft_delete(deleted)
            registry.register(generic, GENERIC)
            watched = Watched(tmp_path, config(name, registry_url, topic), kafka_bootstrap)

            watched.cycle()

            def finding(subject: str, rule: str) -> float | None:
                return watched.value(
                    "lagwatch_registry_governance_violations",
                    registry=name,
                    subject=subject,
                    rule=rule,
                )

            assert finding(none, "compatibility_none") == 1
            assert finding(none, "incompatible_version") == 0
            assert finding(incompatible, "incompatible_version") == 1
            note = watched.note(
                "lagwatch_registry_governance_violations",
                registry=name,
                subject=incompatible,
                rule="incompatible_version",
            )
            assert note is not None and "version 2" in note and "/fields/amount" in note
            assert finding(deleted, "subject_deleted") == 1
            assert finding(generic, "naming") == 1
            assert finding(generic, "no_version_field") == 1
            assert finding(generic, "compatibility_none") == 0  # the global BACKWARD holds
            assert finding(none, "naming") == 0 and finding(none, "no_version_field") == 0
            levels = watched.latest(
                "lagwatch_registry_subject_compatibility", registry=name, subject=none
            )
            assert {dict(k)["level"]: v for k, v in levels.items()} == {"NONE": 1}
            levels = watched.latest(
                "lagwatch_registry_subject_compatibility", registry=name, subject=generic
            )
            assert {dict(k)["level"]: v for k, v in levels.items()} == {"BACKWARD": 1}

            # When the alert engine evaluates the store
            h = Harness(tmp_path, {"receivers": [{"name": "log", "log": {}}]},
                        store=watched.store, real_time=True)  # fmt: skip
            h.cycle()

            # Then each finding fires its rule, unmuted
            assert firing(h, "SubjectCompatibilityNone", none) == [None]
            assert firing(h, "IncompatibleSchemaRegistered", incompatible) == [None]
            assert firing(h, "SubjectDeleted", deleted) == [None]
            assert firing(h, "SubjectDeleted", none) == []

            # When the NONE subject is set back to the policy's level
            registry.set_compatibility(none, "BACKWARD_TRANSITIVE")
            watched.cycle()
            h.cycle()
            assert finding(none, "compatibility_none") == 0
            levels = watched.latest(
                "lagwatch_registry_subject_compatibility", registry=name, subject=none
            )
            assert {dict(k)["level"]: v for k, v in levels.items()} == {
                "NONE": 0,
                "BACKWARD_TRANSITIVE": 1,
            }
            assert firing(h, "SubjectCompatibilityNone", none) == []
        finally:
            if h is not None:
                h.dispatcher.close()
            if watched is not None:
                watched.close()
            registry.cleanup()
