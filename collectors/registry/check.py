"""Payload checks: does one Kafka message's key or value carry a registered schema, and obey it?

The Confluent wire format is byte 0 (the magic byte), a 4-byte big-endian
schema id, then the payload; newer serializers may put the id in a header
(``__value_schema_id`` / ``__key_schema_id``) and leave the payload bare.
Protobuf payloads start with the message-index list (zig-zag varints).

Kinds, checked in this order; the first that holds is the verdict:
``oversized_payload`` is counted besides any other, the rest exclusive:
``no_magic_byte``, ``unknown_schema_id``, ``wrong_subject``, ``invalid_payload``.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import fastavro

from lagwatch.collectors.registry.schema import AVRO, JSON, PROTOBUF, Schema

NO_MAGIC_BYTE = "no_magic_byte"
UNKNOWN_SCHEMA_ID = "unknown_schema_id"
WRONG_SUBJECT = "wrong_subject"
INVALID_PAYLOAD = "invalid_payload"
OVERSIZED_PAYLOAD = "oversized_payload"
KINDS = (NO_MAGIC_BYTE, UNKNOWN_SCHEMA_ID, WRONG_SUBJECT, INVALID_PAYLOAD, OVERSIZED_PAYLOAD)

HEADERS = {"key": "__key_schema_id", "value": "__value_schema_id"}
HEAD_BYTES = 16


class Lookup(Protocol):
    """What the checks need of the registry (``read.SchemaCache``)."""

    def schema(self, schema_id: int) -> Schema | None:
        """Return the schema of ``schema_id``, or None when the registry does not know it."""
        ...

    def in_subject(self, schema_id: int, subject: str) -> bool:
        """True when ``schema_id`` is a version of ``subject``."""
        ...

    def has_subject(self, subject: str) -> bool:
        """True when the registry has ``subject`` (used to decide whether keys are checked)."""
        ...


@dataclass(frozen=True, slots=True)
class Finding:
    """One violation of one message part: its kind and why, in words (never the payload)."""

    kind: str
    reason: str


def subject_for(strategy: str, topic: str, part: str, schema: Schema | None) -> str | None:
    """Return the subject the naming strategy gives; None when the record name is needed
    and the schema has none."""
    if strategy == "topic":
        return f"{topic}-{part}"
    name = schema.name if schema is not None else None
    if name is None:
        return None
    return name if strategy == "record" else f"{topic}-{name}"


def schema_id_of(
    data: bytes, headers: Sequence[tuple[str, bytes | None]] | None, part: str
) -> tuple[int | None, int]:
    """Return (schema id, offset of the payload) from the header or the wire prefix; id None
    when neither carries one."""
    wanted = HEADERS[part]
    for name, value in headers or ():
        if name == wanted and value is not None:
            if len(value) == 4:
                return int.from_bytes(value, "big"), 0
            if len(value) == 5 and value[0] == 0:
                return int.from_bytes(value[1:], "big"), 0
            text = value.decode("ascii", "replace").strip()
            if text.isdigit():
                return int(text), 0
    if len(data) >= 5 and data[0] == 0:
        return int.from_bytes(data[1:5], "big"), 5
    return None, 0


def check_part(
    data: bytes,
    headers: Sequence[tuple[str, bytes | None]] | None,
    topic: str,
    part: str,
    lookup: Lookup,
    strategy: str,
    max_bytes: int,
) -> list[Finding]:
    """Return every violation one key or value shows (empty when it is fine)."""
    found: list[Finding] = []
    if len(data) > max_bytes:
        found.append(
            Finding(OVERSIZED_PAYLOAD, f"{len(data)} bytes > max_payload_bytes {max_bytes}")
        )
    schema_id, start = schema_id_of(data, headers, part)
    if schema_id is None:
        what = f"first byte 0x{data[0]:02x}, not 0" if data else "empty"
        found.append(Finding(NO_MAGIC_BYTE, f"{what}, and no {HEADERS[part]} header"))
        return found
    schema = lookup.schema(schema_id)
    if schema is None:
        found.append(Finding(UNKNOWN_SCHEMA_ID, f"schema id {schema_id} is not in the registry"))
        return found
    subject = subject_for(strategy, topic, part, schema)
    if subject is None:
        found.append(
            Finding(
                WRONG_SUBJECT,
                f"schema id {schema_id} has no record name for the {strategy} strategy",
            )
        )
        return found
    if not lookup.in_subject(schema_id, subject):
        found.append(
            Finding(WRONG_SUBJECT, f"schema id {schema_id} is not a version of subject {subject}")
        )
        return found
    problem = payload_problem(schema, data, start)
    if problem is not None:
        found.append(Finding(INVALID_PAYLOAD, f"schema id {schema_id}: {problem}"))
    return found


def payload_problem(schema: Schema, data: bytes, start: int) -> str | None:
    """Return why ``data[start:]`` does not decode with ``schema``, or None when it does."""
    if schema.type == AVRO:
        return _avro(schema, data, start)
    if schema.type == JSON:
        return _json(schema, data, start)
    if schema.type == PROTOBUF:
        return _protobuf(schema, data, start)
    return None


def _avro(schema: Schema, data: bytes, start: int) -> str | None:
    try:
        parsed = schema.decoder()
    except Exception:  # a schema fastavro cannot use (references): not the message's fault
        return None
    buffer = io.BytesIO(data)
    buffer.seek(start)
    try:
        fastavro.schemaless_reader(buffer, parsed, None)
    except (EOFError, struct.error):
        return "Avro payload ends early (truncated)"
    except Exception as exc:  # fastavro raises what its decoders meet: ValueError, IndexError, …
        return f"does not decode as Avro: {type(exc).__name__}: {str(exc)[:120]}"
    left = len(data) - buffer.tell()
    if left:
        return f"{left} bytes left over after the Avro record"
    return None


def _json(schema: Schema, data: bytes, start: int) -> str | None:
    try:
        validate = schema.decoder()
    except Exception:
        return None
    try:
        doc = json.loads(data[start:])
    except (ValueError, UnicodeDecodeError) as exc:
        return f"not JSON: {str(exc)[:120]}"
    try:
        validate(doc)
    except Exception as exc:  # fastjsonschema.JsonSchemaValueException
        return f"does not match the JSON Schema: {str(exc)[:160]}"
    return None


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """Return (unsigned varint, next offset); raises ValueError when it runs off the end."""
    result = shift = 0
    while True:
        if at >= len(data):
            raise ValueError("varint runs past the end")
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, at
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _zigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _protobuf(schema: Schema, data: bytes, start: int) -> str | None:
    try:
        count, at = _varint(data, start)
        count = _zigzag(count)
        if count < 0 or count > 100:
            return f"message-index count {count} is not a valid header"
        indexes = [0] if count == 0 else []
        for _ in range(count):
            index, at = _varint(data, at)
            indexes.append(_zigzag(index))
    except ValueError:
        return "message-index header ends early"
    if any(i < 0 for i in indexes):
        return f"negative message index in {indexes}"
    if schema.messages and indexes[0] >= schema.messages:
        return f"message index {indexes[0]} but the schema defines {schema.messages} messages"
    return _wire(data, at)


def _wire(data: bytes, at: int) -> str | None:
    """Return why the bytes from ``at`` are not a sequence of Protobuf fields, or None."""
    try:
        while at < len(data):
            tag, at = _varint(data, at)
            wire, number = tag & 7, tag >> 3
            if number == 0:
                return "field number 0"
            if wire == 0:
                _, at = _varint(data, at)
            elif wire == 1:
                at += 8
            elif wire == 2:
                size, at = _varint(data, at)
                at += size
            elif wire == 5:
                at += 4
            elif wire not in (3, 4):
                return f"wire type {wire} does not exist"
            if at > len(data):
                return "Protobuf field runs past the end (truncated)"
    except ValueError:
        return "Protobuf varint runs past the end (truncated)"
    return None
