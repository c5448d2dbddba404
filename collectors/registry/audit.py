"""The registry audit: every subject's versions, level and mode, held to the policy each cycle.

Rules (`lagwatch_registry_governance_violations{registry,subject,rule}`, the
value is how many times the subject breaks the rule, the note says how):

- ``compatibility_none``: the subject's effective level (its own, else the
  global one) is NONE: anything may be registered;
- ``incompatible_version``: versions that break the *policy's* level against
  the versions before them (lagwatch's own check, whatever the subject's
  setting is; see ``compat.py``);
- ``subject_deleted``: the subject is soft-deleted: producers using it fail to
  register, its ids still resolve;
- ``mode_not_readwrite``: the subject's (or the registry's) mode is READONLY,
  IMPORT or another than READWRITE;
- ``naming``: the latest version's record name breaks the naming rule
  (``naming.py``); value subjects only, never ``…-key`` ones;
- ``no_version_field``: the latest version's record has no version field;
  value subjects only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from lagwatch.collectors.registry.compat import check_against
from lagwatch.collectors.registry.config import PolicyConfig, RegistryConfig
from lagwatch.collectors.registry.flavour import Flavour
from lagwatch.collectors.registry.naming import naming_problem
from lagwatch.collectors.registry.read import RegistryRead, read_registry, read_version
from lagwatch.collectors.registry.schema import Schema, SchemaProblem, parse
from lagwatch.collectors.registry.session import Session
from lagwatch.store import Record, Sample, Store, StoreUnavailable
from lagwatch.store.contracts import Namespace

log = logging.getLogger("lagwatch.registry")

RULES = (
    "compatibility_none",
    "incompatible_version",
    "subject_deleted",
    "mode_not_readwrite",
    "naming",
    "no_version_field",
)
GLOBAL = "__GLOBAL"
"""The `subject` label of the registry-wide compatibility (Confluent's own name for it)."""
VERSION_FIELDS = ("version", "schema_version", "event_version", "v")
COMPATIBILITY = "lagwatch_registry_subject_compatibility"
GOVERNANCE = "lagwatch_registry_governance_violations"
SUBJECTS = "lagwatch_registry_subjects"
FORMAT = 1


@dataclass
class VersionInfo:
    """One version as the audit judged it."""

    version: int
    id: int
    type: str
    name: str | None
    fields: list[str]
    problems: list[str] = field(default_factory=list)
    """Why it breaks the policy's level against the versions before it."""
    parse_error: str | None = None
    purpose: str | None = None


@dataclass
class SubjectInfo:
    name: str
    deleted: bool
    compatibility: str | None
    mode: str | None
    versions: list[VersionInfo]
    findings: dict[str, list[str]] = field(default_factory=dict)

    def count(self, rule: str) -> int:
        return len(self.findings.get(rule, []))

    def as_json(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "compatibility": self.compatibility,
            "mode": self.mode,
            "versions": [
                {
                    "version": v.version,
                    "id": v.id,
                    "type": v.type,
                    "name": v.name,
                    "fields": v.fields,
                    "problems": v.problems,
                    "parse_error": v.parse_error,
                    "purpose": v.purpose,
                }
                for v in self.versions
            ],
            "findings": self.findings,
        }


def is_key_subject(subject: str) -> bool:
    return subject.endswith("-key")


def version_field_problem(policy: PolicyConfig, schema: Schema | None) -> str | None:
    """Return why the latest schema lacks the policy's version field, or None."""
    if policy.version_field is False or schema is None:
        return None
    wanted = (policy.version_field,) if isinstance(policy.version_field, str) else VERSION_FIELDS
    present = {f.lower() for f in schema.fields}
    if any(w.lower() in present for w in wanted):
        return None
    what = schema.short_name or "the schema"
    return f"{what} has no version field ({' or '.join(wanted)})"


def judge_subject(
    policy: PolicyConfig, info: SubjectInfo, schemas: dict[int, Schema | None]
) -> None:
    """Fill ``info.findings`` (and each version's problems) from the policy."""
    findings: dict[str, list[str]] = {rule: [] for rule in RULES}
    if info.deleted:
        findings["subject_deleted"].append(
            "soft-deleted: producers cannot register to it, its ids still resolve"
        )
        info.findings = findings
        return
    if info.compatibility == "NONE":
        findings["compatibility_none"].append(
            "effective compatibility NONE: any schema can be registered"
        )
    if info.mode is not None and info.mode != "READWRITE":
        findings["mode_not_readwrite"].append(f"mode {info.mode}")
    earlier: list[tuple[int, Schema]] = []
    for v in info.versions:
        schema = schemas.get(v.version)
        if schema is None:
            continue
        v.problems = check_against(policy.compatibility, schema, earlier)
        if v.problems:
            findings["incompatible_version"].append(
                f"version {v.version} (id {v.id}) breaks {policy.compatibility}: {v.problems[0]}"
            )
        earlier.append((v.version, schema))
    if info.versions and not is_key_subject(info.name):
        latest = info.versions[-1]
        schema = schemas.get(latest.version)
        if policy.naming == "past_tense" and schema is not None:
            problem = naming_problem(latest.name)
            if problem:
                findings["naming"].append(f"version {latest.version}: {problem}")
        problem = version_field_problem(policy, schema)
        if problem:
            findings["no_version_field"].append(f"version {latest.version}: {problem}")
    info.findings = findings


class Audit:
    """Reads a registry each cycle and turns what it finds into series and records."""

    def __init__(self, config: RegistryConfig, session: Session, store: Store | None) -> None:
        self.config = config
        self.session = session
        self.store = store
        self._schemas: dict[tuple[str, int], tuple[VersionInfo, Schema | None]] = {}
        self._previous: dict[str, dict[str, Any]] | None = None if store else {}
        self._previous_global: str | None = None
        self.subjects: dict[str, SubjectInfo] = {}
        self.global_compatibility: str | None = None
        self.global_mode: str | None = None

    def _restore(self) -> dict[str, dict[str, Any]]:
        if self._previous is None:
            self._previous = {}
            assert self.store is not None
            try:
                record = self.store.get_record(Namespace.REGISTRY_AUDIT, self.config.name)
            except StoreUnavailable as exc:
                log.warning("registry %s: cannot read the last audit: %s", self.config.name, exc)
                record = None
            if record is not None and record.body.get("v") == FORMAT:
                subjects = record.body.get("subjects")
                if isinstance(subjects, dict):
                    self._previous = subjects
                level = (record.body.get("global") or {}).get("compatibility")
                self._previous_global = level if isinstance(level, str) else None
        return self._previous

    def run(self, flavour: Flavour, now: float) -> tuple[list[Sample], list[Record]]:
        """Read the registry and return this cycle's series and records; raises
        RegistryUnavailable (the collector turns it into `lagwatch_registry_up` 0)."""
        previous = self._restore()
        read = read_registry(self.session, flavour)
        records: list[Record] = []
        subjects: dict[str, SubjectInfo] = {}
        for name, sub in read.subjects.items():
            versions, schemas = self._versions(name, sub.versions, sub.deleted, records, now)
            info = SubjectInfo(name, sub.deleted, sub.compatibility, sub.mode, versions)
            judge_subject(self.config.policy, info, schemas)
            if info.findings.get("mode_not_readwrite"):
                info.findings["mode_not_readwrite"] = [flavour.mode_note(info.mode or "")]
            subjects[name] = info
        self.subjects = subjects
        self.global_compatibility, self.global_mode = read.global_compatibility, read.global_mode
        samples = self._samples(read, subjects, previous, now)
        subjects_json = {n: s.as_json() for n, s in subjects.items()}
        body = {
            "v": FORMAT,
            "ts": now,
            "flavour": flavour.label,
            "global": {"compatibility": read.global_compatibility, "mode": read.global_mode},
            "policy": self.config.policy.model_dump(),
            "subjects": subjects_json,
        }
        records.append(Record(Namespace.REGISTRY_AUDIT, self.config.name, now, body))
        self._previous = subjects_json
        self._previous_global = read.global_compatibility
        return samples, records

    def _versions(
        self, subject: str, numbers: list[int], deleted: bool, records: list[Record], now: float
    ) -> tuple[list[VersionInfo], dict[int, Schema | None]]:
        out: list[VersionInfo] = []
        schemas: dict[int, Schema | None] = {}
        for number in numbers:
            known = self._schemas.get((subject, number))
            if known is None:
                read = read_version(self.session, subject, number, deleted)
                if read is None:
                    continue
                schema: Schema | None
                try:
                    schema = parse(read.type, read.text)
                    info = VersionInfo(
                        number, read.id, schema.type, schema.name, schema.fields,
                        purpose=schema.purpose,
                    )  # fmt: skip
                except SchemaProblem as exc:
                    schema = None
                    info = VersionInfo(number, read.id, read.type, None, [], parse_error=str(exc))
                known = (info, schema)
                self._schemas[(subject, number)] = known
                records.append(
                    Record(
                        Namespace.REGISTRY_SCHEMAS,
                        f"{self.config.name}/{subject}/{number}",
                        now,
                        {"id": read.id, "type": read.type, "schema": read.text},
                    )
                )
            out.append(known[0])
            schemas[number] = known[1]
        # Versions deleted since: forget them.
        for key in [k for k in self._schemas if k[0] == subject and k[1] not in numbers]:
            del self._schemas[key]
        return out, schemas

    def _samples(
        self,
        read: RegistryRead,
        subjects: dict[str, SubjectInfo],
        previous: dict[str, dict[str, Any]],
        now: float,
    ) -> list[Sample]:
        registry = self.config.name
        out = [
            Sample.of(
                SUBJECTS, sum(1 for s in subjects.values() if not s.deleted), now, registry=registry
            )
        ]
        levels: list[tuple[str, Any, Any]] = [
            (GLOBAL, read.global_compatibility, self._previous_global)
        ]
        for name, info in subjects.items():
            if not info.deleted:
                levels.append(
                    (name, info.compatibility, (previous.get(name) or {}).get("compatibility"))
                )
            for rule in RULES:
                notes = info.findings.get(rule, [])
                out.append(
                    Sample.of(
                        GOVERNANCE,
                        len(notes),
                        now,
                        note="; ".join(notes)[:500] or None,
                        registry=registry,
                        subject=name,
                        rule=rule,
                    )
                )
        # A subject gone for good (or no longer deleted): its findings end, its level too.
        for name, before in previous.items():
            if name == GLOBAL or name in subjects:
                continue
            for rule in RULES:
                out.append(
                    Sample.of(GOVERNANCE, 0, now, registry=registry, subject=name, rule=rule)
                )
            if before.get("compatibility"):
                levels.append((name, None, before["compatibility"]))
        for name, level, before in levels:
            if level:
                out.append(
                    Sample.of(COMPATIBILITY, 1, now, registry=registry, subject=name, level=level)
                )
            if before and before != level:
                out.append(
                    Sample.of(COMPATIBILITY, 0, now, registry=registry, subject=name, level=before)
                )
        return out
