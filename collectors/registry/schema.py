"""A registered schema as lagwatch reads it: its type, name, top-level fields and a decoder.

Avro is parsed with fastavro, JSON Schema compiled with fastjsonschema;
Protobuf is read as text for its message names (no compiler is needed for the
checks lagwatch makes of it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import fastavro
import fastjsonschema

AVRO, JSON, PROTOBUF = "AVRO", "JSON", "PROTOBUF"
TYPES = (AVRO, JSON, PROTOBUF)

_PROTO_MESSAGE = re.compile(r"^\s*message\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{", re.M)
_PROTO_FIELD = re.compile(
    r"^\s*(?:optional\s+|repeated\s+|required\s+)?[A-Za-z_][\w.<>, ]*\s+([A-Za-z_]\w*)\s*=\s*\d+",
    re.M,
)
_PROTO_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)\s*;", re.M)


class SchemaProblem(ValueError):
    """The schema text does not parse as its type says."""


@dataclass
class Schema:
    """One schema: ``type`` (AVRO, JSON, PROTOBUF), its text, and what lagwatch needs of it."""

    type: str
    text: str
    doc: Any = None
    """The parsed JSON (Avro, JSON Schema); None for Protobuf."""
    name: str | None = None
    """The full record or message name (Avro ``namespace.name``, JSON ``title``, Protobuf
    ``package.FirstMessage``); None when the schema has none."""
    fields: list[str] = field(default_factory=list)
    """The top-level field names."""
    messages: int = 0
    """Protobuf: how many top-level messages the file defines."""
    purpose: str | None = None
    """What the schema says the event is for (Avro ``doc``, JSON Schema ``description``)."""
    _decoder: Any = None

    @property
    def short_name(self) -> str | None:
        return None if self.name is None else self.name.rsplit(".", 1)[-1]

    def decoder(self) -> Any:
        """Return the parsed Avro schema or the compiled JSON Schema validator (built once)."""
        if self._decoder is None:
            if self.type == AVRO:
                self._decoder = fastavro.parse_schema(self.doc)
            elif self.type == JSON:
                self._decoder = fastjsonschema.compile(self.doc if self.doc is not None else {})
        return self._decoder


def parse(schema_type: str | None, text: str) -> Schema:
    """Return the schema of ``text``; ``schema_type`` None or "" means Avro (the registry's
    default). Raises SchemaProblem naming what is wrong."""
    kind = (schema_type or AVRO).upper()
    if kind not in TYPES:
        raise SchemaProblem(f"unknown schema type {schema_type!r}; expected one of {TYPES}")
    if kind == PROTOBUF:
        names = _top_level_messages(text)
        if not names:
            raise SchemaProblem("no message definition found in the Protobuf schema")
        package = _PROTO_PACKAGE.search(text)
        first = names[0]
        return Schema(
            PROTOBUF,
            text,
            None,
            f"{package.group(1)}.{first}" if package else first,
            _proto_fields(text, first),
            len(names),
        )
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise SchemaProblem(f"not JSON: {exc}") from None
    if kind == AVRO:
        try:
            fastavro.parse_schema(doc)
        except Exception as exc:  # fastavro raises several types for a bad schema
            raise SchemaProblem(f"not a valid Avro schema: {exc}") from None
        schema = Schema(AVRO, text, doc)
        if isinstance(doc, dict) and doc.get("type") == "record":
            schema.name = avro_full_name(doc, None)
            schema.fields = [f["name"] for f in doc.get("fields", []) if isinstance(f, dict)]
            schema.purpose = doc.get("doc") if isinstance(doc.get("doc"), str) else None
        return schema
    if not isinstance(doc, dict | bool):
        raise SchemaProblem("a JSON Schema is an object (or true/false)")
    try:
        fastjsonschema.compile(doc)
    except Exception as exc:  # JsonSchemaDefinitionException and friends
        raise SchemaProblem(f"not a valid JSON Schema: {exc}") from None
    schema = Schema(JSON, text, doc)
    if isinstance(doc, dict):
        title = doc.get("title")
        schema.name = str(title) if isinstance(title, str) and title else None
        props = doc.get("properties")
        schema.fields = list(props) if isinstance(props, dict) else []
        about = doc.get("description")
        schema.purpose = about if isinstance(about, str) else None
    return schema


def avro_full_name(doc: dict[str, Any], namespace: str | None) -> str:
    """Return the full name of an Avro named type, given the enclosing namespace."""
    name = str(doc.get("name", ""))
    if "." in name:
        return name
    space = doc.get("namespace", namespace)
    return f"{space}.{name}" if space else name


def _top_level_messages(text: str) -> list[str]:
    """Return the names of the messages defined at the top level of a .proto text."""
    names = []
    depth = 0
    clean = re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    for line in clean.splitlines():
        if depth == 0:
            match = _PROTO_MESSAGE.match(line)
            if match:
                names.append(match.group(1))
        depth += line.count("{") - line.count("}")
    return names


def _proto_fields(text: str, message: str) -> list[str]:
    """Return the field names of ``message``'s own body (nested messages left out)."""
    start = re.search(rf"\bmessage\s+{re.escape(message)}\s*\{{", text)
    if start is None:
        return []
    depth, out, body = 1, [], text[start.end() :]
    for line in body.splitlines():
        if depth == 1:
            found = _PROTO_FIELD.match(line)
            if found and not line.strip().startswith(("message", "enum", "oneof", "option")):
                out.append(found.group(1))
        depth += line.count("{") - line.count("}")
        if depth <= 0:
            break
    return out
