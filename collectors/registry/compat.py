"""Compatibility between schema versions, decided by lagwatch itself at the policy's level.

Avro follows the specification's schema resolution: a reader can read what a
writer wrote when the types match or promote (int → long → float → double,
string ↔ bytes), every reader field the writer lacks has a default, enum
symbols the writer may send exist in the reader (or it has a default), named
types keep their name (or an alias), and unions resolve branch by branch.
JSON Schema: a reader accepts what a writer allows unless it requires a
property the writer does not, narrows a type or an enum, or closes the object
(``additionalProperties: false``) to a property the writer has.

BACKWARD: the new version reads data written with the old ones; FORWARD: the
old ones read data written with the new; FULL: both. ``_TRANSITIVE`` checks
against every earlier version, otherwise against the one before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from lagwatch.collectors.registry.schema import AVRO, JSON, Schema, avro_full_name

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}
"""writer type → the reader types that can read it."""


@dataclass(frozen=True)
class Incompatibility:
    """One reason a reader cannot read a writer's data: where, and what."""

    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.path or '/'}: {self.what}"


# -- Avro ----------------------------------------------------------------------------------


class _Names:
    """Named Avro types of one schema, by full name, so references resolve."""

    def __init__(self, doc: Any) -> None:
        self.types: dict[str, dict[str, Any]] = {}
        self._collect(doc, None)

    def _collect(self, doc: Any, space: str | None) -> None:
        if isinstance(doc, list):
            for item in doc:
                self._collect(item, space)
        elif isinstance(doc, dict):
            kind = doc.get("type")
            if kind in ("record", "error", "enum", "fixed"):
                full = avro_full_name(doc, space)
                self.types[full] = doc
                self.types.setdefault(full.rsplit(".", 1)[-1], doc)
                inner = full.rsplit(".", 1)[0] if "." in full else space
                for f in doc.get("fields", []) if kind in ("record", "error") else []:
                    self._collect(f.get("type"), inner)
            elif kind == "array":
                self._collect(doc.get("items"), space)
            elif kind == "map":
                self._collect(doc.get("values"), space)
            elif isinstance(kind, dict | list):
                self._collect(kind, space)

    def resolve(self, doc: Any) -> Any:
        """Return the definition a type reference names, or the type itself."""
        if isinstance(doc, str) and doc not in PRIMITIVES:
            return self.types.get(doc, self.types.get(doc.rsplit(".", 1)[-1], doc))
        if isinstance(doc, dict) and isinstance(doc.get("type"), str) and doc["type"] in PRIMITIVES:
            return doc["type"]  # {"type": "string", "logicalType": …} reads as its primitive
        if isinstance(doc, dict) and isinstance(doc.get("type"), dict | list):
            return self.resolve(doc["type"])
        return doc


def _kind(doc: Any) -> str:
    if isinstance(doc, list):
        return "union"
    if isinstance(doc, str):
        return doc
    if isinstance(doc, dict):
        kind = doc.get("type")
        return "record" if kind == "error" else str(kind)
    return "?"


def _name(doc: dict[str, Any]) -> str:
    return str(doc.get("name", "")).rsplit(".", 1)[-1]


class _AvroCheck:
    def __init__(self, reader: Any, writer: Any, missing: str) -> None:
        self.rn, self.wn = _Names(reader), _Names(writer)
        self.missing = missing
        self.seen: set[tuple[int, int]] = set()

    def check(self, reader: Any, writer: Any, path: str) -> Iterator[Incompatibility]:
        r, w = self.rn.resolve(reader), self.wn.resolve(writer)
        rk, wk = _kind(r), _kind(w)
        if wk == "union":
            for i, branch in enumerate(w):
                problems = list(self.check(r, branch, path))
                if problems:
                    yield Incompatibility(
                        path,
                        f"writer's union branch {i} ({_describe(self.wn.resolve(branch))}) cannot be read: {problems[0].what}",
                    )
            return
        if rk == "union":
            if not any(not list(self.check(branch, w, path)) for branch in r):
                yield Incompatibility(path, f"no branch of the reader's union reads {_describe(w)}")
            return
        if wk in PRIMITIVES or rk in PRIMITIVES:
            if wk in PRIMITIVES and rk in PROMOTIONS.get(wk, {wk}):
                return
            yield Incompatibility(path, f"type changed from {_describe(w)} to {_describe(r)}")
            return
        if rk != wk:
            yield Incompatibility(path, f"type changed from {_describe(w)} to {_describe(r)}")
            return
        if rk in ("record", "enum", "fixed"):
            aliases = {a.rsplit(".", 1)[-1] for a in r.get("aliases", [])}
            if _name(r) != _name(w) and _name(w) not in aliases:
                yield Incompatibility(path, f"{rk} name changed from {_name(w)} to {_name(r)}")
                return
        if rk == "record":
            key = (id(r), id(w))
            if key in self.seen:  # a recursive type already being compared further up
                return
            self.seen.add(key)
            yield from self._record(r, w, path)
            self.seen.discard(key)
        elif rk == "enum":
            missing = [s for s in w.get("symbols", []) if s not in r.get("symbols", [])]
            if missing and "default" not in r:
                yield Incompatibility(
                    path, f"enum symbols removed without a default: {', '.join(missing)}"
                )
        elif rk == "fixed":
            if r.get("size") != w.get("size"):
                yield Incompatibility(
                    path, f"fixed size changed from {w.get('size')} to {r.get('size')}"
                )
        elif rk == "array":
            yield from self.check(r.get("items"), w.get("items"), f"{path}/items")
        elif rk == "map":
            yield from self.check(r.get("values"), w.get("values"), f"{path}/values")

    def _record(self, r: dict[str, Any], w: dict[str, Any], path: str) -> Iterator[Incompatibility]:
        written = {f["name"]: f for f in w.get("fields", [])}
        for field in r.get("fields", []):
            names = [field["name"], *field.get("aliases", [])]
            source = next((written[n] for n in names if n in written), None)
            where = f"{path}/fields/{field['name']}"
            if source is None:
                if "default" not in field:
                    yield Incompatibility(where, self.missing)
                continue
            yield from self.check(field.get("type"), source.get("type"), where)


def _describe(doc: Any) -> str:
    if isinstance(doc, str):
        return doc
    if isinstance(doc, list):
        return "union[" + ", ".join(_describe(d) for d in doc) + "]"
    if isinstance(doc, dict):
        kind = _kind(doc)
        return f"{kind} {_name(doc)}" if kind in ("record", "enum", "fixed") else kind
    return str(doc)


MISSING = "field the writer lacks, without a default in the reader"
ADDED = "field added without a default (data of the old version lacks it)"
REMOVED = "field removed that the old version has no default for"


def avro_reads(reader: Any, writer: Any, missing: str = MISSING) -> list[Incompatibility]:
    """Return why an Avro ``reader`` schema cannot read data written with ``writer`` ([] if it can)."""
    return list(_AvroCheck(reader, writer, missing).check(reader, writer, ""))


# -- JSON Schema ---------------------------------------------------------------------------


def _types(doc: Any) -> set[str] | None:
    if not isinstance(doc, dict) or "type" not in doc:
        return None
    kinds = doc["type"]
    found = set(kinds) if isinstance(kinds, list) else {kinds}
    if "number" in found:
        found.add("integer")
    return found


def json_reads(reader: Any, writer: Any, path: str = "") -> list[Incompatibility]:
    """Return why a JSON Schema ``reader`` would refuse documents valid under ``writer``."""
    out: list[Incompatibility] = []
    if reader is True or reader == {}:
        return out
    if writer is True or not isinstance(writer, dict) or not isinstance(reader, dict):
        if reader is False or (isinstance(reader, dict) and writer is True):
            out.append(
                Incompatibility(path, "the reader is stricter than a writer that allows anything")
            )
        return out
    rt, wt = _types(reader), _types(writer)
    if rt is not None:
        if wt is None:
            out.append(Incompatibility(path, f"type narrowed to {sorted(rt)}"))
        elif not wt <= rt:
            out.append(Incompatibility(path, f"type changed from {sorted(wt)} to {sorted(rt)}"))
    if "enum" in reader:
        allowed = reader["enum"]
        if "enum" not in writer:
            out.append(Incompatibility(path, "enum added"))
        else:
            gone = [v for v in writer["enum"] if v not in allowed]
            if gone:
                out.append(Incompatibility(path, f"enum values removed: {gone}"))
    r_props = reader.get("properties") or {}
    w_props = writer.get("properties") or {}
    required = set(reader.get("required") or [])
    had = set(writer.get("required") or [])
    for name in sorted(required - had):
        out.append(
            Incompatibility(
                f"{path}/required/{name}", "property became required (old data may lack it)"
            )
        )
    if reader.get("additionalProperties") is False:
        for name in sorted(set(w_props) - set(r_props)):
            out.append(
                Incompatibility(
                    f"{path}/properties/{name}", "property removed from a closed object"
                )
            )
        if writer.get("additionalProperties") is not False:
            out.append(Incompatibility(path, "object closed (additionalProperties: false)"))
    for name in sorted(set(r_props) & set(w_props)):
        out += json_reads(r_props[name], w_props[name], f"{path}/properties/{name}")
    if isinstance(reader.get("items"), dict) and isinstance(writer.get("items"), dict):
        out += json_reads(reader["items"], writer["items"], f"{path}/items")
    return out


# -- levels --------------------------------------------------------------------------------


def reads(reader: Schema, writer: Schema, missing: str = MISSING) -> list[Incompatibility]:
    """Return why ``reader`` cannot read what ``writer`` wrote; [] when it can, or when the types
    have no rule here (Protobuf)."""
    if reader.type != writer.type:
        return [Incompatibility("", f"schema type changed from {writer.type} to {reader.type}")]
    if reader.type == AVRO:
        return avro_reads(reader.doc, writer.doc, missing)
    if reader.type == JSON:
        return json_reads(reader.doc, writer.doc)
    return []


def directions(level: str) -> tuple[bool, bool]:
    """Return (backward, forward) for a compatibility level."""
    base = level.removesuffix("_TRANSITIVE")
    return base in ("BACKWARD", "FULL"), base in ("FORWARD", "FULL")


def check_against(level: str, new: Schema, earlier: Sequence[tuple[int, Schema]]) -> list[str]:
    """Return what makes ``new`` break ``level`` against the ``earlier`` (version, schema) pairs,
    oldest first: the one before only, or all of them for a _TRANSITIVE level. [] is compatible."""
    if level == "NONE" or not earlier:
        return []
    backward, forward = directions(level)
    against = earlier if level.endswith("_TRANSITIVE") else earlier[-1:]
    problems: list[str] = []
    for version, old in against:
        if backward:
            problems += [f"backward vs version {version}: {p}" for p in reads(new, old, ADDED)]
        if forward:
            problems += [f"forward vs version {version}: {p}" for p in reads(old, new, REMOVED)]
    return problems
