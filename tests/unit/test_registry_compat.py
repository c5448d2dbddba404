"""lagwatch's own compatibility rules: Avro resolution and JSON Schema, at every level."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lagwatch.collectors.registry.compat import avro_reads, check_against, json_reads
from lagwatch.collectors.registry.schema import Schema, parse


def avro(fields: list[dict[str, Any]], name: str = "OrderShipped") -> Schema:
    return parse("AVRO", json.dumps({"type": "record", "name": name, "fields": fields}))


ID = {"name": "id", "type": "long"}
V1 = avro([ID])
WITH_DEFAULT = avro([ID, {"name": "note", "type": ["null", "string"], "default": None}])
WITHOUT_DEFAULT = avro([ID, {"name": "note", "type": "string"}])


@pytest.mark.parametrize(
    ("level", "new", "compatible"),
    [
        ("BACKWARD", WITH_DEFAULT, True),
        ("BACKWARD", WITHOUT_DEFAULT, False),  # old data lacks the field
        ("FORWARD", WITHOUT_DEFAULT, True),  # old readers ignore the new field
        ("FULL", WITH_DEFAULT, True),
        ("FULL", WITHOUT_DEFAULT, False),
        ("NONE", WITHOUT_DEFAULT, True),
    ],
)  # fmt: skip
def test_adding_a_field(level: str, new: Schema, compatible: bool) -> None:
    assert (check_against(level, new, [(1, V1)]) == []) is compatible


def test_removing_a_field_breaks_forward_unless_the_old_one_had_a_default() -> None:
    assert check_against("BACKWARD", V1, [(1, WITHOUT_DEFAULT)]) == []
    [problem] = check_against("FORWARD", V1, [(1, WITHOUT_DEFAULT)])
    assert problem.startswith("forward vs version 1: /fields/note: field removed")
    assert check_against("FORWARD", V1, [(1, WITH_DEFAULT)]) == []


def test_transitive_levels_check_every_earlier_version_the_others_only_the_last() -> None:
    # v1 has note without default, v2 drops it, v3 adds it back without default:
    v1 = WITHOUT_DEFAULT
    v2 = V1
    v3 = avro(
        [ID, {"name": "note", "type": "string"}, {"name": "extra", "type": "int", "default": 0}]
    )
    earlier = [(1, v1), (2, v2)]
    assert check_against("FORWARD", v3, earlier) == []
    assert check_against("BACKWARD", v3, earlier) != []  # v2 data lacks note
    assert check_against("BACKWARD_TRANSITIVE", v2, [(1, v1)]) == []
    gone = avro([{"name": "id", "type": "int"}])
    assert check_against("BACKWARD", gone, [(1, V1), (2, V1)])
    problems = check_against("FULL_TRANSITIVE", WITHOUT_DEFAULT, [(1, V1), (2, V1)])
    assert [p.split(":")[0] for p in problems] == ["backward vs version 1", "backward vs version 2"]


@pytest.mark.parametrize(
    ("writer", "reader", "ok"),
    [
        ("int", "long", True), ("int", "double", True), ("long", "float", True),
        ("float", "double", True), ("string", "bytes", True), ("bytes", "string", True),
        ("long", "int", False), ("double", "float", False), ("string", "int", False),
        ("boolean", "string", False),
    ],
)  # fmt: skip
def test_type_promotions(writer: str, reader: str, ok: bool) -> None:
    w = avro([{"name": "x", "type": writer}])
    r = avro([{"name": "x", "type": reader}])
    assert (avro_reads(r.doc, w.doc) == []) is ok


def test_unions_enums_names_arrays_maps_and_fixed() -> None:
    nullable = avro([{"name": "x", "type": ["null", "string"]}])
    plain = avro([{"name": "x", "type": "string"}])
    assert avro_reads(nullable.doc, plain.doc) == []  # a union reader takes a branch
    [problem] = avro_reads(plain.doc, nullable.doc)  # the writer may write null
    assert "branch 0 (null)" in problem.what

    def enum(symbols: list[str], **extra: Any) -> Schema:
        return avro(
            [{"name": "s", "type": {"type": "enum", "name": "State", "symbols": symbols, **extra}}]
        )

    assert avro_reads(enum(["A", "B", "C"]).doc, enum(["A", "B"]).doc) == []
    assert "enum symbols removed" in avro_reads(enum(["A"]).doc, enum(["A", "B"]).doc)[0].what
    assert avro_reads(enum(["A"], default="A").doc, enum(["A", "B"]).doc) == []

    renamed = avro([ID], name="ParcelShipped")
    assert "record name changed" in avro_reads(renamed.doc, V1.doc)[0].what
    aliased = parse("AVRO", json.dumps({"type": "record", "name": "ParcelShipped",
                                       "aliases": ["OrderShipped"], "fields": [ID]}))  # fmt: skip
    assert avro_reads(aliased.doc, V1.doc) == []

    ints = avro([{"name": "xs", "type": {"type": "array", "items": "int"}}])
    strings = avro([{"name": "xs", "type": {"type": "array", "items": "string"}}])
    assert avro_reads(strings.doc, ints.doc)[0].path == "/fields/xs/items"
    m1 = avro([{"name": "m", "type": {"type": "map", "values": "int"}}])
    m2 = avro([{"name": "m", "type": {"type": "map", "values": "long"}}])
    assert avro_reads(m2.doc, m1.doc) == [] and avro_reads(m1.doc, m2.doc) != []
    f1 = avro([{"name": "f", "type": {"type": "fixed", "name": "H", "size": 16}}])
    f2 = avro([{"name": "f", "type": {"type": "fixed", "name": "H", "size": 32}}])
    assert "fixed size changed" in avro_reads(f2.doc, f1.doc)[0].what


def test_nested_records_and_named_references() -> None:
    address = {"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}]}
    old = avro([{"name": "home", "type": address}, {"name": "work", "type": "Address"}])
    grown = {**address, "fields": [*address["fields"], {"name": "zip", "type": "string"}]}
    new = avro([{"name": "home", "type": grown}, {"name": "work", "type": "Address"}])
    problems = avro_reads(new.doc, old.doc)
    assert {p.path for p in problems} == {"/fields/home/fields/zip", "/fields/work/fields/zip"}


def js(doc: dict[str, Any]) -> Any:
    return parse(
        "JSON", json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", **doc})
    ).doc


def test_json_schema_required_properties_and_types() -> None:
    base = js({"type": "object", "properties": {"id": {"type": "integer"}}})
    required = js({"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]})
    assert json_reads(required, base)[0].path == "/required/id"
    assert json_reads(base, required) == []
    retyped = js({"type": "object", "properties": {"id": {"type": "string"}}})
    assert "type changed" in json_reads(retyped, base)[0].what
    widened = js({"type": "object", "properties": {"id": {"type": ["integer", "string"]}}})
    assert json_reads(widened, base) == []
    number = js({"type": "object", "properties": {"id": {"type": "number"}}})
    assert json_reads(number, base) == []  # every integer is a number
    closed = js({"type": "object", "properties": {}, "additionalProperties": False})
    assert {p.path for p in json_reads(closed, base)} == {"/properties/id", ""}
    enum_old = js({"type": "string", "enum": ["a", "b"]})
    enum_new = js({"type": "string", "enum": ["a"]})
    assert "enum values removed" in json_reads(enum_new, enum_old)[0].what
    old = parse("JSON", json.dumps(base))
    new = parse("JSON", json.dumps(required))
    assert (
        check_against("BACKWARD", new, [(1, old)])
        and check_against("FORWARD", new, [(1, old)]) == []
    )


def test_a_type_change_of_the_schema_itself_breaks_every_level_but_none() -> None:
    j = parse("JSON", json.dumps(js({"type": "object", "properties": {"id": {"type": "integer"}}})))
    assert "schema type changed from AVRO to JSON" in check_against("BACKWARD", j, [(1, V1)])[0]
    assert check_against("NONE", j, [(1, V1)]) == []


def test_recursive_types_terminate() -> None:
    node = {"type": "record", "name": "Node", "fields": [
        {"name": "value", "type": "int"}, {"name": "next", "type": ["null", "Node"], "default": None}]}  # fmt: skip
    grown = {
        **node,
        "fields": [*node["fields"], {"name": "label", "type": "string", "default": ""}],
    }
    assert avro_reads(grown, node) == []
    widened = {**node, "fields": [{"name": "value", "type": "long"}, node["fields"][1]]}
    assert avro_reads(widened, node) == [] and avro_reads(node, widened) != []
