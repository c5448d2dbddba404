"""Payload checks of one message part: each kind, from real encodings (fastavro, JSON, Protobuf
wire bytes) against schemas parsed as the registry would hand them out."""

from __future__ import annotations

import io
import json
import struct

import fastavro
import pytest

from lagwatch.collectors.registry.check import check_part, schema_id_of, subject_for
from lagwatch.collectors.registry.schema import Schema, SchemaProblem, parse

AVRO = {
    "type": "record",
    "name": "OrderShipped",
    "namespace": "shop",
    "fields": [{"name": "id", "type": "long"}, {"name": "note", "type": "string"}],
}
JSON_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "OrderPaid",
    "type": "object",
    "properties": {"id": {"type": "integer"}, "version": {"type": "integer"}},
    "required": ["id"],
}
PROTO = 'syntax = "proto3";\npackage shop;\nmessage OrderPlaced {\n  int64 id = 1;\n  string note = 2;\n}\n'


class Known:
    """The registry as a table: id → (schema, subjects). The checks' only dependency."""

    def __init__(self, ids: dict[int, tuple[Schema, set[str]]]) -> None:
        self.ids = ids

    def schema(self, schema_id: int) -> Schema | None:
        return self.ids[schema_id][0] if schema_id in self.ids else None

    def in_subject(self, schema_id: int, subject: str) -> bool:
        return subject in self.ids[schema_id][1]

    def has_subject(self, subject: str) -> bool:
        return any(subject in subjects for _, subjects in self.ids.values())


LOOKUP = Known(
    {
        1: (parse("AVRO", json.dumps(AVRO)), {"orders-value"}),
        2: (parse("JSON", json.dumps(JSON_SCHEMA)), {"orders-value"}),
        3: (parse("PROTOBUF", PROTO), {"orders-value"}),
        4: (parse("AVRO", json.dumps({**AVRO, "name": "CustomerMoved"})), {"customers-value"}),
    }
)


def frame(schema_id: int, payload: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id) + payload


def avro(record: dict[str, object]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(AVRO), record)
    return out.getvalue()


def kinds(
    data: bytes, headers: list[tuple[str, bytes | None]] | None = None, limit: int = 10_000
) -> list[str]:
    return [f.kind for f in check_part(data, headers, "orders", "value", LOOKUP, "topic", limit)]


GOOD = avro({"id": 42, "note": "left the warehouse"})


def test_a_good_avro_record_json_document_and_protobuf_message_pass() -> None:
    assert kinds(frame(1, GOOD)) == []
    assert kinds(frame(2, b'{"id": 7, "version": 1}')) == []
    # message index list [0] as the single byte 0, then field 1 varint 150, field 2 "hi"
    assert kinds(frame(3, b"\x00" + b"\x08\x96\x01" + b"\x12\x02hi")) == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"id": 1}', ["no_magic_byte"]),
        (b"", ["no_magic_byte"]),
        (b"\x00\x00\x01", ["no_magic_byte"]),  # too short for an id
        (frame(99, GOOD), ["unknown_schema_id"]),
        (frame(4, GOOD), ["wrong_subject"]),
        (frame(1, GOOD[:-2]), ["invalid_payload"]),
        (frame(1, GOOD + b"\x00"), ["invalid_payload"]),
        (frame(2, b'{"version": 1}'), ["invalid_payload"]),  # id is required
        (frame(2, b"{not json"), ["invalid_payload"]),
        (frame(3, b"\x00\x12\x05ab"), ["invalid_payload"]),  # length 5, 2 bytes follow
        (frame(3, b"\x04\x02"), ["invalid_payload"]),  # message index 1 of a file with one message
        (frame(3, b"\x00\x0f\x01"), ["invalid_payload"]),  # wire type 7
    ],
)  # fmt: skip
def test_each_kind_of_violation(data: bytes, expected: list[str]) -> None:
    assert kinds(data) == expected


def test_the_reasons_say_what_without_the_payload() -> None:
    [finding] = check_part(
        frame(1, GOOD + b"\x00\x01"), None, "orders", "value", LOOKUP, "topic", 10_000
    )
    assert finding.reason == "schema id 1: 2 bytes left over after the Avro record"
    [finding] = check_part(frame(1, GOOD[:5]), None, "orders", "value", LOOKUP, "topic", 10_000)
    assert "truncated" in finding.reason and "left the" not in finding.reason


def test_oversized_is_counted_besides_the_other_checks() -> None:
    big = avro({"id": 1, "note": "x" * 500})
    assert kinds(frame(1, big), limit=100) == ["oversized_payload"]
    assert kinds(b"x" * 200, limit=100) == ["oversized_payload", "no_magic_byte"]


def test_a_schema_id_header_stands_for_the_prefix() -> None:
    assert schema_id_of(GOOD, [("__value_schema_id", struct.pack(">I", 1))], "value") == (1, 0)
    assert schema_id_of(GOOD, [("__value_schema_id", b"1")], "value") == (1, 0)
    assert schema_id_of(GOOD, [("__key_schema_id", b"1")], "value") == (None, 0)
    assert kinds(GOOD, [("__value_schema_id", b"\x00\x00\x00\x00\x01")]) == []


def test_subject_strategies() -> None:
    schema = LOOKUP.schema(1)
    assert subject_for("topic", "orders", "value", schema) == "orders-value"
    assert subject_for("topic", "orders", "key", schema) == "orders-key"
    assert subject_for("record", "orders", "value", schema) == "shop.OrderShipped"
    assert subject_for("topic_record", "orders", "value", schema) == "orders-shop.OrderShipped"
    assert subject_for("record", "orders", "value", parse("AVRO", '"string"')) is None
    record = Known({1: (parse("AVRO", json.dumps(AVRO)), {"shop.OrderShipped"})})
    assert check_part(frame(1, GOOD), None, "orders", "value", record, "record", 10_000) == []
    assert [
        f.kind for f in check_part(frame(1, GOOD), None, "orders", "value", record, "topic", 10_000)
    ] == ["wrong_subject"]


def test_schemas_that_do_not_parse_say_why() -> None:
    with pytest.raises(SchemaProblem, match="not a valid Avro schema"):
        parse("AVRO", '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}')
    with pytest.raises(SchemaProblem, match="not JSON"):
        parse("JSON", "{")
    with pytest.raises(SchemaProblem, match="no message"):
        parse("PROTOBUF", 'syntax = "proto3";')
    proto = parse("PROTOBUF", PROTO)
    assert (proto.name, proto.fields, proto.messages) == ("shop.OrderPlaced", ["id", "note"], 1)
