"""Every way a registry answers differently from Confluent's, in one place, chosen from the server.

Confluent Schema Registry and Karapace share one behaviour, the default here.
Apicurio Registry (3.x, through its ``/apis/ccompat/v7`` API) differs, as
measured on 3.3.3 (devstack/README.md has the table); each difference that
lagwatch meets is a field or method of ``Flavour``:

- ``GET /config/{s}`` answers 200 NONE for a subject without its own setting:
  the effective level is only read with ``?defaultToGlobal=true`` (which
  lagwatch always sends, and Confluent takes too); whether a subject has a
  setting of its own cannot be told when it equals the global one.
- an explicit subject NONE survives ``DELETE /config/{s}`` (200, the setting stays).
- an incompatible registration is HTTP 409 with ``error_code`` 409 (Confluent
  40901): match on the status.
- ``?verbose=true`` compatibility checks carry no messages: lagwatch checks
  compatibility itself, at the policy level, and never relies on them.
- READONLY (and IMPORT) mode is accepted but not enforced: a registration still
  succeeds, which the mode finding says.
- with Apicurio's default content cache, a permanently deleted subject's ids
  still resolve by ``GET /schemas/ids/{id}`` while ``/schemas/ids/{id}/versions``
  answers 404: an id that resolves but belongs to no subject version counts as
  unknown, as Confluent would answer it.
- a JSON Schema must look like one by its content (``$schema`` or
  ``properties``), whatever ``schemaType`` says, or registration is refused 422.
- ``/mode`` is missing on 3.0.x (404): the mode is then unknown, not a finding.

The server is recognised by ``GET <root>/apis/registry/v3/system/info``, which
neither Confluent nor Karapace serve (``name`` starts with "Apicurio Registry").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lagwatch.collectors.registry.session import Response, Session

SYSTEM_INFO = "/apis/registry/v3/system/info"
INCOMPATIBLE_STATUS = 409
SOFT_DELETED_CODE = 40404
SUBJECT_NOT_FOUND_CODE = 40401
SCHEMA_NOT_FOUND_CODE = 40403
NO_SUBJECT_CONFIG_CODE = 40408


@dataclass(frozen=True)
class Flavour:
    """How one registry answers: Confluent's way unless the fields say otherwise."""

    name: str = "confluent"
    version: str | None = None
    subject_config_defaults_to_none: bool = False
    """``GET /config/{s}`` without ``defaultToGlobal`` says NONE for subjects with no setting."""
    verbose_messages: bool = True
    """``?verbose=true`` compatibility answers carry ``messages``."""
    enforces_readonly: bool = True
    """A READONLY mode refuses registrations."""
    ids_outlive_subjects: bool = False
    """An id may still resolve after every subject version holding it was deleted for good."""
    json_schema_by_content: bool = False
    """A JSON Schema must carry ``$schema`` or ``properties`` to be accepted."""

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name

    # -- reading answers -------------------------------------------------------

    def config_params(self) -> dict[str, str]:
        """Query parameters that make ``GET /config/{s}`` answer the subject's effective level."""
        return {"defaultToGlobal": "true"}

    def compatibility(self, response: Response) -> str | None:
        """Return the level a ``GET /config[/{s}]`` answer holds; None for no setting (404)."""
        if response.status == 404:
            return None
        body = response.body if isinstance(response.body, dict) else {}
        level = body.get("compatibilityLevel") or body.get("compatibility")
        return str(level).upper() if level else None

    def mode(self, response: Response) -> str | None:
        """Return the mode a ``GET /mode[/{s}]`` answer holds; None where the registry has none."""
        if response.status == 404 and response.error_code in (None, SUBJECT_NOT_FOUND_CODE):
            return None
        body = response.body if isinstance(response.body, dict) else {}
        mode = body.get("mode")
        return str(mode).upper() if mode else None

    def mode_note(self, mode: str) -> str:
        """Words for a subject (or the registry) whose mode is not READWRITE."""
        if mode != "READWRITE" and not self.enforces_readonly:
            return f"mode {mode}; {self.name} does not enforce it: registrations still succeed"
        return f"mode {mode}: registrations are refused"

    def registration_refused_as_incompatible(self, response: Response) -> bool:
        """True when a registration answer says the schema breaks the subject's compatibility."""
        return response.status == INCOMPATIBLE_STATUS

    def id_belongs_to_no_subject(self, versions: Response) -> bool:
        """True when ``/schemas/ids/{id}/versions`` says the id is in no subject version."""
        if versions.status == 404:
            return True
        return versions.status < 300 and isinstance(versions.body, list) and not versions.body

    def registration_warnings(self, schema_type: str, text: str) -> list[str]:
        """Return what would make this registry refuse the schema although it is valid."""
        if schema_type != "JSON" or not self.json_schema_by_content:
            return []
        try:
            doc = json.loads(text)
        except ValueError:
            return []
        if isinstance(doc, dict) and "$schema" not in doc and "properties" not in doc:
            return [
                f"{self.label} refuses a JSON Schema it cannot recognise by its content "
                "(HTTP 422 'Failed to discover artifact type'): add a $schema or properties key"
            ]
        return []


CONFLUENT = Flavour()


def apicurio(version: str | None) -> Flavour:
    return Flavour(
        name="apicurio",
        version=version,
        subject_config_defaults_to_none=True,
        verbose_messages=False,
        enforces_readonly=False,
        ids_outlive_subjects=True,
        json_schema_by_content=True,
    )


def from_system_info(response: Response) -> Flavour:
    """Return the flavour an answer to ``GET <root>/apis/registry/v3/system/info`` shows."""
    body: Any = response.body
    if response.status == 200 and isinstance(body, dict):
        name = body.get("name")
        if isinstance(name, str) and name.startswith("Apicurio Registry"):
            version = body.get("version")
            return apicurio(str(version) if version else None)
    return CONFLUENT


def detect(session: Session) -> Flavour:
    """Return the flavour of the registry behind ``session``; raises RegistryUnavailable."""
    return from_system_info(session.get(SYSTEM_INFO, root=True))
