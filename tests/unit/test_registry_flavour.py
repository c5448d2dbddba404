"""The Apicurio adapter, fed answers recorded from a real Apicurio Registry 3.3.3
(sample_data/registry/apicurio.json, written by sample_data/registry/record.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lagwatch.collectors.registry.flavour import CONFLUENT, Flavour, from_system_info
from lagwatch.collectors.registry.session import Response, server_root, split_url

ROOT = Path(__file__).resolve().parents[2]
RECORDED = json.loads((ROOT / "sample_data" / "registry" / "apicurio.json").read_text())


def answer(name: str) -> Response:
    return Response(RECORDED[name]["status"], RECORDED[name]["body"])


@pytest.fixture
def apicurio() -> Flavour:
    return from_system_info(answer("system_info"))


def test_the_system_info_answer_tells_apicurio_and_its_version(apicurio: Flavour) -> None:
    assert (apicurio.name, apicurio.version, apicurio.label) == (
        "apicurio",
        "3.3.3",
        "apicurio 3.3.3",
    )
    assert not apicurio.enforces_readonly and not apicurio.verbose_messages
    assert apicurio.ids_outlive_subjects and apicurio.subject_config_defaults_to_none


def test_a_registry_without_that_path_is_confluent_the_default() -> None:
    # Confluent and Karapace answer 404 (with their own bodies) on /apis/registry/v3/system/info.
    assert (
        from_system_info(Response(404, {"error_code": 404, "message": "HTTP 404 Not Found"}))
        is CONFLUENT
    )
    assert from_system_info(Response(200, {"name": "something else"})) is CONFLUENT
    assert from_system_info(Response(200, "<html>")) is CONFLUENT


def test_a_subject_without_its_own_level_reads_as_the_global_one_only_with_default_to_global(
    apicurio: Flavour,
) -> None:
    assert apicurio.config_params() == {"defaultToGlobal": "true"}
    assert apicurio.compatibility(answer("config_subject_plain")) == "NONE"  # the quirk
    assert apicurio.compatibility(answer("config_subject_default_to_global")) == "BACKWARD"
    assert apicurio.compatibility(answer("global_config")) == "BACKWARD"
    assert apicurio.compatibility(answer("config_unknown_subject")) is None
    assert (
        apicurio.compatibility(answer("config_set_none")) == "NONE"
    )  # PUT answers "compatibility"


def test_an_explicit_none_survives_delete_config(apicurio: Flavour) -> None:
    assert RECORDED["config_delete_none"]["status"] == 200
    assert apicurio.compatibility(answer("config_none_after_delete")) == "NONE"


def test_an_incompatible_registration_is_told_by_its_status_not_its_error_code(
    apicurio: Flavour,
) -> None:
    refused = answer("register_incompatible")
    assert refused.status == 409 and refused.error_code == 409  # Confluent: 40901
    assert refused.message.startswith("io.apicurio.registry.")
    assert apicurio.registration_refused_as_incompatible(refused)
    assert CONFLUENT.registration_refused_as_incompatible(Response(409, {"error_code": 40901}))
    assert not apicurio.registration_refused_as_incompatible(answer("register"))


def test_verbose_compatibility_answers_carry_no_messages(apicurio: Flavour) -> None:
    assert answer("compatibility_verbose").body == {"is_compatible": False}
    assert apicurio.verbose_messages is False


def test_readonly_mode_is_taken_but_not_enforced(apicurio: Flavour) -> None:
    assert apicurio.mode(answer("mode_subject")) == "READWRITE"
    assert apicurio.mode(answer("mode_readonly_set")) == "READONLY"
    assert answer("register_while_readonly").status == 200  # a write went through
    assert "does not enforce it" in apicurio.mode_note("READONLY")
    assert "refused" in CONFLUENT.mode_note("READONLY")
    assert apicurio.mode(Response(404, "")) is None  # 3.0.x has no /mode


def test_an_id_that_outlives_its_subjects_counts_as_belonging_to_none(apicurio: Flavour) -> None:
    assert answer("cached_schema_by_id_after_permanent_delete").status == 200  # still resolves
    assert apicurio.id_belongs_to_no_subject(
        answer("cached_schema_versions_after_permanent_delete")
    )
    assert not apicurio.id_belongs_to_no_subject(answer("schema_versions"))
    assert answer("schema_by_id_after_permanent_delete").status == 404  # content cache off


def test_soft_deleted_subjects_answer_with_their_own_codes() -> None:
    assert answer("soft_deleted_versions").error_code == 40401
    assert answer("soft_deleted_versions_deleted").body == [1]
    assert answer("soft_delete_again").error_code == 40404
    assert answer("schema_unknown_id").error_code == 40403


def test_a_json_schema_apicurio_cannot_recognise_is_warned_about_before_registration(
    apicurio: Flavour,
) -> None:
    refused = answer("json_schema_not_recognised")
    assert refused.status == 422 and "discover artifact type" in refused.message
    [warning] = apicurio.registration_warnings("JSON", '{"type": "object"}')
    assert "$schema or properties" in warning
    assert apicurio.registration_warnings("JSON", '{"type": "object", "properties": {}}') == []
    assert CONFLUENT.registration_warnings("JSON", '{"type": "object"}') == []


def test_credentials_leave_the_url_and_the_root_drops_the_ccompat_path() -> None:
    base, auth = split_url("https://user:s3cret@reg.example:8443/apis/ccompat/v7/")
    assert base == "https://reg.example:8443/apis/ccompat/v7" and auth == ("user", "s3cret")
    assert server_root(base) == "https://reg.example:8443"
    assert server_root("http://confluent:8081") == "http://confluent:8081"
