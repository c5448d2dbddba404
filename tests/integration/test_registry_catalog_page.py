"""The dashboard's Catalog page on what the registry collector stored from the devstack's real
Apicurio and Kafka: one row per topic, and a drill-down a `?subject=` link opens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.kafka_helpers import topic as scratch_topic
from tests.integration.registry_helpers import Registry, avro, framed, produce
from tests.support.dashboard_app import open_page, table_with, texts

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
V1 = {
    "type": "record",
    "name": "ParcelShipped",
    "namespace": "lagwatch.test",
    "doc": "A parcel left the warehouse",
    "fields": [{"name": "id", "type": "long"}, {"name": "version", "type": "int"}],
}
V2 = {**V1, "fields": [*V1["fields"], {"name": "carrier", "type": ["null", "string"], "default": None}]}  # type: ignore[list-item]  # fmt: skip


def test_catalog_page_lists_the_topic_and_its_subject_link_opens_the_history(
    tmp_path: Path, kafka_bootstrap: str, registry_url: str, unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Given a topic with two versions of its value schema, good records and one raw value,
    collected twice into a store; when the Catalog page opens with `?subject=` of that subject,
    then the topic's row shows its owner, version and the violation, and the drill-down shows
    the field version 2 added and the raw value's first bytes — never more of the payload."""
    registry = Registry(registry_url)
    with scratch_topic(kafka_bootstrap, f"lw-page-{unique}") as topic:
        try:
            registry.register(f"{topic}-value", V1)
            second = registry.register(f"{topic}-value", V2)
            config = tmp_path / "lagwatch.yaml"
            config.write_text(f"""
store: {{url: "sqlite:///{tmp_path}/lagwatch.db"}}
kafka:
  - {{name: main, bootstrap: "{kafka_bootstrap}", groups: {{include: ["lw-page-{unique}"]}}}}
registries:
  - name: main
    url: "{registry_url}"
    kafka: main
    topics: {{include: ["{topic}"]}}
    owners: {{"lw-page-.*": team-parcels}}
alerts: {{enabled: false}}
daemon: {{metrics_listen: null}}
""")
            good = framed(second, avro(V2, {"id": 1, "version": 2, "carrier": None}))
            raw = b'{"id": 1, "secret": "never shown"}'
            produce(kafka_bootstrap, topic, [(b"k", good)] * 3 + [(b"k", raw)])
            for _ in range(2):
                done = subprocess.run(
                    [sys.executable, "-m", "lagwatch", "collect", "--once", "-c", str(config)],
                    cwd=ROOT, capture_output=True, text=True, timeout=180,
                )  # fmt: skip
                assert done.returncode == 0, done.stdout + done.stderr

            at = open_page(config, "views/catalog.py", monkeypatch, subject=f"{topic}-value")

            assert not at.exception
            [row] = [r for r in table_with(at, "topic") if r["topic"] == topic]
            assert row["owner"] == "team-parcels"
            assert row["subjects"] == f"{topic}-value: v2"
            assert row["no_magic_byte"] == "1" and row["status"] == "violations"
            assert at.selectbox(key="_w_topic").value == topic
            history = table_with(at, "added")
            assert [(h["version"], h["added"]) for h in history] == [
                ("1", "id, version"),
                ("2", "carrier"),
            ]
            [kept] = table_with(at, "first bytes")
            assert (kept["kind"], kept["first bytes"]) == ("no_magic_byte", raw[:16].hex())
            shown = texts(at) + repr(table_with(at, "first bytes")) + repr(table_with(at, "topic"))
            assert "never shown" not in shown and raw.hex() not in shown
        finally:
            registry.cleanup()
