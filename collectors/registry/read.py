"""What lagwatch reads from a registry: schemas by id (cached) and, each cycle, its subjects.

Every request goes through ``session.Session``; every answer that differs by
registry is read through ``flavour.Flavour``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lagwatch.collectors.registry.flavour import SOFT_DELETED_CODE, Flavour
from lagwatch.collectors.registry.schema import Schema, SchemaProblem, parse
from lagwatch.collectors.registry.session import RegistryError, Session, path_of

NEGATIVE_TTL = 30.0
"""An id the registry did not know is asked again after this long."""
SUBJECTS_TTL = 300.0
"""Which subjects hold an id is read again after this long, or sooner before a wrong_subject."""
RECHECK_AFTER = 5.0
"""A wrong_subject verdict first re-reads an id's subjects when they are older than this."""


@dataclass
class _Entry:
    schema: Schema | None
    subjects: set[str]
    read_at: float
    subjects_at: float


class SchemaCache:
    """Schemas by id, and the subjects each id is a version of, for the payload checks.

    Known ids are kept; unknown ones for ``NEGATIVE_TTL``; the subjects of an id
    are read again after ``SUBJECTS_TTL``, or before a message would be called
    ``wrong_subject`` if they were read more than ``RECHECK_AFTER`` ago (the
    same schema may have just been registered under the subject). Raises
    RegistryUnavailable when the registry cannot answer: a lookup that cannot
    be made is never a verdict.
    """

    def __init__(
        self, session: Session, flavour: Flavour, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.session = session
        self.flavour = flavour
        self.clock = clock
        self._ids: dict[int, _Entry] = {}
        self._subjects: tuple[float, set[str]] | None = None
        self.lookups = 0

    def schema(self, schema_id: int) -> Schema | None:
        return self._entry(schema_id).schema

    def in_subject(self, schema_id: int, subject: str) -> bool:
        entry = self._entry(schema_id)
        if subject in entry.subjects:
            return True
        if self.clock() - entry.subjects_at > RECHECK_AFTER:
            entry.subjects = self._subjects_of(schema_id)
            entry.subjects_at = self.clock()
        return subject in entry.subjects

    def has_subject(self, subject: str) -> bool:
        now = self.clock()
        if self._subjects is None or now - self._subjects[0] > SUBJECTS_TTL:
            body = self.session.get_ok("/subjects")
            self._subjects = (now, {str(s) for s in body} if isinstance(body, list) else set())
        return subject in self._subjects[1]

    def forget_subjects(self) -> None:
        """Drop the cached subject list (the audit read a new one)."""
        self._subjects = None

    def set_subjects(self, subjects: set[str]) -> None:
        self._subjects = (self.clock(), set(subjects))

    def _entry(self, schema_id: int) -> _Entry:
        now = self.clock()
        entry = self._ids.get(schema_id)
        if entry is not None:
            if entry.schema is None and now - entry.read_at > NEGATIVE_TTL:
                entry = None
            elif entry.schema is not None and now - entry.subjects_at > SUBJECTS_TTL:
                entry.subjects = self._subjects_of(schema_id)
                entry.subjects_at = now
        if entry is None:
            entry = self._read(schema_id, now)
            self._ids[schema_id] = entry
        return entry

    def _read(self, schema_id: int, now: float) -> _Entry:
        self.lookups += 1
        response = self.session.get(path_of("schemas", "ids", schema_id))
        if response.status == 404:
            return _Entry(None, set(), now, now)
        if response.status >= 300 or not isinstance(response.body, dict):
            raise RegistryError(
                f"registry {self.session.name}: GET /schemas/ids/{schema_id}",
                response.status,
                response.error_code,
                response.message,
            )
        subjects = self._subjects_of(schema_id)
        if not subjects:
            # Apicurio's content cache keeps ids of permanently deleted subjects readable.
            return _Entry(None, set(), now, now)
        try:
            schema = parse(response.body.get("schemaType"), str(response.body.get("schema", "")))
        except SchemaProblem:
            schema = Schema("UNPARSED", str(response.body.get("schema", "")))
        return _Entry(schema, subjects, now, now)

    def _subjects_of(self, schema_id: int) -> set[str]:
        response = self.session.get(path_of("schemas", "ids", schema_id, "versions"))
        if self.flavour.id_belongs_to_no_subject(response):
            return set()
        if response.status >= 300:
            raise RegistryError(
                f"registry {self.session.name}: GET /schemas/ids/{schema_id}/versions",
                response.status,
                response.error_code,
                response.message,
            )
        return {str(v["subject"]) for v in response.body if isinstance(v, dict) and "subject" in v}


# -- the audit's reads ---------------------------------------------------------------------


@dataclass
class VersionRead:
    version: int
    id: int
    type: str
    text: str


@dataclass
class SubjectRead:
    """One subject as read this cycle."""

    name: str
    deleted: bool
    versions: list[int]
    compatibility: str | None = None
    mode: str | None = None


@dataclass
class RegistryRead:
    """The whole registry as one cycle of the audit read it."""

    global_compatibility: str | None
    global_mode: str | None
    subjects: dict[str, SubjectRead] = field(default_factory=dict)


def read_registry(session: Session, flavour: Flavour) -> RegistryRead:
    """Return subjects (live and soft-deleted), their versions, levels and modes, and the
    global ones. Raises RegistryUnavailable or RegistryError."""
    live = [str(s) for s in _list(session.get_ok("/subjects"))]
    with_deleted = [str(s) for s in _list(session.get_ok("/subjects", {"deleted": "true"}))]
    out = RegistryRead(
        flavour.compatibility(session.get("/config")), flavour.mode(session.get("/mode"))
    )
    for name in live:
        response = session.get(path_of("subjects", name, "versions"))
        if response.status == 404:
            continue  # deleted between the two reads; seen as deleted next cycle
        versions = _versions(response, session, name)
        subject = SubjectRead(name, False, versions)
        subject.compatibility = flavour.compatibility(
            session.get(path_of("config", name), flavour.config_params())
        )
        subject.mode = flavour.mode(session.get(path_of("mode", name), flavour.config_params()))
        out.subjects[name] = subject
    for name in with_deleted:
        if name in out.subjects:
            continue
        response = session.get(path_of("subjects", name, "versions"), {"deleted": "true"})
        versions = _versions(response, session, name) if response.status < 300 else []
        out.subjects[name] = SubjectRead(name, True, versions)
    return out


def read_version(
    session: Session, subject: str, version: int, deleted: bool = False
) -> VersionRead | None:
    """Return one version's id, type and schema text; None if it is gone."""
    params = {"deleted": "true"} if deleted else None
    response = session.get(path_of("subjects", subject, "versions", version), params)
    if response.status == 404:
        return None
    if response.status >= 300 or not isinstance(response.body, dict):
        raise RegistryError(
            f"registry {session.name}: GET /subjects/{subject}/versions/{version}",
            response.status,
            response.error_code,
            response.message,
        )
    body = response.body
    return VersionRead(
        int(body.get("version", version)),
        int(body["id"]),
        str(body.get("schemaType") or "AVRO").upper(),
        str(body.get("schema", "")),
    )


def _list(body: Any) -> list[Any]:
    return body if isinstance(body, list) else []


def _versions(response: Any, session: Session, name: str) -> list[int]:
    if response.status >= 300:
        if response.error_code == SOFT_DELETED_CODE:
            return []
        raise RegistryError(
            f"registry {session.name}: GET /subjects/{name}/versions",
            response.status,
            response.error_code,
            response.message,
        )
    return sorted(int(v) for v in _list(response.body))
