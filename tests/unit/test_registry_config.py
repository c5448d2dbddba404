"""The `registries:` section: every key validated, and the kafka cluster it names cross-checked,
with errors that name the file line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from lagwatch.config import ConfigError, load

BASE = """
kafka:
  - {name: main, bootstrap: "127.0.0.1:9092"}
registries:
  - name: main
    url: http://127.0.0.1:8081/apis/ccompat/v7
    kafka: %s
    topics: {include: ["orders\\\\..*"], exclude: []}
    subject_strategy: topic
    sample: {max_per_second: 2000, backfill: 1000}
    policy: {compatibility: BACKWARD_TRANSITIVE, naming: past_tense, version_field: true,
             max_payload_bytes: 1048576}
    owners: {"orders\\\\..*": team-orders}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lagwatch.yaml"
    path.write_text(text)
    return path


def test_the_issue_example_loads(tmp_path: Path) -> None:
    config = load(write(tmp_path, BASE % "main"))
    [registry] = config.registries
    assert registry.topics.watches("orders.created") and not registry.topics.watches("payments")
    assert not registry.topics.watches("__consumer_offsets")
    assert registry.owner("orders.created") == "team-orders" and registry.owner("x") is None
    assert registry.policy.compatibility == "BACKWARD_TRANSITIVE"
    assert config.cluster(registry.kafka).bootstrap == "127.0.0.1:9092"


def test_a_kafka_name_that_is_not_a_cluster_is_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, BASE % "other"))
    [problem] = caught.value.problems
    assert problem.endswith(
        "lagwatch.yaml:7: registries[0].kafka: no kafka cluster named 'other'; "
        "name one of the kafka: entries (main)"
    )


@pytest.mark.parametrize(
    ("replace", "by", "says"),
    [
        ("subject_strategy: topic", "subject_strategy: tpoic", "registries[0].subject_strategy"),
        ("BACKWARD_TRANSITIVE", "SIDEWAYS", "registries[0].policy.compatibility"),
        ('include: ["orders\\\\..*"]', 'include: ["orders("]', "not a valid regular expression"),
        ("url: http://127.0.0.1:8081/apis/ccompat/v7", "url: 127.0.0.1:8081", "must start with http"),
        ("max_per_second: 2000", "max_per_second: 0", "registries[0].sample.max_per_second"),
        ("version_field: true", "version_field: 'a b'", "not a field name"),
        ("naming: past_tense", "naming: present", "registries[0].policy.naming"),
        ("owners:", "ownerz:", "registries[0].ownerz: unknown key"),
    ],
)  # fmt: skip
def test_bad_keys_name_the_key_and_the_fix(
    tmp_path: Path, replace: str, by: str, says: str
) -> None:
    text = BASE % "main"
    assert replace in text
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text.replace(replace, by)))
    assert any(says in p for p in caught.value.problems), caught.value.problems


def test_registry_names_are_unique_and_timeouts_fit(tmp_path: Path) -> None:
    twice = BASE % "main" + "  - {name: main, url: 'http://r:8081', kafka: main}\n"
    with pytest.raises(ConfigError, match="registries: names must be unique, repeated: main"):
        load(write(tmp_path, twice))
    tight = BASE % "main" + "  - {name: b, url: 'http://r:8081', kafka: main, timeout: 4s}\n"
    with pytest.raises(ConfigError, match="timeout .* must exceed two request timeouts"):
        load(write(tmp_path, tight))


def test_credentials_in_the_url_are_secrets(tmp_path: Path) -> None:
    text = (BASE % "main").replace("http://127.0.0.1", "http://user:pw-123@127.0.0.1")
    config = load(write(tmp_path, text))
    assert "pw-123" in config.secrets()
    assert "pw-123" not in repr(config.registries[0])
